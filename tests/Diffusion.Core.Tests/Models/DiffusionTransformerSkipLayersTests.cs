using Diffusion.Core.Execution;
using Diffusion.Core.Graphs;
using Diffusion.Core.Models;
using Diffusion.Core.Tests.Pipelines.FlowMatching;

namespace Diffusion.Core.Tests.Models;

/// <summary>
/// A built SD3 transformer's <c>skip_layers</c> mask (an input with a default): skipping a block changes the prediction,
/// skipping none again gives the first prediction bit for bit, and switching between the two allocates nothing per run.
/// </summary>
public sealed class DiffusionTransformerSkipLayersTests
{
    [Fact]
    public void Skipping_a_block_changes_the_prediction_and_clearing_the_mask_restores_it_without_allocating()
    {
        using DiffusionTransformer transformer = DiffusionTransformer.Load(
            CheckpointTransformer.Build(Path.Combine(TinyFlowModels.Sd3, "transformer")).ToSource(), SessionSettings.Default);
        Assert.Equal(2, transformer.SkippableLayers);
        float[] latents = new float[16 * 8 * 8], text = new float[5 * 48], pooled = new float[20];
        for (int i = 0; i < latents.Length; i++)
            latents[i] = MathF.Sin(i * 0.1f);
        for (int i = 0; i < text.Length; i++)
            text[i] = MathF.Cos(i * 0.3f);
        var conditioning = new TransformerConditioning(text, 5, pooled, Memory<float>.Empty, Memory<float>.Empty, null);
        long[] shape = [1, 16, 8, 8];
        float[] full = new float[latents.Length], skipped = new float[latents.Length], again = new float[latents.Length];
        int[] first = [0];

        transformer.Predict(latents, shape, 500f, conditioning, full);
        transformer.SetSkippedLayers(first);
        transformer.Predict(latents, shape, 500f, conditioning, skipped);
        transformer.SetSkippedLayers([]);
        transformer.Predict(latents, shape, 500f, conditioning, again);

        Assert.Equal(full, again);
        Assert.True(full.Zip(skipped).Max(p => Math.Abs(p.First - p.Second)) > 1e-3f);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 10; i++)
        {
            transformer.SetSkippedLayers(i % 2 == 0 ? first : []);
            transformer.Predict(latents, shape, 500f - i, conditioning, again);
        }
        long perCall = (GC.GetAllocatedBytesForCurrentThread() - before) / 10;
        Assert.InRange(perCall, 0, 64);
        Assert.Throws<ArgumentOutOfRangeException>(() => transformer.SetSkippedLayers([2]));
    }
}
