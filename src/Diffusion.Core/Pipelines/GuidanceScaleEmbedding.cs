namespace Diffusion.Core.Pipelines;

/// <summary>
/// The guidance-scale embedding of latent consistency (LCM) UNets, fed to their <c>timestep_cond</c> input instead of
/// running classifier-free guidance: diffusers' <c>get_guidance_scale_embedding(w = guidance − 1)</c>, computed in
/// float32 as torch does it (the products reach thousands of radians, where a double-precision product would differ).
/// </summary>
internal static class GuidanceScaleEmbedding
{
    /// <summary>The UNet input that takes the embedding.</summary>
    public const string InputName = "timestep_cond";

    /// <summary>
    /// <c>[batch, dimension]</c>: for <c>w' = 1000·(guidance − 1)</c> and <c>half = dimension / 2</c>,
    /// <c>[sin(w'·f₀) … sin(w'·f_{half−1}), cos(w'·f₀) …]</c> with <c>f_k = exp(−k·ln(10000)/(half − 1))</c>, a zero
    /// appended when the dimension is odd; every row the same.
    /// </summary>
    public static float[] Compute(float guidanceScale, int dimension, int batch)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(dimension, 4);
        int half = dimension / 2;
        float w = (float)(guidanceScale - 1.0) * 1000f;
        float step = MathF.Log(10000f) / (half - 1);
        var row = new float[dimension];
        for (int k = 0; k < half; k++)
        {
            float argument = w * MathF.Exp(k * -step);
            row[k] = MathF.Sin(argument);
            row[half + k] = MathF.Cos(argument);
        }
        var result = new float[batch * dimension];
        for (int i = 0; i < batch; i++)
            row.CopyTo(result, i * dimension);
        return result;
    }
}
