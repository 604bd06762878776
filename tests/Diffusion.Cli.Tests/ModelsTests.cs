using Diffusion.Testing;

namespace Diffusion.Cli.Tests;

[Collection(ToolCollection.Name)]
public sealed class ModelsTests(InstalledTool tool) : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("diffusion-cli-models-").FullName;
    private readonly FakeModelServer _server = new();

    public void Dispose()
    {
        _server.Dispose();
        Directory.Delete(_folder, recursive: true);
    }

    private Dictionary<string, string> Hub => new() { ["HF_ENDPOINT"] = _server.Origin.ToString().TrimEnd('/') };

    /// <summary>The built-in demo model served as a hub repository (its .onnx files as LFS files behind the CDN).</summary>
    private void ServeDemoModel()
    {
        _server.Repository = "shapes/demo";
        string demo = Path.Combine(tool.Repository, "models", "demo-shapes");
        foreach (string file in Directory.EnumerateFiles(demo, "*", SearchOption.AllDirectories))
        {
            string path = Path.GetRelativePath(demo, file).Replace('\\', '/');
            _server.Files[path] = (File.ReadAllBytes(file), path.EndsWith(".onnx", StringComparison.Ordinal));
        }
    }

    [Fact]
    public void A_hub_model_is_downloaded_generated_with_listed_inspected_and_removed()
    {
        ServeDemoModel();

        var download = tool.Run(_folder, Hub, "models", "download", "hf:shapes/demo");
        Assert.True(download.ExitCode == 0, download.ToString());
        string snapshot = Path.Combine(_folder, "hf-home", "hub", "models--shapes--demo", "snapshots", FakeModelServer.Commit);
        Assert.Contains(snapshot, download.Output, StringComparison.Ordinal);
        Assert.True(new FileInfo(Path.Combine(snapshot, "unet", "model.onnx")).LinkTarget is not null);

        var generate = tool.Run(_folder, Hub, "generate", "--model", "hf:shapes/demo", "--steps", "3", "--output", "from-hub.png");
        Assert.True(generate.ExitCode == 0, generate.ToString());
        Assert.True(File.Exists(Path.Combine(_folder, "from-hub.png")));

        var list = tool.Run(_folder, Hub, "models", "list");
        Assert.True(list.ExitCode == 0, list.ToString());
        Assert.Contains("hf:shapes/demo", list.Output, StringComparison.Ordinal);
        Assert.Contains($"main → {FakeModelServer.Commit}", list.Output, StringComparison.Ordinal);

        var info = tool.Run(_folder, Hub, "info", "hf:shapes/demo");
        Assert.True(info.ExitCode == 0, info.ToString());
        Assert.Contains("Stable Diffusion 1.x/2.x", info.Output, StringComparison.Ordinal);

        var remove = tool.Run(_folder, Hub, "models", "remove", "hf:shapes/demo");
        Assert.True(remove.ExitCode == 0, remove.ToString());
        Assert.False(Directory.Exists(Path.Combine(_folder, "hf-home", "hub", "models--shapes--demo")));
        Assert.Equal(1, tool.Run(_folder, Hub, "models", "remove", "hf:shapes/demo").ExitCode);
    }

    [Fact]
    public void Offline_a_cached_model_still_generates_and_a_missing_one_is_named()
    {
        ServeDemoModel();
        var download = tool.Run(_folder, Hub, "models", "download", "hf:shapes/demo");
        Assert.True(download.ExitCode == 0, download.ToString());
        var offline = new Dictionary<string, string>(Hub) { ["HF_HUB_OFFLINE"] = "1" };
        int requests = _server.Requests.Count;

        var generate = tool.Run(_folder, offline, "generate", "--model", "hf:shapes/demo", "--steps", "2", "--output", "offline.png");

        Assert.True(generate.ExitCode == 0, generate.ToString());
        Assert.Equal(requests, _server.Requests.Count);
        var missing = tool.Run(_folder, offline, "models", "download", "hf:shapes/other");
        Assert.Equal(1, missing.ExitCode);
        Assert.Contains("HF_HUB_OFFLINE", missing.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void Refusals_exit_1_with_the_source_and_what_to_do()
    {
        _server.Statuses["/api/models/gated/model/revision"] = (403, null, -1);
        var run = tool.Run(_folder, new Dictionary<string, string>(Hub) { ["HF_TOKEN"] = "hf_test_token_never_printed" }, "models", "download", "hf:gated/model");
        Assert.Equal(1, run.ExitCode);
        Assert.Contains("hf:gated/model", run.Error, StringComparison.Ordinal);
        Assert.Contains("accept its terms", run.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("hf_test_token_never_printed", run.Output + run.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void No_network_is_one_line_and_exit_1()
    {
        int closedPort;
        using (var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0))
        {
            listener.Start();
            closedPort = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        }
        var run = tool.Run(_folder, new Dictionary<string, string> { ["HF_ENDPOINT"] = $"http://127.0.0.1:{closedPort}", ["DIFFUSION_DOWNLOAD_RETRIES"] = "1" },
            "models", "download", "hf:owner/name");

        Assert.Equal(1, run.ExitCode);
        AssertOneLineError(run, "hf:owner/name: could not reach 127.0.0.1");
    }

    [Fact]
    public void A_full_disk_is_one_line_and_exit_1()
    {
        if (!File.Exists("/dev/full"))
            Assert.Skip("needs Linux's /dev/full (every write fails with ENOSPC)");
        ServeDemoModel();
        // The partial file of model_index.json's blob is the kernel's always-full device.
        byte[] index = _server.Files["model_index.json"].Content;
        string blobs = Path.Combine(_folder, "hf-home", "hub", "models--shapes--demo", "blobs");
        Directory.CreateDirectory(blobs);
        File.CreateSymbolicLink(Path.Combine(blobs, FakeModelServer.GitBlobId(index) + ".incomplete"), "/dev/full");

        var run = tool.Run(_folder, Hub, "models", "download", "hf:shapes/demo");

        Assert.Equal(1, run.ExitCode);
        AssertOneLineError(run, "No space left on device");
        Assert.False(File.Exists(Path.Combine(blobs, FakeModelServer.GitBlobId(index))));
    }

    [Theory]
    [InlineData("hf:owner/name@", "revision")]
    [InlineData("hf:owner/name@a..b", "revision")]
    [InlineData("civitai:latest", "MODEL_VERSION_ID")]
    [InlineData("s3://bucket/model.safetensors", "not a model source")]
    public void Bad_sources_are_one_line_and_exit_2(string source, string named)
    {
        var run = tool.Run(_folder, Hub, "models", "download", source);
        Assert.Equal(2, run.ExitCode);
        AssertOneLineError(run, named);
        Assert.Empty(_server.Requests);
    }

    private static void AssertOneLineError(InstalledTool.Outcome run, string expected)
    {
        string[] lines = run.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, run.ToString());
        Assert.StartsWith("error: ", lines[0], StringComparison.Ordinal);
        Assert.Contains(expected, lines[0], StringComparison.Ordinal);
    }

    [Fact]
    public void A_bad_source_exits_2()
    {
        var run = tool.Run(_folder, Hub, "models", "download", "huggingface.co/owner/name");
        Assert.Equal(2, run.ExitCode);
        Assert.Contains("hf:owner/name", run.Error, StringComparison.Ordinal);
    }
}
