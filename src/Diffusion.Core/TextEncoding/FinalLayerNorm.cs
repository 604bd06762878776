using Diffusion.Core.Weights;

namespace Diffusion.Core.TextEncoding;

/// <summary>
/// The CLIP text model's <c>final_layer_norm</c>, read out of the ONNX graph (the LayerNormalization node that
/// produces <c>last_hidden_state</c>: its scale and bias initializers and its <c>epsilon</c>), applied in C# to a
/// per-layer hidden state for clip skip. Per token over the hidden axis, as torch's <c>nn.LayerNorm</c>:
/// <c>(x − mean) / sqrt(var + eps) · scale + bias</c> with the biased variance.
/// </summary>
internal sealed class FinalLayerNorm
{
    private const string OptionName = "ClipSkip";
    private readonly float[] _scale;
    private readonly float[] _bias;

    private FinalLayerNorm(float[] scale, float[] bias, float epsilon)
    {
        _scale = scale;
        _bias = bias;
        Epsilon = epsilon;
    }

    /// <summary>The hidden size the norm's scale has.</summary>
    public int HiddenSize => _scale.Length;

    /// <summary>The node's <c>epsilon</c> (ONNX's default 1e-5 when the attribute is absent).</summary>
    public float Epsilon { get; }

    /// <summary>Reads the norm that produces <paramref name="outputName"/> in the model at <paramref name="source"/>.</summary>
    /// <exception cref="InvalidOptionException">No single LayerNormalization over the last axis with initializer weights
    /// produces the output (e.g. the exporter decomposed it into ReduceMean/Sub/Pow/… nodes); the message says why.</exception>
    public static FinalLayerNorm Read(Models.ModelSource source, string outputName, int clipSkip)
    {
        string modelPath = source.Description;
        OnnxModelGraph graph;
        try
        {
            graph = OnnxWeightReader.Read(source);
        }
        catch (DiffusionException ex)
        {
            throw new InvalidOptionException(OptionName, $"clip skip {clipSkip} needs the text encoder's final layer norm, and {modelPath} could not be read for it: {ex.Message}");
        }
        OnnxNode? producer = null;
        foreach (OnnxNode node in graph.Nodes)
        {
            if (Array.IndexOf(node.Outputs, outputName) >= 0)
                producer = node;
        }
        string prefix = $"clip skip {clipSkip} applies the text encoder's final layer norm to an earlier layer's hidden state, read from the LayerNormalization node that produces '{outputName}' in {modelPath}";
        if (producer is null)
            throw new InvalidOptionException(OptionName, $"{prefix}; no node produces it.");
        if (producer.OpType != "LayerNormalization")
        {
            throw new InvalidOptionException(OptionName,
                $"{prefix}; it is produced by a {producer.OpType} node ('{producer.Name}'), so the exporter decomposed the norm (ReduceMean/Sub/Pow/… at opset < 17) " +
                "or wrapped it. Export the text encoder at opset 17 or later, or use ClipSkip 1.");
        }
        if (producer.Axis is long axis && axis != -1 && axis != 2)
            throw new InvalidOptionException(OptionName, $"{prefix}; its axis is {axis}, not the hidden axis (-1).");
        float[] scale = ReadWeight(graph, producer, 1, "scale", prefix);
        float[] bias = producer.Inputs.Length > 2 && producer.Inputs[2].Length > 0
            ? ReadWeight(graph, producer, 2, "bias", prefix)
            : new float[scale.Length];
        if (bias.Length != scale.Length)
            throw new InvalidOptionException(OptionName, $"{prefix}; its scale has {scale.Length} values and its bias {bias.Length}.");
        return new FinalLayerNorm(scale, bias, producer.Epsilon ?? 1e-5f);
    }

    /// <summary>Normalises each <see cref="HiddenSize"/>-wide row of <paramref name="values"/> in place.</summary>
    /// <remarks>
    /// Mean and variance are summed in double and rounded to float32 (torch's row-wise moments are computed with
    /// compensated float32 arithmetic and land on the correctly rounded value far more often than a plain float32
    /// running sum would); the normalisation and affine steps are float32, as in torch.
    /// </remarks>
    public void Apply(Span<float> values)
    {
        int width = _scale.Length;
        for (int start = 0; start < values.Length; start += width)
        {
            Span<float> row = values.Slice(start, width);
            double sum = 0;
            foreach (float value in row)
                sum += value;
            float mean = (float)(sum / width);
            double squares = 0;
            foreach (float value in row)
            {
                double centred = value - (double)mean;
                squares += centred * centred;
            }
            float variance = (float)(squares / width);
            float inverseDeviation = 1f / MathF.Sqrt(variance + Epsilon);
            for (int i = 0; i < width; i++)
                row[i] = (row[i] - mean) * inverseDeviation * _scale[i] + _bias[i];
        }
    }

    private static float[] ReadWeight(OnnxModelGraph graph, OnnxNode node, int inputIndex, string role, string prefix)
    {
        if (node.Inputs.Length <= inputIndex || !graph.TryGetWeight(node.Inputs[inputIndex], out OnnxInitializer? initializer))
        {
            string name = node.Inputs.Length > inputIndex ? node.Inputs[inputIndex] : "(none)";
            throw new InvalidOptionException(OptionName, $"{prefix}; its {role} '{name}' is not an initializer of the graph.");
        }
        if (initializer.Dims.Length != 1)
            throw new InvalidOptionException(OptionName, $"{prefix}; its {role} '{initializer.Name}' has dims [{string.Join(",", initializer.Dims)}], expected [hidden].");
        try
        {
            return graph.ReadAsFloat32(initializer);
        }
        catch (DiffusionException ex)
        {
            throw new InvalidOptionException(OptionName, $"{prefix}; its {role} could not be read: {ex.Message}");
        }
    }
}
