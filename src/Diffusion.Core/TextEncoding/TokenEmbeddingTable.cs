using Diffusion.Core.Tokenization;
using Diffusion.Core.Weights;

namespace Diffusion.Core.TextEncoding;

/// <summary>
/// The text encoder's token-embedding table, found in its ONNX graph (the 2-D initializer a Gather reads with the
/// token ids), for what the graph can tell before a session exists: how many token ids the encoder knows.
/// </summary>
internal static class TokenEmbeddingTable
{
    /// <summary>The table, following <c>input_ids</c> through Cast/Identity/Reshape/Flatten/Unsqueeze to a Gather's indices; null when the graph has none.</summary>
    public static OnnxInitializer? Find(OnnxModelGraph graph)
    {
        string idsInput = "input_ids";
        if (graph.Inputs.Count > 0 && !graph.Inputs.Contains(idsInput))
            idsInput = graph.Inputs[0];
        var derived = new HashSet<string>(StringComparer.Ordinal) { idsInput };
        foreach (OnnxNode node in graph.Nodes)
        {
            if (node.Inputs.Length == 0)
                continue;
            if ((node.OpType is "Cast" or "Identity" or "Reshape" or "Flatten" or "Unsqueeze") && derived.Contains(node.Inputs[0]))
            {
                foreach (string output in node.Outputs)
                    derived.Add(output);
            }
            else if (node.OpType == "Gather" && node.Inputs.Length >= 2 && derived.Contains(node.Inputs[1])
                     && graph.TryGetWeight(node.Inputs[0], out OnnxInitializer? table) && table.Dims.Length == 2)
            {
                return table;
            }
        }
        return null;
    }

    /// <summary>
    /// Refuses a tokenizer whose ids run past the text encoder's table (ONNX Runtime would fail mid-generation with a
    /// Gather index error). Encoders whose table cannot be found in the graph are left to run.
    /// </summary>
    /// <exception cref="ModelContractException">The tokenizer's vocabulary is larger than the encoder's table.</exception>
    public static void RequireFits(ClipTokenizer tokenizer, string tokenizerSource, Models.ModelSource textEncoder)
    {
        OnnxInitializer? table = Find(OnnxWeightReader.Read(textEncoder));
        if (table is not null && tokenizer.VocabularySize > table.Dims[0])
        {
            throw new ModelContractException(textEncoder.Description, table.Name,
                $"the text encoder embeds {table.Dims[0]} token ids, but the tokenizer ({tokenizerSource}) has {tokenizer.VocabularySize}: they come from different models.");
        }
    }
}
