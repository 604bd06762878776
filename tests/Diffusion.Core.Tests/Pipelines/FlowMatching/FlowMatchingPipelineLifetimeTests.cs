using Diffusion.Core.Pipelines;

namespace Diffusion.Core.Tests.Pipelines.FlowMatching;

/// <summary>Cancellation and disposal of a flow-matching call go through the same turn as the UNet pipelines'.</summary>
public sealed class FlowMatchingPipelineLifetimeTests
{
    private static GenerationOptions Small => new() { Prompt = "a cat", Width = 32, Height = 32, Steps = 4, Seed = 1 };

    [Fact]
    public void Cancelling_between_steps_ends_the_call_with_operation_canceled()
    {
        using FlowMatchingPipeline pipeline = FlowMatchingPipeline.Load(TinyFlowModels.FluxSchnell);
        using var cancellation = new CancellationTokenSource();
        int steps = 0;
        var progress = new SynchronousProgress(_ => { if (++steps == 2) cancellation.Cancel(); });
        Assert.ThrowsAny<OperationCanceledException>(() => pipeline.Generate(Small, progress, cancellation.Token));
        Assert.Equal(2, steps);
        Assert.Single(pipeline.Generate(Small).Images); // the pipeline still works
    }

    [Fact]
    public void Disposing_from_a_progress_callback_ends_the_call_and_refuses_later_ones()
    {
        FlowMatchingPipeline pipeline = FlowMatchingPipeline.Load(TinyFlowModels.Sd3);
        var progress = new SynchronousProgress(_ => pipeline.Dispose());
        Assert.Throws<ObjectDisposedException>(() => pipeline.Generate(Small, progress));
        Assert.Throws<ObjectDisposedException>(() => pipeline.Generate(Small));
    }

    private sealed class SynchronousProgress(Action<GenerationProgress> report) : IProgress<GenerationProgress>
    {
        public void Report(GenerationProgress value) => report(value);
    }
}
