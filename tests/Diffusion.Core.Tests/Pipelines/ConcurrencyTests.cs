namespace Diffusion.Core.Tests.Pipelines;

/// <summary>
/// One pipeline from many threads, and disposed while it runs. Before calls were serialised, 4 threads gave results that
/// differed from the serial ones by up to 35, threw InvalidOperationException from the shared scheduler and one run in
/// eight aborted in glibc; Dispose during Generate segfaulted. These run in a child process so a regression fails the
/// test instead of killing the test host.
/// </summary>
public sealed class ConcurrencyTests
{
    [Fact]
    public void Eight_threads_times_twenty_generations_on_one_pipeline_equal_the_serial_results()
    {
        CrashProbe.Outcome outcome = CrashProbe.Run(TimeSpan.FromMinutes(5), "concurrent-generate", TinySd.Folder, "8", "20");

        Assert.True(outcome.ExitCode == 0, outcome.ToString());
        Assert.Contains("160 concurrent results bit-identical to the serial ones", outcome.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void Dispose_during_generate_cancels_the_running_and_waiting_calls_and_returns_cleanly()
    {
        CrashProbe.Outcome outcome = CrashProbe.Run(TimeSpan.FromMinutes(3), "dispose-during-generate", TinySd.Folder, "12");

        Assert.True(outcome.ExitCode == 0, outcome.ToString());
        Assert.Contains("12 disposals during generation returned cleanly (12 running", outcome.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void Twenty_thousand_threads_are_refused_before_a_session_exists()
    {
        string model = Path.Combine(TinySd.Folder, "text_encoder", "model.onnx");
        CrashProbe.Outcome outcome = CrashProbe.Run(TimeSpan.FromSeconds(60), "session-threads", model, "20000");

        Assert.True(outcome.ExitCode == 0, outcome.ToString());
        Assert.Contains("InvalidOptionException", outcome.Output, StringComparison.Ordinal);
        Assert.Contains("SessionSettings.IntraOpThreads", outcome.Output, StringComparison.Ordinal);
    }
}
