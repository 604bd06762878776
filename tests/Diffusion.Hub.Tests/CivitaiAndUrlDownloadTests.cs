using Diffusion.Testing;
using System.Collections;

namespace Diffusion.Hub.Tests;

public sealed class CivitaiAndUrlDownloadTests
{
    [Fact]
    public async Task A_civitai_version_s_primary_file_is_fetched_verified_and_the_token_stays_on_civitai()
    {
        using var hub = new HubFixture();
        byte[] content = HubFixture.Bytes(200_000, seed: 7);
        hub.Server.CivitaiVersions[4242] = ("dreamy_v1.safetensors", content, FakeModelServer.Sha256(content));
        hub.Server.Drops["dreamy_v1.safetensors"] = (AfterBytes: 50_000, Times: 1);

        DownloadedModel model = await hub.DownloadAsync("civitai:4242", ct: TestContext.Current.CancellationToken);

        Assert.Equal(Path.Combine(hub.Root, "downloads", "civitai", "4242", "dreamy_v1.safetensors"), model.Path);
        Assert.Equal(content, File.ReadAllBytes(model.Path));
        Assert.Equal(FakeModelServer.Sha256(content), Assert.Single(model.Files).Sha256);
        var requests = hub.Server.Requests.ToList();
        Assert.All(requests.Where(r => r.Host == "127.0.0.1"), r => Assert.Equal("Bearer " + HubFixture.CivitaiToken, r.Authorization));
        Assert.All(requests.Where(r => r.Host == "localhost"), r => Assert.Null(r.Authorization));
        Assert.Contains(requests, r => r.Host == "localhost" && r.Range == "bytes=50000-");
    }

    [Fact]
    public async Task A_civitai_file_with_the_wrong_hash_is_rejected_and_not_kept()
    {
        using var hub = new HubFixture();
        byte[] content = HubFixture.Bytes(10_000, seed: 8);
        hub.Server.CivitaiVersions[7] = ("lora.safetensors", content, FakeModelServer.Sha256(HubFixture.Bytes(10_000, seed: 9)));

        var error = await Assert.ThrowsAsync<ModelDownloadException>(() => hub.DownloadAsync("civitai:7", ct: TestContext.Current.CancellationToken));

        Assert.Equal(DownloadFailure.IntegrityMismatch, error.Failure);
        Assert.Equal("civitai:7", error.Source);
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(hub.Root, "downloads", "civitai", "7")));
    }

    [Fact]
    public async Task A_civitai_file_without_a_published_hash_is_refused()
    {
        using var hub = new HubFixture();
        hub.Server.CivitaiVersions[8] = ("old.ckpt", HubFixture.Bytes(100, seed: 1), null);

        var error = await Assert.ThrowsAsync<ModelDownloadException>(() => hub.DownloadAsync("civitai:8", ct: TestContext.Current.CancellationToken));

        Assert.Equal(DownloadFailure.BadResponse, error.Failure);
        Assert.Contains("no SHA-256", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_civitai_login_wall_names_the_token_variable()
    {
        using var hub = new HubFixture();
        hub.Server.CivitaiVersions[9] = ("x.safetensors", HubFixture.Bytes(100, seed: 1), FakeModelServer.Sha256(HubFixture.Bytes(100, seed: 1)));
        hub.Server.Statuses["/api/download/models/9"] = (401, null, -1);

        var error = await Assert.ThrowsAsync<ModelDownloadException>(() => hub.DownloadAsync("civitai:9", ct: TestContext.Current.CancellationToken));

        Assert.Equal(DownloadFailure.Unauthorized, error.Failure);
        Assert.Contains("CIVITAI_TOKEN", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(HubFixture.CivitaiToken, error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unknown_civitai_version_is_not_found()
    {
        using var hub = new HubFixture();
        var error = await Assert.ThrowsAsync<ModelDownloadException>(() => hub.DownloadAsync("civitai:123", ct: TestContext.Current.CancellationToken));
        Assert.Equal(DownloadFailure.NotFound, error.Failure);
    }

    [Fact]
    public async Task A_url_download_is_checked_against_a_given_hash()
    {
        using var hub = new HubFixture();
        byte[] content = hub.Server.Files["model_index.json"].Content;
        Uri url = new(hub.Server.Origin, $"owner/model/resolve/{FakeModelServer.Commit}/model_index.json");

        using (var downloader = new ModelDownloader(hub.Options()))
        {
            DownloadedModel model = await downloader.DownloadAsync(new UrlSource(url, FakeModelServer.Sha256(content)), cancellationToken: TestContext.Current.CancellationToken);
            Assert.Equal(content, File.ReadAllBytes(model.Path));
            Assert.EndsWith("model_index.json", model.Path, StringComparison.Ordinal);
        }

        using (var downloader = new ModelDownloader(hub.Options()))
        {
            var wrong = new UrlSource(new Uri(url + "?again"), new string('a', 64));
            var error = await Assert.ThrowsAsync<ModelDownloadException>(() => downloader.DownloadAsync(wrong, cancellationToken: TestContext.Current.CancellationToken));
            Assert.Equal(DownloadFailure.IntegrityMismatch, error.Failure);
        }
        // A URL download never carries the hub's token, even to the hub's host: it was not asked for.
        Assert.All(hub.Server.Requests, r => Assert.Null(r.Authorization));
    }

    [Fact]
    public void Options_come_from_huggingface_hub_s_variables()
    {
        string home = Path.Combine(Path.GetTempPath(), "hf-home-test");
        var options = ModelDownloaderOptions.FromEnvironment(new Hashtable
        {
            ["HF_HOME"] = home,
            ["HF_HUB_OFFLINE"] = "yes",
            ["HF_TOKEN"] = "hf_abc",
            ["HF_ENDPOINT"] = "https://mirror.example.com/hf/",
            ["CIVITAI_TOKEN"] = "civ",
            ["DIFFUSION_CACHE"] = "/tmp/dc",
        });
        Assert.Equal(Path.Combine(home, "hub"), options.HubCache);
        Assert.True(options.Offline);
        Assert.Equal("hf_abc", options.HubToken);
        Assert.Equal("civ", options.CivitaiToken);
        Assert.Equal("https://mirror.example.com/hf", options.HubEndpoint.ToString().TrimEnd('/'));
        Assert.Equal("/tmp/dc", options.DownloadCache);
        Assert.DoesNotContain("hf_abc", options.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("civ,", options.ToString() + ",", StringComparison.Ordinal);

        var explicitCache = ModelDownloaderOptions.FromEnvironment(new Hashtable { ["HF_HOME"] = home, ["HF_HUB_CACHE"] = "/tmp/hubcache", ["HF_HUB_OFFLINE"] = "0" });
        Assert.Equal("/tmp/hubcache", explicitCache.HubCache);
        Assert.False(explicitCache.Offline);
    }

    [Fact]
    public void The_token_file_of_hf_home_is_read_when_no_variable_is_set()
    {
        string home = Directory.CreateTempSubdirectory("hf-home-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(home, "token"), "hf_from_file\n");
            Assert.Equal("hf_from_file", ModelDownloaderOptions.FromEnvironment(new Hashtable { ["HF_HOME"] = home }).HubToken);
            Assert.Equal("hf_var", ModelDownloaderOptions.FromEnvironment(new Hashtable { ["HF_HOME"] = home, ["HF_TOKEN"] = "hf_var" }).HubToken);
        }
        finally
        {
            Directory.Delete(home, recursive: true);
        }
    }

    [Fact]
    public void A_bad_endpoint_variable_is_named()
    {
        var error = Assert.Throws<ArgumentException>(() => ModelDownloaderOptions.FromEnvironment(new Hashtable { ["HF_ENDPOINT"] = "not a url" }));
        Assert.Contains("HF_ENDPOINT", error.Message, StringComparison.Ordinal);
    }
}
