using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Diffusion.Server.Tests;

/// <summary>
/// A private RabbitMQ node (Debian's rabbitmq-server) on free loopback ports with its data in a temporary folder, stopped
/// and deleted at dispose. Under <c>CI=true</c> a missing rabbitmq-server fails the test; elsewhere it is skipped.
/// </summary>
internal sealed class RabbitMqBroker : IAsyncDisposable
{
    private const string ServerScript = "/usr/sbin/rabbitmq-server";
    private readonly Process _process;
    private readonly string _folder;

    private readonly int _epmdPort;

    private RabbitMqBroker(Process process, string folder, int port, int epmdPort)
    {
        _process = process;
        _folder = folder;
        _epmdPort = epmdPort;
        Address = $"amqp://guest:guest@127.0.0.1:{port}/";
    }

    public string Address { get; }

    public static async Task<RabbitMqBroker> StartAsync()
    {
        if (!OperatingSystem.IsLinux() || !File.Exists(ServerScript))
        {
            string message = $"{ServerScript} not found: install Debian's rabbitmq-server package (.ci/run does).";
            if (Environment.GetEnvironmentVariable("CI") == "true")
                Assert.Fail(message + " It must exist when CI=true.");
            Assert.Skip(message);
        }
        string folder = Directory.CreateTempSubdirectory("diffusion-rabbitmq-").FullName;
        // The script drops to the rabbitmq user, which must be able to write here.
        WritableByAll(folder, (UnixFileMode)0x1FF);
        string plugins = Path.Combine(folder, "enabled_plugins");
        await File.WriteAllTextAsync(plugins, "[].");
        WritableByAll(plugins, (UnixFileMode)0x1B6);
        int port = FreePort(), distribution = FreePort(), epmd = FreePort();
        var start = new ProcessStartInfo(ServerScript) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.Environment["RABBITMQ_NODENAME"] = $"diffusion{port}@localhost";
        start.Environment["RABBITMQ_NODE_IP_ADDRESS"] = "127.0.0.1";
        start.Environment["RABBITMQ_NODE_PORT"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        start.Environment["RABBITMQ_DIST_PORT"] = distribution.ToString(System.Globalization.CultureInfo.InvariantCulture);
        start.Environment["ERL_EPMD_PORT"] = epmd.ToString(System.Globalization.CultureInfo.InvariantCulture);
        start.Environment["RABBITMQ_MNESIA_BASE"] = Path.Combine(folder, "mnesia");
        start.Environment["RABBITMQ_MNESIA_DIR"] = Path.Combine(folder, "mnesia", "node");
        start.Environment["RABBITMQ_FEATURE_FLAGS_FILE"] = Path.Combine(folder, "feature_flags");
        start.Environment["RABBITMQ_LOG_BASE"] = Path.Combine(folder, "log");
        start.Environment["RABBITMQ_ENABLED_PLUGINS_FILE"] = plugins;
        start.Environment["RABBITMQ_LOGS"] = "-";
        var process = Process.Start(start)!;
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var log = new System.Collections.Concurrent.ConcurrentQueue<string>();
        process.OutputDataReceived += (_, line) =>
        {
            if (line.Data is null)
                return;
            log.Enqueue(line.Data);
            if (line.Data.Contains("Server startup complete", StringComparison.Ordinal))
                started.TrySetResult();
        };
        process.ErrorDataReceived += (_, line) => { if (line.Data is not null) log.Enqueue(line.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var broker = new RabbitMqBroker(process, folder, port, epmd);
        Task finished = await Task.WhenAny(started.Task, process.WaitForExitAsync(), Task.Delay(TimeSpan.FromSeconds(90)));
        if (finished != started.Task)
        {
            await broker.DisposeAsync();
            Assert.Fail("rabbitmq-server did not start:\n" + string.Join('\n', log.TakeLast(30)));
        }
        return broker;
    }

    private static void WritableByAll(string path, UnixFileMode mode)
    {
        if (!OperatingSystem.IsWindows())
            File.SetUnixFileMode(path, mode);
    }

    /// <summary>A loopback port nothing listens on at the moment.</summary>
    internal static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
        // Erlang's port mapper daemon outlives the node; stop this node's one.
        if (File.Exists("/usr/bin/epmd"))
        {
            var kill = new ProcessStartInfo("/usr/bin/epmd", ["-kill"]) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
            kill.Environment["ERL_EPMD_PORT"] = _epmdPort.ToString(System.Globalization.CultureInfo.InvariantCulture);
            using Process? epmd = Process.Start(kill);
            if (epmd is not null)
                await epmd.WaitForExitAsync();
        }
        try
        {
            Directory.Delete(_folder, recursive: true);
        }
        catch (IOException)
        {
            // The node's last files may still be closing; the temporary folder is cleaned with the machine.
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
