namespace Diffusion.Core.Graphs.Architectures;

/// <summary>
/// The UNet's own pieces beside the transformers: sinusoidal timestep features (diffusers' <c>Timesteps</c>),
/// <c>TimestepEmbedding</c> (linear, SiLU, linear) and <c>ResnetBlock2D</c> with the time embedding added after its
/// first conv.
/// </summary>
internal static class UNetBlocks
{
    /// <summary>
    /// diffusers' <c>get_timestep_embedding</c> of the 1-D <paramref name="values"/>: [n] → [n, dim], frequencies
    /// exp(−ln(10000)·i / (dim/2 − shift)), sin then cos (cos then sin with <paramref name="flipSinToCos"/>).
    /// </summary>
    public static GraphValue SinusoidalFeatures(OnnxGraphBuilder graph, GraphValue values, int dim, bool flipSinToCos, int freqShift)
    {
        int half = dim / 2;
        var frequencies = new float[half];
        // As torch computes them in float32: (−ln 10000 · i) / (half − shift), then its exp (see TorchExp).
        float logPeriod = -(float)Math.Log(10000);
        for (int i = 0; i < half; i++)
            frequencies[i] = TorchExp(logPeriod * i / (float)(half - freqShift));
        GraphValue angles = graph.Node("Mul", [graph.Node("Unsqueeze", [values, graph.Int64s([1])]), graph.Constant(frequencies, 1, half)]);
        GraphValue sin = graph.Node("Sin", [angles]);
        GraphValue cos = graph.Node("Cos", [angles]);
        return graph.Node("Concat", flipSinToCos ? [cos, sin] : [sin, cos], NodeAttribute.Int("axis", 1));
    }

    /// <summary>
    /// torch's float32 <c>exp</c> on CPU (SLEEF's <c>expf_u10</c>, which its vectorised kernels call), bit for bit. A
    /// correctly rounded exp differs from it by one ulp in 16 of SD's 160 frequencies, and exports constant-fold torch's
    /// values: matching them keeps a built UNet bit-identical to an exported one instead of 1e-6 off at every step.
    /// </summary>
    internal static float TorchExp(float d)
    {
        float q = MathF.Round(d * 1.442695040888963407359924681001892137f); // to nearest, ties to even (rint)
        float s = MathF.FusedMultiplyAdd(q, -0.693145751953125f, d);
        s = MathF.FusedMultiplyAdd(q, -1.428606765330187045e-06f, s);
        float u = 0.000198527617612853646278381f;
        u = MathF.FusedMultiplyAdd(u, s, 0.00139304355252534151077271f);
        u = MathF.FusedMultiplyAdd(u, s, 0.00833336077630519866943359f);
        u = MathF.FusedMultiplyAdd(u, s, 0.0416664853692054748535156f);
        u = MathF.FusedMultiplyAdd(u, s, 0.166666671633720397949219f);
        u = MathF.FusedMultiplyAdd(u, s, 0.5f);
        u = 1f + MathF.FusedMultiplyAdd(s * s, u, s);
        int k = (int)q;
        if (d < -104f)
            return 0f;
        if (d > 104f)
            return float.PositiveInfinity;
        return u * MathF.ScaleB(1f, k >> 1) * MathF.ScaleB(1f, k - (k >> 1));
    }

    /// <summary><c>TimestepEmbedding</c>: <c>linear_1</c>, SiLU, <c>linear_2</c>.</summary>
    public static GraphValue TimestepEmbedding(OnnxGraphBuilder graph, GraphValue features, string module, long inFeatures, long width)
    {
        using IDisposable scope = graph.Scope(GraphLayers.LocalName(module));
        GraphValue hidden = graph.Silu(graph.Linear(features, module + ".linear_1", inFeatures, width));
        return graph.Linear(hidden, module + ".linear_2", width, width);
    }

    /// <summary>
    /// <c>ResnetBlock2D</c> with a time embedding: GroupNorm, SiLU, 3×3 conv, + <c>time_emb_proj</c>(SiLU(emb)) per
    /// channel, GroupNorm, SiLU, 3×3 conv, plus the input (through a 1×1 <c>conv_shortcut</c> when the channels change).
    /// <paramref name="activatedEmbedding"/> is SiLU of the time embedding, [N, embedWidth], computed once for every block.
    /// </summary>
    public static GraphValue Resnet(OnnxGraphBuilder graph, GraphValue x, GraphValue activatedEmbedding, string module, long inChannels, long outChannels,
        long embedWidth, UNetConfig config)
    {
        using IDisposable scope = graph.Scope(GraphLayers.LocalName(module));
        GraphValue h = graph.Conv2d(graph.Silu(graph.GroupNorm(x, module + ".norm1", config.NormGroups, inChannels, config.NormEpsilon)), module + ".conv1", inChannels, outChannels, 3);
        GraphValue time = graph.Linear(activatedEmbedding, module + ".time_emb_proj", embedWidth, outChannels);
        h = graph.Node("Add", [h, graph.Node("Unsqueeze", [time, graph.Int64s([2, 3])])]);
        h = graph.Conv2d(graph.Silu(graph.GroupNorm(h, module + ".norm2", config.NormGroups, outChannels, config.NormEpsilon)), module + ".conv2", outChannels, outChannels, 3);
        GraphValue shortcut = inChannels == outChannels ? x : graph.Conv2d(x, module + ".conv_shortcut", inChannels, outChannels, 1);
        return graph.Node("Add", [shortcut, h]);
    }
}
