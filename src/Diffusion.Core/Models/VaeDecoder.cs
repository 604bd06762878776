using Diffusion.Core.Execution;
using Diffusion.Core.Tensors;
using Microsoft.ML.OnnxRuntime;

namespace Diffusion.Core.Models;

/// <summary>
/// The VAE decoder of a diffusers ONNX export (<c>vae_decoder/model.onnx</c>): latents
/// <c>[batch,4,h,w]</c> to an image <c>[batch,3,8h,8w]</c> in [-1, 1] (not clamped, like diffusers'
/// AutoencoderKL). Input <c>latent_sample</c>, output <c>sample</c> (or the single output); float32 or
/// float16 models, always float32 buffers for the caller.
/// </summary>
/// <remarks>
/// The decoder takes <em>unscaled</em> latents: divide the UNet's latents by
/// <see cref="StableDiffusionModelFolder.VaeScalingFactor"/> first, as diffusers' pipelines do.
/// One <see cref="Decode"/> at a time per instance.
/// </remarks>
public sealed class VaeDecoder : OnnxModel
{
    /// <summary>How many image pixels one latent covers along each axis (8 for SD's VAE).</summary>
    public const int UpscaleFactor = 8;

    private static readonly string[] s_latentNames = ["latent_sample", "latents", "z"];
    private static readonly string[] s_imageNames = ["sample", "image"];

    private readonly BoundFloatTensor _latents;
    private readonly BoundFloatTensor _image;

    private VaeDecoder(ModelSource source, SessionSettings settings) : base(source, settings)
    {
        try
        {
            LatentInput = FindInput(s_latentNames);
            ImageOutput = FindOutput(s_imageNames);
            RequireNoOtherInputs(LatentInput.Name);
            RequireRank(LatentInput, 4, "latents [batch,channels,height,width]");
            RequireFloat(LatentInput);
            RequireRank(ImageOutput, 4, "an image [batch,channels,height,width]");
            RequireFloat(ImageOutput);
            LatentChannels = LatentInput.GetFixedDimension(1) ?? 4;
            ImageChannels = ImageOutput.GetFixedDimension(1) ?? 3;
            _latents = new BoundFloatTensor(LatentInput, isOutput: false);
            _image = new BoundFloatTensor(ImageOutput, isOutput: true);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>Loads the decoder at <paramref name="modelPath"/> and reads its contract.</summary>
    /// <param name="modelPath">Path of <c>vae_decoder/model.onnx</c>.</param>
    /// <param name="settings">Session settings; <see langword="null"/> for <see cref="SessionSettings.Default"/>.</param>
    /// <exception cref="ExecutionProviderUnavailableException">The provider is not available; nothing was loaded.</exception>
    /// <exception cref="ModelLoadException">The file is missing or ONNX Runtime cannot load it.</exception>
    /// <exception cref="ModelContractException">The input or output is missing, misnamed or of an unsupported type or rank.</exception>
    public static VaeDecoder Load(string modelPath, SessionSettings? settings = null)
        => new(ModelSource.FromFile(modelPath ?? throw new ArgumentNullException(nameof(modelPath))), settings ?? SessionSettings.Default);

    /// <summary>Loads a graph built from a checkpoint (or any other <see cref="ModelSource"/>).</summary>
    internal static VaeDecoder Load(ModelSource source, SessionSettings settings) => new(source, settings);

    /// <summary>The latent input (<c>latent_sample</c>).</summary>
    public TensorSpec LatentInput { get; }

    /// <summary>The image output (<c>sample</c>).</summary>
    public TensorSpec ImageOutput { get; }

    /// <summary>Latent channels (4 for SD 1.x/2.x; 4 when the axis is dynamic).</summary>
    public int LatentChannels { get; }

    /// <summary>Image channels (3; 3 when the axis is dynamic).</summary>
    public int ImageChannels { get; }

    /// <summary>Float32 or Float16: the precision the model computes in.</summary>
    public TensorElementKind ElementKind => LatentInput.ElementKind;

    /// <summary>Decodes latents into an image.</summary>
    /// <param name="latents">Unscaled latents, float32 <c>[batch, LatentChannels, height, width]</c>.</param>
    /// <param name="batch">Batch size.</param>
    /// <param name="height">Latent height.</param>
    /// <param name="width">Latent width.</param>
    /// <param name="image">Receives the image, float32 <c>[batch, ImageChannels, 8·height, 8·width]</c>, values about [-1, 1].</param>
    /// <param name="runOptions">Run options; set <see cref="RunOptions.Terminate"/> from another thread to cancel.</param>
    /// <exception cref="ArgumentException">A buffer length does not match the shapes, a shape differs from an axis the model fixes, or the buffers overlap.</exception>
    /// <exception cref="OperationCanceledException">The run was terminated through <paramref name="runOptions"/>.</exception>
    /// <exception cref="DiffusionException">ONNX Runtime failed during the run (e.g. the model upsamples by another factor).</exception>
    public void Decode(Memory<float> latents, int batch, int height, int width, Memory<float> image, RunOptions? runOptions = null)
    {
        ThrowIfDisposed();
        ArgumentOutOfRangeException.ThrowIfLessThan(batch, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        Span<long> latentShape = [batch, LatentChannels, height, width];
        TensorShape.RequireLength(latents.Length, latentShape, LatentInput.Name, nameof(latents));
        Span<long> imageShape = [batch, ImageChannels, (long)height * UpscaleFactor, (long)width * UpscaleFactor];
        TensorShape.RequireLength(image.Length, imageShape, ImageOutput.Name, nameof(image));
        RequireShapeFits(LatentInput, latentShape, nameof(latents));
        RequireShapeFits(ImageOutput, imageShape, nameof(image));
        RequireNoOverlap(latents.Span, image.Span, nameof(latents), nameof(image));

        OrtIoBinding binding = Binding;
        _latents.Bind(binding, latents, latentShape);
        _image.Bind(binding, image, imageShape);
        RunBinding(runOptions);
        _image.CompleteOutput();
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
        _latents?.Dispose();
        _image?.Dispose();
    }
}
