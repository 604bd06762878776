using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Diffusion.Hub;

/// <summary>
/// Civitai's public REST API for one model version: <c>GET /api/v1/model-versions/ID</c> →
/// <c>files[]</c> with <c>name</c>, <c>sizeKB</c>, <c>primary</c>, <c>downloadUrl</c> and <c>hashes.SHA256</c>. The
/// primary file is taken (else the only one of type Model). Every field read is checked.
/// </summary>
internal sealed partial class CivitaiApi(HttpExchange exchange, FileTransfer transfer, ModelDownloaderOptions options)
{
    private const int MaxAnswerBytes = 4 << 20;

    public AuthorizedHost Auth => AuthorizedHost.For(options.CivitaiEndpoint, options.CivitaiToken, "CIVITAI_TOKEN");

    public Task<CivitaiFile> PrimaryFileAsync(CivitaiSource source, CancellationToken ct) =>
        transfer.WithRetriesAsync(source.ToString(), async token =>
        {
            var url = new Uri(options.CivitaiEndpoint, $"/api/v1/model-versions/{source.ModelVersionId.ToString(CultureInfo.InvariantCulture)}");
            using HttpResponseMessage response = await exchange.GetAsync(url, Auth, source.ToString(), null, token).ConfigureAwait(false);
            byte[] body = await HttpExchange.ReadBoundedAsync(response, MaxAnswerBytes, source.ToString(), token).ConfigureAwait(false);
            JsonDocument answer;
            try
            {
                answer = JsonDocument.Parse(body, new JsonDocumentOptions { MaxDepth = 32 });
            }
            catch (JsonException ex)
            {
                throw new ModelDownloadException(source.ToString(), DownloadFailure.BadResponse, $"Civitai's answer is not complete JSON: {ex.Message}", ex);
            }
            using (answer)
                return ReadPrimaryFile(answer.RootElement, source);
        }, ct);

    private static CivitaiFile ReadPrimaryFile(JsonElement version, CivitaiSource source)
    {
        ModelDownloadException Bad(string why) => new(source.ToString(), DownloadFailure.BadResponse, $"Civitai's model-version answer {why}.");
        if (version.ValueKind != JsonValueKind.Object || !version.TryGetProperty("files", out JsonElement files) || files.ValueKind != JsonValueKind.Array)
            throw Bad("has no files list");
        JsonElement? chosen = null;
        foreach (JsonElement file in files.EnumerateArray())
            if (file.ValueKind == JsonValueKind.Object && file.TryGetProperty("primary", out JsonElement primary) && primary.ValueKind == JsonValueKind.True)
                chosen ??= file;
        if (chosen is null)
        {
            var models = files.EnumerateArray().Where(f => f.ValueKind == JsonValueKind.Object
                && f.TryGetProperty("type", out JsonElement t) && t.ValueKind == JsonValueKind.String && t.GetString() == "Model").ToList();
            if (models.Count != 1)
                throw Bad($"marks no primary file and lists {models.Count} model files");
            chosen = models[0];
        }
        JsonElement entry = chosen.Value;
        if (!entry.TryGetProperty("name", out JsonElement nameElement) || nameElement.GetString() is not { } name || !ModelDownloader.IsPlainFileName(name))
            throw Bad("names its file with a path or not at all");
        if (!entry.TryGetProperty("downloadUrl", out JsonElement urlElement) || !Uri.TryCreate(urlElement.GetString(), UriKind.Absolute, out Uri? downloadUrl)
            || (downloadUrl.Scheme != Uri.UriSchemeHttps && !downloadUrl.IsLoopback))
            throw Bad($"gives no https download address for {name}");
        if (!entry.TryGetProperty("hashes", out JsonElement hashes) || hashes.ValueKind != JsonValueKind.Object
            || !hashes.TryGetProperty("SHA256", out JsonElement shaElement) || shaElement.GetString() is not { } sha256 || !Sha256Hex().IsMatch(sha256))
            throw new ModelDownloadException(source.ToString(), DownloadFailure.BadResponse,
                $"Civitai publishes no SHA-256 for {name}, so the download could not be verified; download it by its address (an https:// source) with --sha256 if you know the hash.");
        double? sizeKB = entry.TryGetProperty("sizeKB", out JsonElement size) && size.TryGetDouble(out double kb) ? kb : null;
        return new CivitaiFile(name, sha256.ToLowerInvariant(), downloadUrl, sizeKB);
    }

    [GeneratedRegex("^[0-9a-fA-F]{64}$")]
    private static partial Regex Sha256Hex();
}
