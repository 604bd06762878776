using Diffusion.Core.Models;
using Microsoft.ML.OnnxRuntime;

namespace Diffusion.Core.Pipelines;

/// <summary>
/// The UNet families' denoiser: the UNet called with the rows' text embeddings, their added inputs (SDXL's
/// <c>text_embeds</c>/<c>time_ids</c>, LCM's <c>timestep_cond</c>) and, with ControlNets, through the conditioner that runs
/// them first. The added inputs are cut into each call's rows once, so steps pass them without allocating.
/// </summary>
internal sealed class UNetDenoiser : IDenoiser
{
    private readonly UNet _unet;
    private readonly Memory<float> _textEmbeddings;
    private readonly int _sequenceLength;
    private readonly int _embeddingPerRow;
    private readonly int _latentHeight;
    private readonly int _latentWidth;
    private readonly int _rowsPerCall;
    private readonly Dictionary<string, Memory<float>>[]? _added;
    private readonly ControlNetConditioner? _controlNet;

    /// <param name="unet">The UNet.</param>
    /// <param name="textEmbeddings">[model batch, sequence, width], unconditional rows first with guidance.</param>
    /// <param name="sequenceLength">Token positions per prompt.</param>
    /// <param name="modelBatch">Rows in the model batch.</param>
    /// <param name="rowsPerCall">Rows in each UNet call (divides the model batch).</param>
    /// <param name="latentHeight">Latent height.</param>
    /// <param name="latentWidth">Latent width.</param>
    /// <param name="added">The added inputs by name, each [model batch, width]; null or empty for none.</param>
    /// <param name="controlNet">The ControlNet conditioner, or null.</param>
    public UNetDenoiser(UNet unet, Memory<float> textEmbeddings, int sequenceLength, int modelBatch, int rowsPerCall,
        int latentHeight, int latentWidth, IReadOnlyDictionary<string, float[]>? added, ControlNetConditioner? controlNet)
    {
        if (rowsPerCall < 1 || modelBatch % rowsPerCall != 0)
            throw new ArgumentOutOfRangeException(nameof(rowsPerCall), rowsPerCall, $"must divide the model batch {modelBatch}.");
        _unet = unet;
        _textEmbeddings = textEmbeddings;
        _sequenceLength = sequenceLength;
        _embeddingPerRow = textEmbeddings.Length / modelBatch;
        _latentHeight = latentHeight;
        _latentWidth = latentWidth;
        _rowsPerCall = rowsPerCall;
        _added = SliceAdded(added, modelBatch, rowsPerCall);
        _controlNet = controlNet;
    }

    public string Component => "UNet";

    public string ModelPath => _unet.ModelPath;

    public void Predict(int step, int steps, Memory<float> sample, int firstRow, int rows, float timestep, Memory<float> prediction, RunOptions runOptions)
    {
        Memory<float> embeddings = _textEmbeddings.Slice(firstRow * _embeddingPerRow, rows * _embeddingPerRow);
        Dictionary<string, Memory<float>>? added = _added?[firstRow / _rowsPerCall];
        if (_controlNet is not null)
            _controlNet.Predict(_unet, step, steps, sample, rows, _latentHeight, _latentWidth, timestep, embeddings, _sequenceLength, added, prediction, runOptions);
        else if (added is not null)
            _unet.Predict(sample, rows, _latentHeight, _latentWidth, timestep, embeddings, _sequenceLength, added, prediction, runOptions);
        else
            _unet.Predict(sample, rows, _latentHeight, _latentWidth, timestep, embeddings, _sequenceLength, prediction, runOptions);
    }

    private static Dictionary<string, Memory<float>>[]? SliceAdded(IReadOnlyDictionary<string, float[]>? inputs, int modelBatch, int rowsPerCall)
    {
        if (inputs is not { Count: > 0 })
            return null;
        var calls = new Dictionary<string, Memory<float>>[modelBatch / rowsPerCall];
        for (int call = 0; call < calls.Length; call++)
        {
            calls[call] = new Dictionary<string, Memory<float>>(StringComparer.Ordinal);
            foreach ((string name, float[] values) in inputs)
            {
                int row = values.Length / modelBatch;
                calls[call][name] = values.AsMemory(call * rowsPerCall * row, rowsPerCall * row);
            }
        }
        return calls;
    }
}
