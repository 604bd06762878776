using Diffusion.Core.Execution;
using Diffusion.Core.Pipelines;

namespace Diffusion.CrashProbe;

/// <summary>One pipeline used from several threads, and disposed while it runs (both used to corrupt memory or segfault).</summary>
internal static class PipelineScenarios
{
    private static GenerationOptions Options(int index) => new()
    {
        Prompt = $"a photo of a cat number {index}",
        NegativePrompt = "blurry",
        Steps = 2,
        Width = 64,
        Height = 64,
        Seed = (ulong)(1000 + index),
        GuidanceScale = 7.5f,
    };

    private static StableDiffusionPipeline Load(string folder)
        => StableDiffusionPipeline.Load(folder, new PipelineSettings { Session = new SessionSettings { IntraOpThreads = 1 } });

    /// <summary>
    /// concurrent-generate FOLDER THREADS CALLS: THREADS threads × CALLS generations each on one pipeline; every result
    /// must be bit-identical to the same call made alone first.
    /// </summary>
    public static string ConcurrentGenerate(string[] args)
    {
        int threads = int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture);
        int calls = int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture);
        using StableDiffusionPipeline pipeline = Load(args[0]);
        int total = threads * calls;
        var serial = new byte[total][];
        for (int i = 0; i < total; i++)
            serial[i] = pipeline.Generate(Options(i)).Images[0].Pixels;

        var concurrent = new byte[total][];
        var workers = new Thread[threads];
        Exception? failure = null;
        for (int t = 0; t < threads; t++)
        {
            int first = t * calls;
            workers[t] = new Thread(() =>
            {
                try
                {
                    for (int i = first; i < first + calls; i++)
                        concurrent[i] = pipeline.Generate(Options(i)).Images[0].Pixels;
                }
                catch (Exception error)
                {
                    Interlocked.CompareExchange(ref failure, error, null);
                }
            });
            workers[t].Start();
        }
        foreach (Thread worker in workers)
            worker.Join();
        if (failure is not null)
            throw new InvalidOperationException($"a concurrent call failed: {failure.GetType().Name}: {failure.Message}", failure);
        int differing = 0;
        for (int i = 0; i < total; i++)
        {
            if (!serial[i].AsSpan().SequenceEqual(concurrent[i]))
                differing++;
        }
        if (differing > 0)
            throw new InvalidOperationException($"{differing} of {total} concurrent results differ from the serial ones.");
        return $"{total} concurrent results bit-identical to the serial ones";
    }

    /// <summary>
    /// dispose-during-generate FOLDER ROUNDS: disposes the pipeline from another thread while a generation is running
    /// (after its first step) and while a second call waits its turn; both calls must end with ObjectDisposedException.
    /// </summary>
    public static string DisposeDuringGenerate(string[] args)
    {
        int rounds = int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture);
        int disposedRunning = 0, disposedWaiting = 0;
        for (int round = 0; round < rounds; round++)
        {
            StableDiffusionPipeline pipeline = Load(args[0]);
            using var stepped = new ManualResetEventSlim();
            var progress = new InlineProgress(_ => stepped.Set());
            // 400 steps: the call is still far from done when Dispose lands, even on a loaded machine.
            Task<GenerationResult> running = Task.Run(() => pipeline.Generate(Options(round) with { Steps = 400 }, progress));
            stepped.Wait(TimeSpan.FromSeconds(60));
            Task<GenerationResult> waiting = Task.Run(() => pipeline.Generate(Options(round)));
            Thread.Sleep(round % 3); // vary where in the step the dispose lands
            pipeline.Dispose();
            disposedRunning += EndedDisposed(running) ? 1 : 0;
            disposedWaiting += EndedDisposed(waiting) ? 1 : 0;
        }
        // The waiting call may also have run to completion before Dispose (then it is not counted).
        if (disposedRunning != rounds)
            throw new InvalidOperationException($"only {disposedRunning} of {rounds} running calls ended with ObjectDisposedException.");
        return $"{rounds} disposals during generation returned cleanly ({disposedRunning} running and {disposedWaiting} waiting calls ended with ObjectDisposedException)";
    }

    private static bool EndedDisposed(Task<GenerationResult> task)
    {
        try
        {
            task.GetAwaiter().GetResult();
            return false;
        }
        catch (ObjectDisposedException)
        {
            return true;
        }
    }

    /// <summary>Reports on the generating thread (Progress&lt;T&gt; would post to the thread pool).</summary>
    private sealed class InlineProgress(Action<GenerationProgress> report) : IProgress<GenerationProgress>
    {
        public void Report(GenerationProgress value) => report(value);
    }
}
