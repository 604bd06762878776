using Diffusion.Core.Pipelines;

namespace Diffusion.Samples;

/// <summary>Prints each step synchronously (Progress&lt;T&gt; would post to the thread pool and reorder lines).</summary>
internal sealed class ConsoleProgress : IProgress<GenerationProgress>
{
    public void Report(GenerationProgress value) =>
        Console.WriteLine($"step {value.Step,3}/{value.TotalSteps} t={value.Timestep,7:F1}  {value.Elapsed.TotalSeconds,6:F2} s");
}
