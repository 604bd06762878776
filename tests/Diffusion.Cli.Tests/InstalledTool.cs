using System.Diagnostics;
using Diffusion.Testing;

namespace Diffusion.Cli.Tests;

/// <summary>
/// The `diffusion` tool as a user gets it: <c>dotnet pack</c> of src/Diffusion.Cli into a local feed, then
/// <c>dotnet tool install --tool-path</c> from it, once per test run. Each <see cref="Run"/> starts the installed
/// command as a process with its own caches (HF_HOME, DIFFUSION_CACHE) and returns its exit code and output.
/// </summary>
public sealed class InstalledTool : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("diffusion-cli-tool-").FullName;

    public InstalledTool()
    {
        DirectoryInfo repository = SharedData.RepositoryRoot() ?? throw new InvalidOperationException("the repository root (Diffusion.Core.sln) was not found above the test binaries.");
        Repository = repository.FullName;
        string feed = Path.Combine(_root, "feed");
        string version = "0.0.0-test" + DateTime.UtcNow.ToString("yyyyMMddHHmmss", System.Globalization.CultureInfo.InvariantCulture);
        Dotnet(["pack", Path.Combine(Repository, "src", "Diffusion.Cli", "Diffusion.Cli.csproj"), "-c", "Release", "--no-build", "-o", feed, $"-p:Version={version}", "--nologo"]);
        Dotnet(["tool", "install", "Diffusion.Cli", "--tool-path", Path.Combine(_root, "tools"), "--add-source", feed, "--version", version]);
        Command = Path.Combine(_root, "tools", OperatingSystem.IsWindows() ? "diffusion.exe" : "diffusion");
        if (!File.Exists(Command))
            throw new InvalidOperationException($"dotnet tool install did not create {Command}.");
    }

    public string Repository { get; }

    /// <summary>The installed command.</summary>
    public string Command { get; }

    public sealed record Outcome(int ExitCode, string Output, string Error)
    {
        public override string ToString() => $"exit code {ExitCode}\nstdout:\n{Output}\nstderr:\n{Error}";
    }

    /// <summary>Runs the tool in <paramref name="workingDirectory"/> with <paramref name="environment"/> added; at most two minutes.</summary>
    public Outcome Run(string workingDirectory, IReadOnlyDictionary<string, string>? environment, params string[] arguments)
    {
        var start = new ProcessStartInfo(Command)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string argument in arguments)
            start.ArgumentList.Add(argument);
        // Never the user's caches or tokens: every run gets the test's own.
        foreach (string name in new[] { "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "CIVITAI_TOKEN", "HF_ENDPOINT", "HF_HUB_OFFLINE", "HF_HUB_CACHE" })
            start.Environment.Remove(name);
        start.Environment["HF_HOME"] = Path.Combine(workingDirectory, "hf-home");
        start.Environment["DIFFUSION_CACHE"] = Path.Combine(workingDirectory, "diffusion-cache");
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
            start.Environment[name] = value;
        using Process process = Process.Start(start)!;
        Task<string> output = process.StandardOutput.ReadToEndAsync();
        Task<string> error = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(2)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"diffusion {string.Join(' ', arguments)} ran for more than two minutes.");
        }
        process.WaitForExit();
        return new Outcome(process.ExitCode, output.Result, error.Result);
    }

    /// <summary>Starts the tool and leaves it running (a server); the caller kills it.</summary>
    public Process Start(string workingDirectory, params string[] arguments)
    {
        var start = new ProcessStartInfo(Command)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string argument in arguments)
            start.ArgumentList.Add(argument);
        start.Environment["HF_HOME"] = Path.Combine(workingDirectory, "hf-home");
        start.Environment["DIFFUSION_CACHE"] = Path.Combine(workingDirectory, "diffusion-cache");
        Process process = Process.Start(start)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private static void Dotnet(string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string argument in arguments)
            start.ArgumentList.Add(argument);
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        using Process process = Process.Start(start)!;
        Task<string> output = process.StandardOutput.ReadToEndAsync();
        Task<string> error = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(5)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"dotnet {string.Join(' ', arguments)} ran for more than five minutes.");
        }
        process.WaitForExit();
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"dotnet {string.Join(' ', arguments)} failed ({process.ExitCode}):\n{output.Result}\n{error.Result}");
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);
}
