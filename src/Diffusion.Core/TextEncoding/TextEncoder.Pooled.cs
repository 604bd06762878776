using Diffusion.Core.Models;
using Diffusion.Core.Tensors;
using Microsoft.ML.OnnxRuntime;

namespace Diffusion.Core.TextEncoding;

/// <summary>
/// The text encoder's per-layer hidden states taken as they are (no final layer norm) and its pooled output: how
/// Stable Diffusion XL conditions on CLIP (<c>hidden_states[-2]</c> of each encoder, the pooled <c>text_embeds</c> of
/// <c>text_encoder_2</c>).
/// </summary>
public sealed partial class TextEncoder
{
    private static readonly string[] s_pooledNames = ["text_embeds", "pooler_output"];

    private int? _pooledWidth;

    /// <summary>
    /// The pooled output, or <see langword="null"/> when the model has none: <c>text_embeds</c> [batch, projection] of a
    /// <c>CLIPTextModelWithProjection</c> export (SDXL's <c>text_encoder_2</c>), else <c>pooler_output</c> [batch, hidden]
    /// (a <c>CLIPTextModel</c> export; Olive names <c>text_encoder_2</c>'s projected output so too).
    /// </summary>
    public TensorSpec? PooledOutput { get; }

    /// <summary>Width of <see cref="PooledOutput"/> when the model declares it, else <see langword="null"/>.</summary>
    public int? PooledWidth => PooledOutput?.GetFixedDimension(1);

    /// <summary>
    /// The width of <see cref="PooledOutput"/>; when the model does not declare it, runs the model once on a one-token
    /// (or <see cref="FixedSequenceLength"/>-token) batch of zeros to learn it. The result is cached.
    /// </summary>
    /// <exception cref="ModelContractException">The model has no pooled output.</exception>
    public int GetPooledWidth()
    {
        ThrowIfDisposed();
        TensorSpec pooled = PooledOutput
            ?? throw new ModelContractException(ModelPath, s_pooledNames[0], $"the model has no pooled output ('text_embeds' or 'pooler_output'); its outputs are {DescribeOutputs()}.");
        if ((_pooledWidth ?? pooled.GetFixedDimension(1)) is int known)
            return known;
        _pooledWidth = LearnLastDimension(pooled, "[batch,width]");
        return _pooledWidth.Value;
    }

    /// <summary>
    /// Encodes token ids into the hidden state <paramref name="layerFromEnd"/> layers from the end, as the layer wrote
    /// it (no final layer norm: 1 is the last layer's output, 2 the penultimate, SDXL's choice), and, when
    /// <paramref name="pooled"/> is not empty, the pooled output.
    /// </summary>
    /// <param name="tokenIds">Token ids, <c>[batch, sequenceLength]</c>.</param>
    /// <param name="batch">Number of prompts.</param>
    /// <param name="sequenceLength">Tokens per prompt.</param>
    /// <param name="layerFromEnd">1 to <see cref="HiddenStateOutputs"/>.Count − 1 (the last entry, the embeddings, is not a layer).</param>
    /// <param name="hiddenState">Receives float32 <c>[batch, sequenceLength, HiddenSize]</c>.</param>
    /// <param name="pooled">Receives float32 <c>[batch, pooled width]</c>; empty to skip it.</param>
    /// <param name="runOptions">Run options; set <see cref="RunOptions.Terminate"/> from another thread to cancel.</param>
    /// <exception cref="ModelContractException">The model has no per-layer outputs, too few of them, or no pooled output while one is asked for.</exception>
    /// <exception cref="ArgumentException">A buffer length does not match the shapes.</exception>
    /// <exception cref="OperationCanceledException">The run was terminated through <paramref name="runOptions"/>.</exception>
    /// <exception cref="DiffusionException">ONNX Runtime failed during the run.</exception>
    public void EncodeLayer(ReadOnlyMemory<int> tokenIds, int batch, int sequenceLength, int layerFromEnd, Memory<float> hiddenState,
        Memory<float> pooled, RunOptions? runOptions = null)
    {
        ThrowIfDisposed();
        ArgumentOutOfRangeException.ThrowIfLessThan(batch, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(sequenceLength, 1);
        TensorSpec layer = RequireLayerOutput(layerFromEnd);
        long[] idsShape = [batch, sequenceLength];
        TensorShape.RequireLength(tokenIds.Length, idsShape, InputIdsInput.Name, nameof(tokenIds));
        long[] hiddenShape = [batch, sequenceLength, GetHiddenSize()];
        TensorShape.RequireLength(hiddenState.Length, hiddenShape, layer.Name, nameof(hiddenState));
        RequireShapeFits(InputIdsInput, idsShape, nameof(tokenIds));
        RequireShapeFits(layer, hiddenShape, nameof(hiddenState));
        if (pooled.IsEmpty)
        {
            RunOutputs(tokenIds, idsShape, [new RequestedOutput(layer, hiddenShape, hiddenState)], runOptions);
            return;
        }
        TensorSpec pooledOutput = PooledOutput
            ?? throw new ModelContractException(ModelPath, s_pooledNames[0], $"the model has no pooled output ('text_embeds' or 'pooler_output'); its outputs are {DescribeOutputs()}.");
        if (pooled.Length % batch != 0)
            throw new ArgumentException($"{ModelPath}: '{pooledOutput.Name}' needs a multiple of the batch {batch} values, got {pooled.Length}.", nameof(pooled));
        long[] pooledShape = [batch, pooled.Length / batch];
        RequireShapeFits(pooledOutput, pooledShape, nameof(pooled));
        RunOutputs(tokenIds, idsShape,
            [new RequestedOutput(layer, hiddenShape, hiddenState), new RequestedOutput(pooledOutput, pooledShape, pooled)], runOptions);
    }

    /// <summary>
    /// Encodes token ids into the pooled output alone (FLUX.1 conditions on CLIP's <c>pooler_output</c> only).
    /// </summary>
    /// <param name="tokenIds">Token ids, <c>[batch, sequenceLength]</c>.</param>
    /// <param name="batch">Number of prompts.</param>
    /// <param name="sequenceLength">Tokens per prompt.</param>
    /// <param name="pooled">Receives float32 <c>[batch, pooled width]</c>.</param>
    /// <param name="runOptions">Run options; set <see cref="RunOptions.Terminate"/> from another thread to cancel.</param>
    /// <exception cref="ModelContractException">The model has no pooled output.</exception>
    /// <exception cref="ArgumentException">A buffer length does not match the shapes.</exception>
    /// <exception cref="OperationCanceledException">The run was terminated through <paramref name="runOptions"/>.</exception>
    /// <exception cref="DiffusionException">ONNX Runtime failed during the run.</exception>
    public void EncodePooled(ReadOnlyMemory<int> tokenIds, int batch, int sequenceLength, Memory<float> pooled, RunOptions? runOptions = null)
    {
        ThrowIfDisposed();
        ArgumentOutOfRangeException.ThrowIfLessThan(batch, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(sequenceLength, 1);
        long[] idsShape = [batch, sequenceLength];
        TensorShape.RequireLength(tokenIds.Length, idsShape, InputIdsInput.Name, nameof(tokenIds));
        RequireShapeFits(InputIdsInput, idsShape, nameof(tokenIds));
        TensorSpec pooledOutput = PooledOutput
            ?? throw new ModelContractException(ModelPath, s_pooledNames[0], $"the model has no pooled output ('text_embeds' or 'pooler_output'); its outputs are {DescribeOutputs()}.");
        long[] pooledShape = [batch, GetPooledWidth()];
        TensorShape.RequireLength(pooled.Length, pooledShape, pooledOutput.Name, nameof(pooled));
        RunOutputs(tokenIds, idsShape, [new RequestedOutput(pooledOutput, pooledShape, pooled)], runOptions);
    }

    /// <summary>
    /// Checks that the model gives the raw hidden state <paramref name="layerFromEnd"/> layers from the end (an export
    /// made with <c>output_hidden_states</c>, as optimum makes SDXL's text encoders).
    /// </summary>
    /// <exception cref="ModelContractException">It does not; the message says what the model has and how to export it.</exception>
    public TensorSpec RequireLayerOutput(int layerFromEnd)
    {
        ThrowIfDisposed();
        if (HiddenStateOutputs.Count == 0)
        {
            throw new ModelContractException(ModelPath, "hidden_states.N",
                $"the model has no per-layer outputs (hidden_states.0 … hidden_states.N; its outputs are {DescribeOutputs()}), and this model family "
                + "conditions on a layer's raw hidden state. Export the text encoder with output_hidden_states (optimum does for SDXL).");
        }
        if (layerFromEnd < 1 || layerFromEnd > HiddenStateOutputs.Count - 1)
        {
            throw new ModelContractException(ModelPath, "hidden_states.N",
                $"the hidden state {layerFromEnd} layers from the end is asked for, and the model has {HiddenStateOutputs.Count - 1} layers.");
        }
        TensorSpec output = HiddenStateOutputs[HiddenStateOutputs.Count - layerFromEnd];
        if (output.Rank != 3 || output.ElementKind is not (TensorElementKind.Float32 or TensorElementKind.Float16))
            throw new ModelContractException(ModelPath, output.Name, $"expected float hidden states [batch,sequence,hidden], the model declares {output}.");
        return output;
    }

    private TensorSpec? FindPooledOutput()
    {
        TensorSpec? pooled = TryFindOutput(s_pooledNames);
        if (pooled is null)
            return null;
        if (pooled.Rank != 2 || pooled.ElementKind is not (TensorElementKind.Float32 or TensorElementKind.Float16))
            throw new ModelContractException(ModelPath, pooled.Name, $"expected a float pooled output [batch,width], the model declares {pooled}.");
        return pooled;
    }

    /// <summary>One output a <see cref="RunOutputs"/> call fetches, the shape it must have and where it goes (float32).</summary>
    private readonly record struct RequestedOutput(TensorSpec Spec, long[] Shape, Memory<float> Destination);

    /// <summary>
    /// Runs the model without the I/O binding (which stays bound to <c>last_hidden_state</c> for the hot path) and copies
    /// each requested output, converted to float32, into its destination: one run per prompt, so the few allocations
    /// here do not matter.
    /// </summary>
    private void RunOutputs(ReadOnlyMemory<int> tokenIds, long[] idsShape, RequestedOutput[] requested, RunOptions? runOptions)
    {
        using OrtValue ids = InputIdsElementKind == TensorElementKind.Int64
            ? OrtValue.CreateTensorValueFromMemory(ToInt64(tokenIds.Span), idsShape)
            : OrtValue.CreateTensorValueFromMemory(tokenIds.ToArray(), idsShape);
        var names = new string[requested.Length];
        for (int i = 0; i < requested.Length; i++)
            names[i] = requested[i].Spec.Name;
        RunOptions options = runOptions ?? new RunOptions();
        try
        {
            using IDisposableReadOnlyCollection<OrtValue> outputs = Session.Run(options, [InputIdsInput.Name], [ids], names);
            for (int i = 0; i < requested.Length; i++)
            {
                OrtValue value = outputs[i];
                RequestedOutput output = requested[i];
                long[] actualShape = value.GetTensorTypeAndShape().Shape;
                if (!actualShape.AsSpan().SequenceEqual(output.Shape))
                    throw new ModelContractException(ModelPath, output.Spec.Name, $"expected [{string.Join(",", output.Shape)}], the model returned [{string.Join(",", actualShape)}].");
                if (output.Spec.ElementKind == TensorElementKind.Float16)
                    Float16Conversion.ToSingle(value.GetTensorDataAsSpan<Float16>(), output.Destination.Span);
                else
                    value.GetTensorDataAsSpan<float>().CopyTo(output.Destination.Span);
            }
        }
        catch (OnnxRuntimeException ex) when (options.Terminate)
        {
            throw new OperationCanceledException($"{ModelPath}: the run was cancelled (RunOptions.Terminate).", ex);
        }
        catch (OnnxRuntimeException ex)
        {
            throw new DiffusionException($"{ModelPath}: inference failed: {ex.Message}", ex);
        }
        finally
        {
            if (runOptions is null)
                options.Dispose();
        }
    }
}
