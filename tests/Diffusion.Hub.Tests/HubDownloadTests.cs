using Diffusion.Testing;
namespace Diffusion.Hub.Tests;

public sealed class HubDownloadTests
{
    [Fact]
    public async Task A_repository_lands_in_huggingface_hub_s_cache_layout()
    {
        using var hub = new HubFixture();
        DownloadedModel model = await hub.DownloadAsync("hf:owner/model", ct: TestContext.Current.CancellationToken);

        string snapshot = Path.Combine(hub.RepositoryFolder, "snapshots", FakeModelServer.Commit);
        Assert.Equal(snapshot, model.Path);
        Assert.Equal(FakeModelServer.Commit, model.Revision);
        Assert.Equal(FakeModelServer.Commit, File.ReadAllText(Path.Combine(hub.RepositoryFolder, "refs", "main")));
        foreach (var (path, (content, lfs)) in hub.Server.Files)
        {
            string blobId = lfs ? FakeModelServer.Sha256(content) : FakeModelServer.GitBlobId(content);
            string blob = Path.Combine(hub.RepositoryFolder, "blobs", blobId);
            Assert.Equal(content, File.ReadAllBytes(blob));
            var entry = new FileInfo(Path.Combine(snapshot, path));
            // A relative link into blobs/, exactly as huggingface_hub makes them (so Python reads this cache and the reverse).
            string expectedTarget = Path.GetRelativePath(entry.DirectoryName!, blob);
            Assert.Equal(expectedTarget, entry.LinkTarget);
            Assert.False(Path.IsPathRooted(entry.LinkTarget));
            Assert.Equal(content, File.ReadAllBytes(entry.FullName));
            DownloadedFile file = Assert.Single(model.Files, f => f.RelativePath == path);
            Assert.True(file.Downloaded);
            Assert.Equal(lfs ? FakeModelServer.Sha256(content) : null, file.Sha256);
        }
        Assert.DoesNotContain(hub.CacheEntries(), e => e.EndsWith(".incomplete", StringComparison.Ordinal) || e.Contains(".tmp-", StringComparison.Ordinal));
    }

    [Fact]
    public async Task The_token_goes_to_the_hub_and_never_to_the_cdn_it_redirects_to()
    {
        using var hub = new HubFixture();
        await hub.DownloadAsync("hf:owner/model", ct: TestContext.Current.CancellationToken);

        var requests = hub.Server.Requests.ToList();
        Assert.Contains(requests, r => r.Host == "localhost"); // LFS files came from the CDN host
        Assert.All(requests.Where(r => r.Host == "127.0.0.1"), r => Assert.Equal("Bearer " + HubFixture.HubToken, r.Authorization));
        Assert.All(requests.Where(r => r.Host == "localhost"), r => Assert.Null(r.Authorization));
    }

    [Fact]
    public async Task A_subfolder_fetches_only_its_files_and_points_into_the_snapshot()
    {
        using var hub = new HubFixture();
        DownloadedModel model = await hub.DownloadAsync("hf:owner/model:unet", ct: TestContext.Current.CancellationToken);

        Assert.Equal(Path.Combine(hub.RepositoryFolder, "snapshots", FakeModelServer.Commit, "unet"), model.Path);
        Assert.Equal(["unet/config.json", "unet/model.onnx"], model.Files.Select(f => f.RelativePath).Order(StringComparer.Ordinal));
        Assert.Empty(hub.Server.FileRequests("vae_decoder/model.onnx"));
        Assert.True(File.Exists(Path.Combine(model.Path, "model.onnx")));
    }

    [Fact]
    public async Task Files_with_the_same_content_share_one_blob_fetched_once()
    {
        using var hub = new HubFixture();
        byte[] config = "{\"scaling_factor\": 0.18215}"u8.ToArray();
        byte[] weights = HubFixture.Bytes(50_000, seed: 3);
        hub.Server.Files["vae_encoder/config.json"] = (config, false);
        hub.Server.Files["vae_decoder/config.json"] = (config, false);
        hub.Server.Files["a/model.onnx"] = (weights, true);
        hub.Server.Files["b/model.onnx"] = (weights, true);
        hub.Server.FileDelay = TimeSpan.FromMilliseconds(50); // the duplicates would overlap if fetched in parallel

        DownloadedModel model = await hub.DownloadAsync("hf:owner/model", ct: TestContext.Current.CancellationToken);

        foreach (string path in new[] { "vae_encoder/config.json", "vae_decoder/config.json", "a/model.onnx", "b/model.onnx" })
            Assert.Equal(hub.Server.Files[path].Content, File.ReadAllBytes(Path.Combine(model.Path, path)));
        Assert.Single(hub.Server.Requests, r => r.PathAndQuery.StartsWith("/cdn/" + FakeModelServer.Sha256(weights), StringComparison.Ordinal));
        Assert.Equal(1, hub.Server.Requests.Count(r => r.PathAndQuery.EndsWith("/vae_encoder/config.json", StringComparison.Ordinal) || r.PathAndQuery.EndsWith("/vae_decoder/config.json", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task A_path_to_one_file_fetches_that_file_and_points_at_it()
    {
        using var hub = new HubFixture();
        DownloadedModel model = await hub.DownloadAsync("hf:owner/model:unet/model.onnx", ct: TestContext.Current.CancellationToken);

        Assert.Equal(Path.Combine(hub.RepositoryFolder, "snapshots", FakeModelServer.Commit, "unet", "model.onnx"), model.Path);
        Assert.Equal(hub.Server.Files["unet/model.onnx"].Content, File.ReadAllBytes(model.Path));
        Assert.Equal("unet/model.onnx", Assert.Single(model.Files).RelativePath);
        Assert.DoesNotContain(hub.Server.Requests, r => r.PathAndQuery.EndsWith("/unet/config.json", StringComparison.Ordinal));

        DownloadedModel offline = await hub.DownloadAsync("hf:owner/model:unet/model.onnx", hub.Options(offline: true), ct: TestContext.Current.CancellationToken);
        Assert.Equal(model.Path, offline.Path);

        var missing = await Assert.ThrowsAsync<ModelDownloadException>(() => hub.DownloadAsync("hf:owner/model:unet/nothing.onnx", ct: TestContext.Current.CancellationToken));
        Assert.Equal(DownloadFailure.NotFound, missing.Failure);
        Assert.Contains("unet/nothing.onnx", missing.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Files_already_in_the_cache_are_not_fetched_again()
    {
        using var hub = new HubFixture();
        await hub.DownloadAsync("hf:owner/model", ct: TestContext.Current.CancellationToken);
        int before = hub.Server.Requests.Count(r => r.PathAndQuery.Contains("/resolve/", StringComparison.Ordinal) || r.PathAndQuery.StartsWith("/cdn/", StringComparison.Ordinal));

        var progress = new List<DownloadProgress>();
        DownloadedModel again = await hub.DownloadAsync("hf:owner/model", progress: new SynchronousProgress<DownloadProgress>(progress.Add),
            ct: TestContext.Current.CancellationToken);

        int after = hub.Server.Requests.Count(r => r.PathAndQuery.Contains("/resolve/", StringComparison.Ordinal) || r.PathAndQuery.StartsWith("/cdn/", StringComparison.Ordinal));
        Assert.Equal(before, after);
        Assert.All(again.Files, f => Assert.False(f.Downloaded));
        Assert.All(progress, p => Assert.True(p.FromCache));
    }

    [Fact]
    public async Task A_blob_that_python_already_downloaded_is_reused()
    {
        using var hub = new HubFixture();
        byte[] unet = hub.Server.Files["unet/model.onnx"].Content;
        string blobs = Path.Combine(hub.RepositoryFolder, "blobs");
        Directory.CreateDirectory(blobs);
        File.WriteAllBytes(Path.Combine(blobs, FakeModelServer.Sha256(unet)), unet);

        DownloadedModel model = await hub.DownloadAsync("hf:owner/model", ct: TestContext.Current.CancellationToken);

        Assert.False(Assert.Single(model.Files, f => f.RelativePath == "unet/model.onnx").Downloaded);
        Assert.DoesNotContain(hub.Server.Requests, r => r.PathAndQuery.Contains("unet%2Fmodel.onnx", StringComparison.Ordinal) || r.PathAndQuery.EndsWith("unet/model.onnx", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_connection_dropped_mid_file_resumes_where_it_stopped()
    {
        using var hub = new HubFixture();
        hub.Server.Drops["unet/model.onnx"] = (AfterBytes: 100_000, Times: 2);
        hub.Server.Drops["unet/config.json"] = (AfterBytes: 5, Times: 1);

        DownloadedModel model = await hub.DownloadAsync("hf:owner/model", ct: TestContext.Current.CancellationToken);

        Assert.Equal(hub.Server.Files["unet/model.onnx"].Content, File.ReadAllBytes(Path.Combine(model.Path, "unet", "model.onnx")));
        Assert.Equal(hub.Server.Files["unet/config.json"].Content, File.ReadAllBytes(Path.Combine(model.Path, "unet", "config.json")));
        var ranges = hub.Server.Requests.Where(r => r.PathAndQuery.StartsWith("/cdn/", StringComparison.Ordinal) && r.PathAndQuery.Contains("unet%2Fmodel.onnx", StringComparison.Ordinal))
            .Select(r => r.Range).ToList();
        Assert.Equal(3, ranges.Count);
        Assert.Null(ranges[0]);
        Assert.All(ranges.Skip(1), range => Assert.StartsWith("bytes=", range, StringComparison.Ordinal));
        Assert.Equal("bytes=200000-", ranges[2]);
    }

    [Fact]
    public async Task A_partial_file_from_an_earlier_run_is_resumed_not_restarted()
    {
        using var hub = new HubFixture();
        byte[] unet = hub.Server.Files["unet/model.onnx"].Content;
        string blobs = Path.Combine(hub.RepositoryFolder, "blobs");
        Directory.CreateDirectory(blobs);
        File.WriteAllBytes(Path.Combine(blobs, FakeModelServer.Sha256(unet) + ".incomplete"), unet[..123_456]);

        DownloadedModel model = await hub.DownloadAsync("hf:owner/model", ct: TestContext.Current.CancellationToken);

        Assert.Equal(unet, File.ReadAllBytes(Path.Combine(model.Path, "unet", "model.onnx")));
        Assert.Equal("bytes=123456-", Assert.Single(hub.Server.Requests, r => r.PathAndQuery.StartsWith("/cdn/", StringComparison.Ordinal)
            && r.PathAndQuery.Contains("unet%2Fmodel.onnx", StringComparison.Ordinal)).Range);
    }

    [Theory]
    [InlineData("unet/model.onnx")]   // LFS: checked by SHA-256
    [InlineData("unet/config.json")]  // small file: checked by its git blob id
    public async Task Wrong_bytes_are_rejected_and_nothing_is_left_in_the_cache(string path)
    {
        using var hub = new HubFixture();
        byte[] good = hub.Server.Files[path].Content;
        byte[] bad = (byte[])good.Clone();
        bad[^1] ^= 0xFF;
        hub.Server.Corrupt[path] = bad;

        var error = await Assert.ThrowsAsync<ModelDownloadException>(() => hub.DownloadAsync("hf:owner/model:unet", ct: TestContext.Current.CancellationToken));

        Assert.Equal(DownloadFailure.IntegrityMismatch, error.Failure);
        Assert.Contains(path, error.Message, StringComparison.Ordinal);
        Assert.Contains("hf:owner/model:unet", error.Message, StringComparison.Ordinal);
        string blobId = hub.Server.Files[path].Lfs ? FakeModelServer.Sha256(good) : FakeModelServer.GitBlobId(good);
        Assert.False(File.Exists(Path.Combine(hub.RepositoryFolder, "blobs", blobId)));
        Assert.False(File.Exists(Path.Combine(hub.RepositoryFolder, "blobs", blobId + ".incomplete")));
        Assert.False(File.Exists(Path.Combine(hub.RepositoryFolder, "snapshots", FakeModelServer.Commit, path)));
    }

    [Theory]
    [InlineData(401, DownloadFailure.Unauthorized, "HF_TOKEN")]
    [InlineData(403, DownloadFailure.Forbidden, "accept its terms")]
    [InlineData(404, DownloadFailure.NotFound, "check the name")]
    public async Task Refusals_are_typed_errors_that_say_what_to_do_and_are_not_retried(int status, DownloadFailure failure, string advice)
    {
        using var hub = new HubFixture();
        hub.Server.Statuses["/api/models/owner/model/revision"] = (status, null, -1);

        var error = await Assert.ThrowsAsync<ModelDownloadException>(() => hub.DownloadAsync("hf:owner/model", ct: TestContext.Current.CancellationToken));

        Assert.Equal(failure, error.Failure);
        Assert.Equal("hf:owner/model", error.Source);
        Assert.Contains(advice, error.Message, StringComparison.Ordinal);
        Assert.Contains($"({status})", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(HubFixture.HubToken, error.ToString(), StringComparison.Ordinal);
        Assert.Single(hub.Server.Requests);
    }

    [Fact]
    public async Task Without_a_token_a_401_asks_for_one()
    {
        using var hub = new HubFixture();
        hub.Server.Statuses["/resolve/"] = (401, null, -1);

        var error = await Assert.ThrowsAsync<ModelDownloadException>(() => hub.DownloadAsync("hf:owner/model", hub.Options(hubToken: null), ct: TestContext.Current.CancellationToken));

        Assert.Equal(DownloadFailure.Unauthorized, error.Failure);
        Assert.Contains("set HF_TOKEN", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Rate_limiting_is_waited_out_with_the_servers_retry_after()
    {
        using var hub = new HubFixture();
        hub.Server.Statuses["/api/models/owner/model/tree"] = (429, 0, 2);
        hub.Server.Statuses["/cdn/"] = (503, null, 1);

        DownloadedModel model = await hub.DownloadAsync("hf:owner/model", ct: TestContext.Current.CancellationToken);

        Assert.Equal(4, model.Files.Count);
        Assert.Equal(3, hub.Server.Requests.Count(r => r.PathAndQuery.Contains("/tree/", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task Rate_limiting_that_outlasts_the_retries_is_a_rate_limited_error()
    {
        using var hub = new HubFixture();
        hub.Server.Statuses["/api/models/owner/model/revision"] = (429, 0, -1);

        var error = await Assert.ThrowsAsync<ModelDownloadException>(() => hub.DownloadAsync("hf:owner/model", hub.Options(retries: 2), ct: TestContext.Current.CancellationToken));

        Assert.Equal(DownloadFailure.RateLimited, error.Failure);
        Assert.Contains("wait a while", error.Message, StringComparison.Ordinal);
        Assert.Equal(3, hub.Server.Requests.Count);
    }

    [Fact]
    public async Task A_paged_listing_is_followed_to_its_end()
    {
        using var hub = new HubFixture();
        for (int i = 0; i < 7; i++)
            hub.Server.Files[$"extra/file{i}.txt"] = (HubFixture.Bytes(10 + i, seed: 10 + i), false);
        hub.Server.PageSize = 3;

        DownloadedModel model = await hub.DownloadAsync("hf:owner/model", ct: TestContext.Current.CancellationToken);

        Assert.Equal(11, model.Files.Count);
        Assert.Equal(4, hub.Server.Requests.Count(r => r.PathAndQuery.Contains("/tree/", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task A_truncated_listing_is_an_error_and_fetches_nothing()
    {
        using var hub = new HubFixture();
        hub.Server.TruncateListing = true;

        var error = await Assert.ThrowsAsync<ModelDownloadException>(() => hub.DownloadAsync("hf:owner/model", ct: TestContext.Current.CancellationToken));

        Assert.Equal(DownloadFailure.BadResponse, error.Failure);
        Assert.Contains("not complete JSON", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(hub.Server.Requests, r => r.PathAndQuery.Contains("/resolve/", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("""{"type":"file","oid":"0123456789abcdef0123456789abcdef01234567","size":3,"path":"../../../escape.txt"}""", "leaves the repository")]
    [InlineData("""{"type":"file","oid":"0123456789abcdef0123456789abcdef01234567","size":3,"path":"/etc/passwd"}""", "leaves the repository")]
    [InlineData("""{"type":"file","oid":"0123456789abcdef0123456789abcdef01234567","size":-1,"path":"a.txt"}""", "valid size")]
    [InlineData("""{"type":"file","oid":"../x","size":3,"path":"a.txt"}""", "git blob id")]
    [InlineData("""{"type":"file","oid":"0123456789abcdef0123456789abcdef01234567","size":3,"path":"a.bin","lfs":{"oid":"../../x","size":3}}""", "SHA-256")]
    public async Task A_hostile_listing_entry_is_refused_before_anything_is_written(string entry, string expected)
    {
        using var hub = new HubFixture();
        hub.Server.ExtraListingEntries.Add(entry);

        var error = await Assert.ThrowsAsync<ModelDownloadException>(() => hub.DownloadAsync("hf:owner/model", ct: TestContext.Current.CancellationToken));

        Assert.Equal(DownloadFailure.BadResponse, error.Failure);
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
        Assert.Empty(hub.CacheEntries());
    }

    [Fact]
    public async Task Offline_the_cached_snapshot_is_used_without_a_request()
    {
        using var hub = new HubFixture();
        DownloadedModel online = await hub.DownloadAsync("hf:owner/model", ct: TestContext.Current.CancellationToken);
        int requests = hub.Server.Requests.Count;

        DownloadedModel offline = await hub.DownloadAsync("hf:owner/model", hub.Options(offline: true), ct: TestContext.Current.CancellationToken);

        Assert.Equal(requests, hub.Server.Requests.Count);
        Assert.Equal(online.Path, offline.Path);
        Assert.Equal(online.Files.Select(f => f.RelativePath).Order(StringComparer.Ordinal), offline.Files.Select(f => f.RelativePath).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Offline_a_model_not_in_the_cache_is_a_clear_error()
    {
        using var hub = new HubFixture();
        var error = await Assert.ThrowsAsync<ModelDownloadException>(() => hub.DownloadAsync("hf:owner/model@v2", hub.Options(offline: true), ct: TestContext.Current.CancellationToken));

        Assert.Equal(DownloadFailure.NotInCache, error.Failure);
        Assert.Contains("HF_HUB_OFFLINE", error.Message, StringComparison.Ordinal);
        Assert.Empty(hub.Server.Requests);
    }

    [Fact]
    public async Task Downloads_run_in_parallel_up_to_the_bound()
    {
        using var hub = new HubFixture();
        for (int i = 0; i < 8; i++)
            hub.Server.Files[$"extra/file{i}.bin"] = (HubFixture.Bytes(1000, seed: 20 + i), false);
        hub.Server.FileDelay = TimeSpan.FromMilliseconds(150);

        await hub.DownloadAsync("hf:owner/model", hub.Options(parallel: 3), ct: TestContext.Current.CancellationToken);

        Assert.InRange(hub.Server.MaxConcurrentFiles, 2, 3);
    }

    [Fact]
    public async Task Cancelling_stops_the_download_and_keeps_the_partial_file_for_later()
    {
        using var hub = new HubFixture();
        hub.Server.FileDelay = TimeSpan.FromSeconds(5);
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        cancel.CancelAfter(TimeSpan.FromMilliseconds(300));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => hub.DownloadAsync("hf:owner/model", ct: cancel.Token));

        Assert.False(File.Exists(Path.Combine(hub.RepositoryFolder, "snapshots", FakeModelServer.Commit, "unet", "model.onnx")));
        Assert.DoesNotContain(hub.CacheEntries(), e => e.Contains("/blobs/", StringComparison.Ordinal) && !e.EndsWith(".incomplete", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Progress_reports_every_file_up_to_its_size()
    {
        using var hub = new HubFixture();
        var progress = new List<DownloadProgress>();
        await hub.DownloadAsync("hf:owner/model", progress: new SynchronousProgress<DownloadProgress>(p => { lock (progress) progress.Add(p); }),
            ct: TestContext.Current.CancellationToken);

        foreach (var (path, (content, _)) in hub.Server.Files)
            Assert.Contains(progress, p => p.File == path && p.BytesDone == content.Length && p.BytesTotal == content.Length);
    }
}
