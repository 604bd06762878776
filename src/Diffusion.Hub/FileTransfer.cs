using System.Net;
using Polly;
using Polly.Retry;

namespace Diffusion.Hub;

/// <summary>
/// Fetches one file into place: bytes go to <c>DESTINATION.incomplete</c> (kept between runs, so a later run resumes it
/// with an HTTP Range request), are hashed as they arrive, and only a file whose size and hash match what the source
/// published is moved to its final name. A mismatch deletes the partial file. Dropped, stalled or refused (429/5xx)
/// connections are retried with exponential backoff by a Polly pipeline, each retry resuming where the file ends.
/// </summary>
internal sealed class FileTransfer
{
    private const int BufferSize = 1 << 20;
    private readonly HttpExchange _exchange;
    private readonly ModelDownloaderOptions _options;
    private readonly ResiliencePipeline _retry;

    private readonly Func<string, Stream> _openPartial;

    /// <param name="exchange">The HTTP side.</param>
    /// <param name="options">Retries and timeouts.</param>
    /// <param name="openPartial">Opens a partial file for reading and appending, exclusively (the storage seam: tests inject a
    /// full disk or a failing write through it); null for the real file system.</param>
    public FileTransfer(HttpExchange exchange, ModelDownloaderOptions options, Func<string, Stream>? openPartial = null)
    {
        _exchange = exchange;
        _options = options;
        _retry = RetryPipeline(options);
        // FileShare.None: a second process fetching the same file fails here instead of interleaving bytes.
        _openPartial = openPartial ?? (path => new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.SequentialScan));
    }

    /// <summary>The pipeline every request of a download runs in: transient failures retried, backing off exponentially.</summary>
    public static ResiliencePipeline RetryPipeline(ModelDownloaderOptions options) =>
        options.MaxRetries == 0
            ? ResiliencePipeline.Empty
            : new ResiliencePipelineBuilder().AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = new PredicateBuilder().Handle<TransientDownloadException>(),
                MaxRetryAttempts = options.MaxRetries,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = options.RetryDelay,
                MaxDelay = options.MaxRetryAfter,
                DelayGenerator = args => new ValueTask<TimeSpan?>(
                    args.Outcome.Exception is TransientDownloadException { RetryAfter: TimeSpan wait } ? wait : null),
            }).Build();

    /// <summary>Runs <paramref name="action"/> with retries, mapping a transient failure that outlived them to a typed error.</summary>
    public async Task<T> WithRetriesAsync<T>(string source, Func<CancellationToken, ValueTask<T>> action, CancellationToken ct)
    {
        try
        {
            return await _retry.ExecuteAsync(action, ct).ConfigureAwait(false);
        }
        catch (TransientDownloadException ex)
        {
            bool rateLimited = ex.Status == HttpStatusCode.TooManyRequests;
            throw new ModelDownloadException(source, rateLimited ? DownloadFailure.RateLimited : DownloadFailure.Unavailable,
                rateLimited
                    ? $"{ex.Message}, and kept refusing after {_options.MaxRetries} retries: the service is rate-limiting this address; wait a while and run again (the partial file is kept and resumes)."
                    : $"{ex.Message}, still after {_options.MaxRetries} retries; run again later (the partial file is kept and resumes).",
                ex);
        }
    }

    /// <summary>Downloads <paramref name="url"/> to <paramref name="destination"/> (which must not exist yet) and returns its SHA-256.</summary>
    public async Task<string> DownloadAsync(Uri url, AuthorizedHost? auth, string destination, ExpectedContent expected, string source,
        string displayName, IProgress<DownloadProgress>? progress, CancellationToken ct)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(destination)!);
        string partial = destination + ".incomplete";
        Stream file;
        try
        {
            file = _openPartial(partial);
        }
        catch (IOException ex)
        {
            throw new ModelDownloadException(source, DownloadFailure.Storage, $"cannot write {partial}: {ex.Message} (is another download of it running?)", ex);
        }
        catch (UnauthorizedAccessException ex)
        {
            throw new ModelDownloadException(source, DownloadFailure.Storage, $"cannot write {partial}: {ex.Message}", ex);
        }

        var hasher = new ContentHasher(expected.GitBlobSha1 is null ? null : expected.Size);
        bool keepPartial = true;
        try
        {
            if (expected.Size is long size && file.Length > size)
                file.SetLength(0); // longer than the published file: not a prefix of it
            await WithRetriesAsync(source, async token =>
            {
                await FetchRemainderAsync(url, auth, file, partial, hasher, expected, source, displayName, progress, token).ConfigureAwait(false);
                return true;
            }, ct).ConfigureAwait(false);

            if (expected.Size is long want && file.Length != want)
                throw Mismatch(source, displayName, $"is {file.Length} bytes; the source published {want}", ref keepPartial);
            string sha256 = hasher.Sha256();
            if (expected.Sha256 is { } wantSha && !string.Equals(sha256, wantSha, StringComparison.OrdinalIgnoreCase))
                throw Mismatch(source, displayName, $"has SHA-256 {sha256}; the source published {wantSha.ToLowerInvariant()}", ref keepPartial);
            if (expected.GitBlobSha1 is { } wantBlob && !string.Equals(hasher.GitBlobSha1(), wantBlob, StringComparison.OrdinalIgnoreCase))
                throw Mismatch(source, displayName, $"has git blob id {hasher.GitBlobSha1()}; the source published {wantBlob.ToLowerInvariant()}", ref keepPartial);

            try
            {
                await file.FlushAsync(ct).ConfigureAwait(false);
                if (file is FileStream onDisk)
                    onDisk.Flush(flushToDisk: true);
                await file.DisposeAsync().ConfigureAwait(false);
                File.Move(partial, destination, overwrite: true);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                throw new ModelDownloadException(source, DownloadFailure.Storage, $"cannot finish {destination}: {ex.Message}", ex);
            }
            keepPartial = false;
            return sha256;
        }
        catch (ModelDownloadException ex) when (ex.Failure == DownloadFailure.IntegrityMismatch)
        {
            keepPartial = false;
            throw;
        }
        finally
        {
            hasher.Dispose();
            await file.DisposeAsync().ConfigureAwait(false);
            if (!keepPartial && File.Exists(partial))
                File.Delete(partial);
        }
    }

    private static ModelDownloadException Mismatch(string source, string displayName, string what, ref bool keepPartial)
    {
        keepPartial = false; // a wrong file is never resumed or used
        return new ModelDownloadException(source, DownloadFailure.IntegrityMismatch, $"{displayName} {what}; it was deleted and nothing was cached.");
    }

    /// <summary>One attempt: asks for the bytes after what the file holds and appends them, hashing as it goes.</summary>
    private async Task FetchRemainderAsync(Uri url, AuthorizedHost? auth, Stream file, string partialName, ContentHasher hasher, ExpectedContent expected,
        string source, string displayName, IProgress<DownloadProgress>? progress, CancellationToken ct)
    {
        if (hasher.Length != file.Length)
            await RehashAsync(file, hasher, ct).ConfigureAwait(false);
        long start = file.Length;
        if (expected.Size is long size && start == size && size > 0)
            return; // a complete partial file from an earlier run: verified by the caller

        using HttpResponseMessage response = await _exchange.GetAsync(url, auth, source,
            start > 0 ? h => h.Range = new System.Net.Http.Headers.RangeHeaderValue(start, null) : null, ct).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable)
        {
            // The server holds no bytes past ours: either the file is complete (checked by the caller) or ours is not a prefix.
            if (expected.Size is null || start != expected.Size)
            {
                file.SetLength(0);
                hasher.Reset();
                throw new TransientDownloadException($"{url.Host} refused to resume {displayName} at byte {start}; starting over");
            }
            return;
        }
        if (response.StatusCode == HttpStatusCode.PartialContent)
        {
            if (response.Content.Headers.ContentRange is not { From: long from } || from != start)
                throw new ModelDownloadException(source, DownloadFailure.BadResponse, $"{url.Host} sent a range of {displayName} that does not start at byte {start}.");
        }
        else if (start > 0)
        {
            // 200 to a Range request: the server sends the whole file, so the partial one starts over.
            file.SetLength(0);
            hasher.Reset();
            start = 0;
        }
        long? total = response.Content.Headers.ContentLength is long length ? start + length : expected.Size;
        if (expected.Size is long published && total is long announced && announced != published)
            throw new ModelDownloadException(source, DownloadFailure.IntegrityMismatch,
                $"{url.Host} announced {announced} bytes for {displayName}; the source published {published}. Nothing was cached.");

        file.Seek(start, SeekOrigin.Begin);
        await using Stream body = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
        byte[] buffer = new byte[BufferSize];
        long done = start, lastReport = -1;
        progress?.Report(new DownloadProgress(displayName, done, total));
        using var stall = CancellationTokenSource.CreateLinkedTokenSource(ct);
        while (true)
        {
            int read;
            try
            {
                stall.CancelAfter(_options.StallTimeout);
                read = await body.ReadAsync(buffer, stall.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException ex) when (!ct.IsCancellationRequested)
            {
                throw new TransientDownloadException($"{url.Host} sent nothing for {_options.StallTimeout.TotalSeconds:0} s while sending {displayName}", inner: ex);
            }
            catch (Exception ex) when (ex is IOException or HttpRequestException)
            {
                throw new TransientDownloadException($"the connection to {url.Host} dropped during {displayName} at byte {done}", inner: ex);
            }
            if (read == 0)
                break;
            if (expected.Size is long limit && done + read > limit)
                throw new ModelDownloadException(source, DownloadFailure.IntegrityMismatch,
                    $"{url.Host} sent more than the {limit} bytes published for {displayName}. Nothing was cached.");
            await WriteAsync(file, partialName, buffer.AsMemory(0, read), source, ct).ConfigureAwait(false);
            hasher.Append(buffer.AsSpan(0, read));
            done += read;
            if (done - lastReport >= BufferSize * 4L || lastReport < 0)
            {
                progress?.Report(new DownloadProgress(displayName, done, total));
                lastReport = done;
            }
        }
        progress?.Report(new DownloadProgress(displayName, done, total));
        if (response.Content.Headers.ContentLength is long sent && done - start != sent)
            throw new TransientDownloadException($"the connection to {url.Host} ended {displayName} early at byte {done}");
    }

    private static async Task WriteAsync(Stream file, string partialName, ReadOnlyMemory<byte> data, string source, CancellationToken ct)
    {
        try
        {
            await file.WriteAsync(data, ct).ConfigureAwait(false);
        }
        catch (IOException ex)
        {
            // A full disk or a failing device: not retried; the bytes written so far stay for a later run to resume.
            throw new ModelDownloadException(source, DownloadFailure.Storage, $"cannot write {partialName}: {ex.Message}", ex);
        }
    }

    /// <summary>Hashes what an earlier run (or attempt) left in the partial file, so the final hash covers every byte.</summary>
    private static async Task RehashAsync(Stream file, ContentHasher hasher, CancellationToken ct)
    {
        hasher.Reset();
        file.Seek(0, SeekOrigin.Begin);
        byte[] buffer = new byte[BufferSize];
        int read;
        while ((read = await file.ReadAsync(buffer, ct).ConfigureAwait(false)) > 0)
            hasher.Append(buffer.AsSpan(0, read));
    }
}
