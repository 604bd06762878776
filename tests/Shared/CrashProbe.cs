using System.Diagnostics;

namespace Diffusion.Testing;

/// <summary>
/// Runs a scenario of tests/Diffusion.CrashProbe in a child process, for inputs that used to kill the process (native
/// heap corruption, segfaults, hangs): a regression then fails the test with the child's exit code and output instead of
/// taking the test host down. The probe exits 0 when the library answered with a result or a typed error.
/// </summary>
internal static class CrashProbe
{
    /// <summary>The child's exit code (a signal shows as 128 + its number) and everything it printed.</summary>
    public sealed record Outcome(int ExitCode, string Output)
    {
        public override string ToString() => $"exit code {ExitCode}, output:\n{Output}";
    }

    /// <summary>Runs <c>Diffusion.CrashProbe <paramref name="arguments"/></c> and waits at most <paramref name="timeout"/> (a hang fails).</summary>
    public static Outcome Run(TimeSpan timeout, params string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(ProbePath());
        foreach (string argument in arguments)
            start.ArgumentList.Add(argument);
        using Process process = Process.Start(start) ?? throw new InvalidOperationException("could not start the crash probe");
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
            Assert.Fail($"the crash probe ({string.Join(' ', arguments)}) did not finish within {timeout.TotalSeconds:0} s (a hang).");
        }
        process.WaitForExit();
        return new Outcome(process.ExitCode, stdout.Result + stderr.Result);
    }

    /// <summary>The probe's build output beside this test project's (same configuration and framework).</summary>
    private static string ProbePath()
    {
        // <repo>/tests/<TestProject>/bin/<Configuration>/<tfm>/ → <repo>/tests/Diffusion.CrashProbe/bin/<Configuration>/<tfm>/
        var output = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        string framework = output.Name;
        string configuration = output.Parent!.Name;
        DirectoryInfo testsFolder = output.Parent!.Parent!.Parent!.Parent!;
        string path = Path.Combine(testsFolder.FullName, "Diffusion.CrashProbe", "bin", configuration, framework, "Diffusion.CrashProbe.dll");
        if (!File.Exists(path))
            throw new FileNotFoundException($"The crash probe is not built at {path}; build tests/Diffusion.CrashProbe (the test projects reference it).", path);
        return path;
    }
}
