using Diffusion.Testing;

namespace Diffusion.Hub.Tests;

public sealed class CacheLayoutAndResumeTests
{
    [Fact]
    public async Task The_cache_equals_the_tree_huggingface_hub_s_layout_gives()
    {
        using var hub = new HubFixture();
        await hub.DownloadAsync("hf:owner/model", ct: TestContext.Current.CancellationToken);

        // TestData/expected-cache-tree.txt: written by tools/reference-data/hub-cache/expected_cache_tree.py from the
        // documented layout, independently of this code.
        string[] expected = File.ReadAllLines(Path.Combine(AppContext.BaseDirectory, "TestData", "expected-cache-tree.txt"));
        Assert.Equal(expected, Describe(hub.HubCache));
    }

    [Fact]
    public async Task A_download_interrupted_at_half_transfers_only_the_rest_when_restarted()
    {
        using var hub = new HubFixture();
        hub.Server.Drops["unet/model.onnx"] = (AfterBytes: 150_000, Times: 1);

        // First run: no retries, so the drop at 50 % ends it (as a killed process or a lost network would).
        var error = await Assert.ThrowsAsync<ModelDownloadException>(() => hub.DownloadAsync("hf:owner/model", hub.Options(retries: 0), ct: TestContext.Current.CancellationToken));
        Assert.Equal(DownloadFailure.Unavailable, error.Failure);
        Assert.Equal(150_000, hub.Server.BytesSent["unet/model.onnx"]);

        DownloadedModel model = await hub.DownloadAsync("hf:owner/model", ct: TestContext.Current.CancellationToken);

        Assert.Equal(300_000, hub.Server.BytesSent["unet/model.onnx"]); // 150,000 before + the remaining 150,000
        Assert.Equal(hub.Server.Files["unet/model.onnx"].Content, File.ReadAllBytes(Path.Combine(model.Path, "unet", "model.onnx")));
    }

    [Fact]
    public async Task A_full_disk_is_a_storage_error_that_keeps_what_was_written_for_the_next_run()
    {
        using var hub = new HubFixture();
        var options = hub.Options();
        using (var downloader = new ModelDownloader(options, null, path => new FullDiskStream(path, capacity: 100_000)))
        {
            var error = await Assert.ThrowsAsync<ModelDownloadException>(() =>
                downloader.DownloadAsync(ModelSource.Parse("hf:owner/model:unet"), null, TestContext.Current.CancellationToken));
            Assert.Equal(DownloadFailure.Storage, error.Failure);
            Assert.Contains("No space left on device", error.Message, StringComparison.Ordinal);
            Assert.Contains(".incomplete", error.Message, StringComparison.Ordinal);
        }
        string blob = Path.Combine(hub.RepositoryFolder, "blobs", FakeModelServer.Sha256(hub.Server.Files["unet/model.onnx"].Content));
        Assert.False(File.Exists(blob));
        Assert.False(File.Exists(Path.Combine(hub.RepositoryFolder, "snapshots", FakeModelServer.Commit, "unet", "model.onnx")));
        long kept = new FileInfo(blob + ".incomplete").Length;
        Assert.InRange(kept, 1, 100_000);

        // Space freed: the next run resumes from what the first one wrote.
        DownloadedModel model = await hub.DownloadAsync("hf:owner/model:unet", ct: TestContext.Current.CancellationToken);
        Assert.Equal(hub.Server.Files["unet/model.onnx"].Content, File.ReadAllBytes(Path.Combine(model.Path, "model.onnx")));
        Assert.Contains(hub.Server.Requests, r => r.Range == $"bytes={kept}-");
    }

    /// <summary>Every cache entry as the expected tree writes it: blobs with sizes, links with targets, refs with contents.</summary>
    private static string[] Describe(string cache) =>
        [.. Directory.EnumerateFileSystemEntries(cache, "*", SearchOption.AllDirectories)
            .Where(path => File.Exists(path) || new FileInfo(path).LinkTarget is not null)
            .Select(path =>
            {
                string relative = Path.GetRelativePath(cache, path).Replace('\\', '/');
                var info = new FileInfo(path);
                if (info.LinkTarget is { } target)
                    return $"{relative} -> {target.Replace('\\', '/')}";
                if (relative.Contains("/refs/", StringComparison.Ordinal))
                    return $"{relative} = {File.ReadAllText(path)}";
                return $"{relative} ({info.Length} bytes)";
            })
            .Order(StringComparer.Ordinal)];

    /// <summary>A partial file on a disk with room for <c>capacity</c> bytes: the next write fails as ENOSPC does.</summary>
    private sealed class FullDiskStream(string path, long capacity)
        : FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None)
    {
        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (Position + buffer.Length > capacity)
            {
                int room = (int)Math.Max(0, capacity - Position);
                base.Write(buffer.Span[..room]);
                throw new IOException("No space left on device", 28);
            }
            return base.WriteAsync(buffer, cancellationToken);
        }
    }
}
