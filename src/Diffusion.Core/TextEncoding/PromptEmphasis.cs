using System.Numerics.Tensors;

namespace Diffusion.Core.TextEncoding;

/// <summary>The AUTOMATIC1111 web UI's "Original" emphasis: per-token weights on a chunk's hidden states, its mean kept.</summary>
internal static class PromptEmphasis
{
    /// <summary>
    /// The web UI's "Original" emphasis on one chunk <c>z</c> [77, hidden]: <c>z *= weights</c> per token, then
    /// <c>z *= mean(z before) / mean(z after)</c>, the means over the whole chunk. The means are summed in double
    /// precision and rounded to float32 (torch's float32 cascade sum is close to exact; a plain float32 running sum
    /// is not), the ratio and products are float32 as in torch.
    /// </summary>
    internal static void ApplyWeights(Span<float> chunk, ReadOnlySpan<float> weights, int hiddenSize)
    {
        bool weighted = false;
        foreach (float weight in weights)
            weighted |= weight != 1f;
        if (!weighted)
            return; // multiplying by 1 and by a ratio of equal means changes nothing
        float originalMean = Mean(chunk);
        for (int token = 0; token < weights.Length; token++)
        {
            Span<float> row = chunk.Slice(token * hiddenSize, hiddenSize);
            TensorPrimitives.Multiply(row, weights[token], row);
        }
        float newMean = Mean(chunk);
        TensorPrimitives.Multiply(chunk, originalMean / newMean, chunk);
    }

    private static float Mean(ReadOnlySpan<float> values)
    {
        double sum = 0;
        foreach (float value in values)
            sum += value;
        return (float)(sum / values.Length);
    }
}
