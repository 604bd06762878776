using System.Numerics.Tensors;
using Diffusion.Core.Execution;
using Diffusion.Core.Randomness;
using Diffusion.Core.Tensors;
using Microsoft.ML.OnnxRuntime;

namespace Diffusion.Core.Models;

/// <summary>
/// The VAE encoder of a diffusers ONNX export (<c>vae_encoder/model.onnx</c>): an image
/// <c>[batch,3,H,W]</c> in [-1, 1] to unscaled latents <c>[batch,4,H/8,W/8]</c> (multiply by
/// <see cref="StableDiffusionModelFolder.VaeScalingFactor"/> before the UNet, as diffusers does).
/// </summary>
/// <remarks>
/// <para>Two output forms exist and both are handled:</para>
/// <list type="bullet">
/// <item><c>latent_sample</c> <c>[batch,4,h,w]</c> (diffusers' convert script, TAESD): the model already
/// produced the latents; <see cref="Encode"/> copies them and ignores the random source.</item>
/// <item><c>latent_parameters</c> <c>[batch,8,h,w]</c> (Optimum): the mean and log-variance of diffusers'
/// <c>DiagonalGaussianDistribution</c> (channels 0–3 and 4–7). With a random source, the latents are
/// <c>mean + exp(0.5·clamp(logvar, −30, 20))·noise</c>, the noise drawn as one tensor of the latents' full
/// shape (like <c>latent_dist.sample(generator)</c>); without one, the mean (<c>latent_dist.mode()</c>).</item>
/// </list>
/// <para>One <see cref="Encode"/> at a time per instance.</para>
/// </remarks>
public sealed class VaeEncoder : OnnxModel
{
    /// <summary>How many image pixels one latent covers along each axis (8 for SD's VAE).</summary>
    public const int DownscaleFactor = 8;

    private static readonly string[] s_imageNames = ["sample", "image"];
    private static readonly string[] s_latentSampleNames = ["latent_sample"];
    private static readonly string[] s_parameterNames = ["latent_parameters", "latent_dist"];

    private readonly BoundFloatTensor _image;
    private readonly BoundFloatTensor _output;
    private float[] _parameters = [];
    private float[] _standardDeviation = [];

    private VaeEncoder(ModelSource source, SessionSettings settings) : base(source, settings)
    {
        try
        {
            ImageInput = FindInput(s_imageNames);
            RequireNoOtherInputs(ImageInput.Name);
            RequireRank(ImageInput, 4, "an image [batch,channels,height,width]");
            RequireFloat(ImageInput);
            TensorSpec? parameters = TryFindOutput(s_parameterNames);
            TensorSpec? latentSample = parameters is null ? TryFindOutput(s_latentSampleNames) : null;
            LatentOutput = parameters ?? latentSample ?? FindOutput(s_latentSampleNames);
            RequireRank(LatentOutput, 4, "latents [batch,channels,height,width]");
            RequireFloat(LatentOutput);
            ImageChannels = ImageInput.GetFixedDimension(1) ?? 3;
            int? outputChannels = LatentOutput.GetFixedDimension(1);
            // An unnamed single output with 8 channels is the Optimum form too.
            OutputsDistributionParameters = parameters is not null || (latentSample is null && outputChannels == 8);
            LatentChannels = OutputsDistributionParameters ? (outputChannels ?? 8) / 2 : outputChannels ?? 4;
            _image = new BoundFloatTensor(ImageInput, isOutput: false);
            _output = new BoundFloatTensor(LatentOutput, isOutput: true);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>Loads the encoder at <paramref name="modelPath"/> and reads its contract.</summary>
    /// <param name="modelPath">Path of <c>vae_encoder/model.onnx</c>.</param>
    /// <param name="settings">Session settings; <see langword="null"/> for <see cref="SessionSettings.Default"/>.</param>
    /// <exception cref="ExecutionProviderUnavailableException">The provider is not available; nothing was loaded.</exception>
    /// <exception cref="ModelLoadException">The file is missing or ONNX Runtime cannot load it.</exception>
    /// <exception cref="ModelContractException">The input or output is missing, misnamed or of an unsupported type or rank.</exception>
    public static VaeEncoder Load(string modelPath, SessionSettings? settings = null)
        => new(ModelSource.FromFile(modelPath ?? throw new ArgumentNullException(nameof(modelPath))), settings ?? SessionSettings.Default);

    /// <summary>Loads a graph built from a checkpoint (or any other <see cref="ModelSource"/>).</summary>
    internal static VaeEncoder Load(ModelSource source, SessionSettings settings) => new(source, settings);

    /// <summary>The image input (<c>sample</c>).</summary>
    public TensorSpec ImageInput { get; }

    /// <summary>The output: <c>latent_sample</c> or <c>latent_parameters</c>.</summary>
    public TensorSpec LatentOutput { get; }

    /// <summary>
    /// <see langword="true"/> when the model outputs the mean and log-variance (<c>latent_parameters</c>,
    /// 2 × <see cref="LatentChannels"/> channels) rather than latents.
    /// </summary>
    public bool OutputsDistributionParameters { get; }

    /// <summary>Latent channels written by <see cref="Encode"/> (4 for SD).</summary>
    public int LatentChannels { get; }

    /// <summary>Image channels (3).</summary>
    public int ImageChannels { get; }

    /// <summary>Float32 or Float16: the precision the model computes in.</summary>
    public TensorElementKind ElementKind => ImageInput.ElementKind;

    /// <summary>Encodes an image into unscaled latents.</summary>
    /// <param name="image">The image, float32 <c>[batch, ImageChannels, height, width]</c>, values in [-1, 1].</param>
    /// <param name="batch">Batch size.</param>
    /// <param name="height">Image height in pixels, a multiple of 8.</param>
    /// <param name="width">Image width in pixels, a multiple of 8.</param>
    /// <param name="latents">Receives the latents, float32 <c>[batch, LatentChannels, height/8, width/8]</c>.</param>
    /// <param name="random">
    /// For <c>latent_parameters</c> models: draws the noise that samples the latent distribution (one
    /// tensor of the latents' shape); <see langword="null"/> takes its mean. Unused by <c>latent_sample</c> models.
    /// </param>
    /// <param name="runOptions">Run options; set <see cref="RunOptions.Terminate"/> from another thread to cancel.</param>
    /// <exception cref="ArgumentException">A size is not a multiple of 8, a buffer length does not match the shapes, a shape differs from an axis the model fixes, or the buffers overlap.</exception>
    /// <exception cref="OperationCanceledException">The run was terminated through <paramref name="runOptions"/>.</exception>
    /// <exception cref="DiffusionException">ONNX Runtime failed during the run.</exception>
    public void Encode(Memory<float> image, int batch, int height, int width, Memory<float> latents,
        IRandomSource? random = null, RunOptions? runOptions = null)
    {
        ThrowIfDisposed();
        ArgumentOutOfRangeException.ThrowIfLessThan(batch, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(height, DownscaleFactor);
        ArgumentOutOfRangeException.ThrowIfLessThan(width, DownscaleFactor);
        if (height % DownscaleFactor != 0 || width % DownscaleFactor != 0)
            throw new ArgumentException($"{ModelPath}: image size {width}x{height} is not a multiple of {DownscaleFactor}.", nameof(height));
        Span<long> imageShape = [batch, ImageChannels, height, width];
        TensorShape.RequireLength(image.Length, imageShape, ImageInput.Name, nameof(image));
        int latentHeight = height / DownscaleFactor;
        int latentWidth = width / DownscaleFactor;
        Span<long> latentShape = [batch, LatentChannels, latentHeight, latentWidth];
        TensorShape.RequireLength(latents.Length, latentShape, LatentOutput.Name, nameof(latents));
        RequireShapeFits(ImageInput, imageShape, nameof(image));
        RequireNoOverlap(image.Span, latents.Span, nameof(image), nameof(latents));

        Span<long> parameterShape = [batch, 2 * LatentChannels, latentHeight, latentWidth];
        RequireShapeFits(LatentOutput, OutputsDistributionParameters ? parameterShape : latentShape, nameof(latents));

        OrtIoBinding binding = Binding;
        _image.Bind(binding, image, imageShape);
        if (!OutputsDistributionParameters)
        {
            _output.Bind(binding, latents, latentShape);
            RunBinding(runOptions);
            _output.CompleteOutput();
            return;
        }

        int parameterCount = TensorShape.ElementCount(parameterShape);
        if (_parameters.Length != parameterCount)
            _parameters = new float[parameterCount];
        _output.Bind(binding, _parameters, parameterShape);
        RunBinding(runOptions);
        _output.CompleteOutput();
        SampleLatents(batch, latents.Span, random);
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing)
            ReleaseBoundTensors();
        base.Dispose(disposing);
    }

    /// <inheritdoc />
    private protected override void ReleaseBoundTensors()
    {
        _image?.Dispose();
        _output?.Dispose();
    }

    private void SampleLatents(int batch, Span<float> latents, IRandomSource? random)
    {
        int perItem = latents.Length / batch;
        if (random is null)
        {
            for (int item = 0; item < batch; item++)
                _parameters.AsSpan(item * 2 * perItem, perItem).CopyTo(latents.Slice(item * perItem, perItem));
            return;
        }
        random.NextStandardNormal(latents); // one tensor of the latents' full shape, as torch's randn_tensor(mean.shape)
        if (_standardDeviation.Length != perItem)
            _standardDeviation = new float[perItem];
        Span<float> std = _standardDeviation;
        for (int item = 0; item < batch; item++)
        {
            ReadOnlySpan<float> mean = _parameters.AsSpan(item * 2 * perItem, perItem);
            ReadOnlySpan<float> logVariance = _parameters.AsSpan((item * 2 + 1) * perItem, perItem);
            TensorPrimitives.Max(logVariance, -30f, std);
            TensorPrimitives.Min(std, 20f, std);
            TensorPrimitives.Multiply(std, 0.5f, std);
            TensorPrimitives.Exp(std, std);
            Span<float> target = latents.Slice(item * perItem, perItem);
            TensorPrimitives.Multiply(target, std, target);
            TensorPrimitives.Add(target, mean, target);
        }
    }
}
