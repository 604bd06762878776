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
    public void A_bad_source_exits_2()
    {
        var run = tool.Run(_folder, Hub, "models", "download", "huggingface.co/owner/name");
        Assert.Equal(2, run.ExitCode);
        Assert.Contains("hf:owner/name", run.Error, StringComparison.Ordinal);
    }
}
