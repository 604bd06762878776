using System.Collections.Concurrent;
using System.Diagnostics;
using Diffusion.Testing;

namespace Diffusion.Server.Tests;

/// <summary>samples/Server started as a RabbitMQ worker in its own process (so a test can kill it mid-job).</summary>
internal sealed class WorkerProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _log;

    private WorkerProcess(string name, Process process, ConcurrentQueue<string> log)
    {
        Name = name;
        _process = process;
        _log = log;
    }

    public string Name { get; }

    public string Log => string.Join('\n', _log);

    public static async Task<WorkerProcess> StartAsync(RabbitMqBroker broker, string name)
    {
        string server = ServerAssembly();
        string demo = Path.Combine(SharedData.RepositoryRoot()!.FullName, "models", "demo-shapes");
        var start = new ProcessStartInfo("dotnet")
        {
            ArgumentList =
            {
                server, "--urls", "http://127.0.0.1:0", "--Diffusion:Role=Worker", $"--Diffusion:RabbitMq={broker.Address}",
                $"--Diffusion:InstanceName={name}", $"--Diffusion:Model={demo}", "--Diffusion:Threads=1",
            },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        var process = Process.Start(start)!;
        var log = new ConcurrentQueue<string>();
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        process.OutputDataReceived += (_, line) =>
        {
            if (line.Data is null)
                return;
            log.Enqueue(line.Data);
            if (line.Data.Contains($"worker {name} is taking jobs", StringComparison.Ordinal))
                ready.TrySetResult();
        };
        process.ErrorDataReceived += (_, line) => { if (line.Data is not null) log.Enqueue(line.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var worker = new WorkerProcess(name, process, log);
        Task first = await Task.WhenAny(ready.Task, process.WaitForExitAsync(), Task.Delay(TimeSpan.FromSeconds(60)));
        if (first != ready.Task)
        {
            await worker.DisposeAsync();
            Assert.Fail($"worker {name} did not start:\n{worker.Log}");
        }
        return worker;
    }

    /// <summary>SIGKILL: the worker gets no chance to finish or acknowledge its job.</summary>
    public async Task KillAsync()
    {
        _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync();
    }

    /// <summary>SIGTERM, as a container runtime stops a worker; returns the exit code.</summary>
    public async Task<int> TerminateAsync()
    {
        using (Process kill = Process.Start("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])!)
            await kill.WaitForExitAsync();
        await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(1));
        return _process.ExitCode;
    }

    private static string ServerAssembly()
    {
        // tests/Diffusion.Server.Tests/bin/<Configuration>/net10.0/ → samples/Server/bin/<Configuration>/net10.0/Server.dll
        var output = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        string framework = output.Name, configuration = output.Parent!.Name;
        string path = Path.Combine(SharedData.RepositoryRoot()!.FullName, "samples", "Server", "bin", configuration, framework, "Server.dll");
        Assert.True(File.Exists(path), $"{path} is missing (the test project builds samples/Server first).");
        return path;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
    }
}
