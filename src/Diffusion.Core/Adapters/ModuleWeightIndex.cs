using Diffusion.Core.Weights;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Diffusion.Core.Adapters;

/// <summary>
/// Maps torch module paths (<c>down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q</c>) to the ONNX
/// initializer holding that module's weight, for the MatMul, Gemm and Conv nodes of an exported graph.
/// </summary>
/// <remarks>
/// torch's exporter keeps the names of Conv weights and of Linear weights exported as Gemm
/// (<c>...proj_in.weight</c>), but a Linear without bias becomes a MatMul on an anonymous transposed copy
/// (<c>onnx::MatMul_1234</c>, stored [in, out]); only the node name links it to its module
/// (<c>/down_blocks.0/attentions.0/transformer_blocks.0/attn1/to_q/MatMul</c>: the module call path plus the op).
/// Both links are indexed. Kohya names replace every dot by an underscore, which is ambiguous
/// (<c>down_blocks_0</c> vs <c>down.blocks.0</c>), so they are resolved against the underscored forms of the
/// paths present in this graph rather than by guessing where the dots were.
/// </remarks>
internal sealed class ModuleWeightIndex
{
    private readonly Dictionary<string, ModuleWeight?> _byPath = new(StringComparer.Ordinal);
    private readonly Dictionary<string, ModuleWeight?> _byUnderscoredPath = new(StringComparer.Ordinal);
    private int? _layersPerBlockCache;
    private bool _layersPerBlockCounted;

    private ModuleWeightIndex()
    {
    }

    /// <summary>Number of distinct module paths found.</summary>
    public int Count => _byPath.Count;

    public static ModuleWeightIndex Build(OnnxModelGraph graph)
    {
        var index = new ModuleWeightIndex();
        HashSet<string> shiftFirst = Graphs.ShiftFirstModulations.Read(graph.Metadata);
        foreach (OnnxNode node in graph.Nodes)
        {
            bool isConv = node.OpType == "Conv";
            if ((node.OpType != "MatMul" && node.OpType != "Gemm" && !isConv) || node.Inputs.Length < 2
                || !graph.TryGetWeight(node.Inputs[1], out OnnxInitializer? initializer)
                || !IsFloat(initializer.ElementType))
                continue;
            int rank = initializer.Dims.Length;
            if ((isConv ? rank < 3 : rank != 2) || initializer.ElementCount == 0)
                continue;
            // MatMul computes x·W with W [in, out]; Gemm does the same unless transB = 1 (torch's [out, in]).
            bool storedInOut = node.OpType == "MatMul" || (node.OpType == "Gemm" && node.TransB != 1);
            string? fromNode = ModulePathFromNodeName(node.Name);
            string name = initializer.Name;
            string? fromInitializer = name.EndsWith(".weight", StringComparison.Ordinal) && !name.StartsWith("onnx::", StringComparison.Ordinal)
                ? name[..^".weight".Length] : null;
            bool swapped = (fromNode is not null && shiftFirst.Contains(fromNode)) || (fromInitializer is not null && shiftFirst.Contains(fromInitializer));
            var weight = new ModuleWeight(initializer, storedInOut, isConv, swapped);
            if (fromNode is not null)
                index.Register(fromNode, weight);
            if (fromInitializer is not null && fromInitializer != fromNode)
                index.Register(fromInitializer, weight);
        }
        return index;
    }

    /// <summary>Every module path (dotted) with the weight it names unambiguously.</summary>
    public IEnumerable<KeyValuePair<string, ModuleWeight>> Modules
    {
        get
        {
            foreach ((string path, ModuleWeight? weight) in _byPath)
            {
                if (weight is not null)
                    yield return new KeyValuePair<string, ModuleWeight>(path, weight);
            }
        }
    }

    /// <summary>Finds the weight of a dotted module path. <paramref name="ambiguous"/> is set when several weights claim it.</summary>
    public bool TryFind(string modulePath, bool dotted, out ModuleWeight? weight, out bool ambiguous)
    {
        Dictionary<string, ModuleWeight?> map = dotted ? _byPath : _byUnderscoredPath;
        if (!map.TryGetValue(modulePath, out weight) && !dotted && SgmBlockNames.IsSgm(modulePath)
            && LayersPerBlock() is int layers && SgmBlockNames.ToDiffusers(modulePath, layers) is string diffusers)
        {
            map.TryGetValue(diffusers, out weight); // kohya's SDXL files name UNet modules as Stability's code does
        }
        if (weight is not null || map.ContainsKey(modulePath))
        {
            ambiguous = weight is null;
            return weight is not null;
        }
        ambiguous = false;
        return false;
    }

    /// <summary>The UNet's resnets per down block (diffusers' <c>layers_per_block</c>), read once from this graph's module paths; null when it has none.</summary>
    private int? LayersPerBlock()
    {
        if (!_layersPerBlockCounted)
        {
            _layersPerBlockCache = CountLayersPerBlock();
            _layersPerBlockCounted = true;
        }
        return _layersPerBlockCache;
    }

    private int? CountLayersPerBlock()
    {
        const string Prefix = "down_blocks.0.resnets.";
        int? count = null;
        foreach (string path in _byPath.Keys)
        {
            if (!path.StartsWith(Prefix, StringComparison.Ordinal))
                continue;
            ReadOnlySpan<char> rest = path.AsSpan(Prefix.Length);
            int dot = rest.IndexOf('.');
            if (int.TryParse(dot < 0 ? rest : rest[..dot], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int k))
                count = Math.Max(count ?? 0, k + 1);
        }
        return count;
    }

    /// <summary><c>/down_blocks.0/attentions.0/proj_in/Conv</c> → <c>down_blocks.0.attentions.0.proj_in</c>; null without a scope.</summary>
    internal static string? ModulePathFromNodeName(string nodeName)
    {
        string trimmed = nodeName.TrimStart('/');
        int lastSlash = trimmed.LastIndexOf('/');
        if (lastSlash <= 0)
            return null;
        return trimmed[..lastSlash].Replace('/', '.');
    }

    private void Register(string path, ModuleWeight weight)
    {
        Register(_byPath, path, weight);
        Register(_byUnderscoredPath, path.Replace('.', '_'), weight);
    }

    private static void Register(Dictionary<string, ModuleWeight?> map, string key, ModuleWeight weight)
    {
        if (!map.TryGetValue(key, out ModuleWeight? existing))
            map.Add(key, weight);
        else if (existing is not null && existing.Initializer.Name != weight.Initializer.Name)
            map[key] = null; // two different weights answer to this name: refuse to guess
    }

    private static bool IsFloat(TensorElementType type)
        => type is TensorElementType.Float or TensorElementType.Float16 or TensorElementType.BFloat16;
}
