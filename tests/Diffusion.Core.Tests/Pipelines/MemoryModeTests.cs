using Diffusion.Core.Execution;
using Diffusion.Core.Pipelines;

namespace Diffusion.Core.Tests.Pipelines;

public sealed class MemoryModeTests
{
    [Fact]
    public void SequentialModeGivesTheSameImageAndHoldsNoModelBetweenStages()
    {
        using var keep = TinySd.Load();
        using var sequential = TinySd.Load(new PipelineSettings { Session = TinySd.Session, MemoryMode = MemoryMode.Sequential });
        Assert.False(sequential.TextEncoder.IsLoaded);
        Assert.False(sequential.UNet.IsLoaded);
        Assert.False(sequential.VaeDecoder.IsLoaded);

        GenerationResult expected = keep.Generate(TinySd.SmallOptions("DPM++ 2M"));
        long before = SessionFactory.SessionsCreatedOnCurrentThread;
        GenerationResult actual = sequential.Generate(TinySd.SmallOptions("DPM++ 2M"));

        Assert.Equal(expected.Latents, actual.Latents);
        Assert.Equal(expected.Images[0].Pixels, actual.Images[0].Pixels);
        // Each stage loaded its model once and released it.
        Assert.Equal(before + 3, SessionFactory.SessionsCreatedOnCurrentThread);
        Assert.False(sequential.TextEncoder.IsLoaded);
        Assert.False(sequential.UNet.IsLoaded);
        Assert.False(sequential.VaeDecoder.IsLoaded);
    }

    [Fact]
    public void KeepLoadedModeCreatesNoSessionPerGeneration()
    {
        using var keep = TinySd.Load();
        long before = SessionFactory.SessionsCreatedOnCurrentThread;
        keep.Generate(TinySd.SmallOptions());
        keep.Generate(TinySd.SmallOptions());

        Assert.Equal(before, SessionFactory.SessionsCreatedOnCurrentThread);
        Assert.True(keep.UNet.IsLoaded);
    }

    [Fact]
    public void AnUnloadedModelReloadsOnItsNextRunWithTheSameResult()
    {
        using var pipeline = TinySd.Load();
        float[] sample = new float[2 * 4 * 8 * 8];
        float[] embeddings = new float[2 * 77 * pipeline.TextEncoder.GetHiddenSize()];
        for (int i = 0; i < sample.Length; i++)
            sample[i] = MathF.Sin(i);
        float[] first = new float[sample.Length];
        float[] second = new float[sample.Length];

        pipeline.UNet.Predict(sample, 2, 8, 8, 500f, embeddings, 77, first);
        pipeline.UNet.Unload();
        Assert.False(pipeline.UNet.IsLoaded);
        pipeline.UNet.Predict(sample, 2, 8, 8, 500f, embeddings, 77, second);

        Assert.True(pipeline.UNet.IsLoaded);
        Assert.Equal(first, second);
    }
}
