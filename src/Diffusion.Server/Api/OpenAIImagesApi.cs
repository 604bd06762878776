using System.Globalization;
using System.Text.Json.Serialization;
using Diffusion.Server.Jobs;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Diffusion.Server.Api;

/// <summary>
/// OpenAI's <c>POST /v1/images/generations</c> with the original's request and response shapes (the official SDKs
/// work when pointed at this server's base URL): <c>prompt</c>, <c>n</c>, <c>size</c> ("WIDTHxHEIGHT"),
/// <c>response_format</c> <c>b64_json</c> or <c>url</c> (a link to the native API's image); errors in OpenAI's
/// <c>{"error": {message, type, param, code}}</c> form.
/// </summary>
internal static class OpenAIImagesApi
{
    public sealed record ImageGenerationRequest
    {
        [JsonPropertyName("prompt")] public string? Prompt { get; init; }
        [JsonPropertyName("model")] public string? Model { get; init; }
        [JsonPropertyName("n")] public int? Count { get; init; }
        [JsonPropertyName("size")] public string? Size { get; init; }
        [JsonPropertyName("response_format")] public string? ResponseFormat { get; init; }
        [JsonPropertyName("quality")] public string? Quality { get; init; }
        [JsonPropertyName("style")] public string? Style { get; init; }
        [JsonPropertyName("user")] public string? User { get; init; }
    }

    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapPost("/v1/images/generations", Generate).WithTags("openai");
    }

    private static async Task<IResult> Generate(ImageGenerationRequest body, JobSubmission submission, Hosting.IModelInfo model, HttpContext context)
    {
        if (string.IsNullOrWhiteSpace(body.Prompt))
            return Error("prompt", "prompt is required.");
        if (body.Model is { Length: > 0 } asked && asked != model.ModelName)
            return Error("model", $"this server runs '{model.ModelName}' only; ask for it or leave model out.");
        string format = body.ResponseFormat ?? "url";
        if (format is not ("url" or "b64_json"))
            return Error("response_format", $"'{format}' is not one of 'url', 'b64_json'.");
        int? width = null, height = null;
        if (body.Size is { } size && size != "auto")
        {
            string[] parts = size.Split('x');
            if (parts.Length != 2 || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int w)
                || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int h))
                return Error("size", $"'{size}' is not WIDTHxHEIGHT.");
            (width, height) = (w, h);
        }
        var request = new GenerationRequest { Prompt = body.Prompt, BatchSize = body.Count ?? 1, Width = width, Height = height };
        (GenerationJob? job, IResult? refusal) = submission.Submit(request);
        if (refusal is not null)
            return refusal is IStatusCodeHttpResult { StatusCode: 400 } and IValueHttpResult { Value: Microsoft.AspNetCore.Mvc.ProblemDetails problem }
                ? Error(OpenAIParam(problem.Extensions.TryGetValue("field", out object? field) ? field as string : null), problem.Detail ?? "the request is outside this server's limits.")
                : refusal;
        using (context.RequestAborted.Register(() => submission.Cancel(job!)))
            await job!.Completion.WaitAsync(context.RequestAborted).ConfigureAwait(false);
        if (job.State != JobState.Succeeded)
            return Results.Json(new { error = new { message = job.Error ?? "the generation did not finish.", type = "server_error", param = (string?)null, code = (string?)null } },
                statusCode: job.State == JobState.Cancelled ? StatusCodes.Status503ServiceUnavailable : StatusCodes.Status500InternalServerError);
        string origin = $"{context.Request.Scheme}://{context.Request.Host}";
        return Results.Json(new
        {
            created = job.Created.ToUnixTimeSeconds(),
            data = Enumerable.Range(0, job.Images.Count).Select(i => format == "b64_json"
                ? (object)new { b64_json = Convert.ToBase64String(job.Images[i]), revised_prompt = body.Prompt }
                : new { url = $"{origin}/api/v1/jobs/{job.Id}/images/{i}", revised_prompt = body.Prompt }).ToList(),
        });
    }

    /// <summary>The OpenAI request field a server-side limit came from.</summary>
    private static string? OpenAIParam(string? field) => field switch
    {
        "width" or "height" => "size",
        "batch_size" => "n",
        _ => field,
    };

    private static IResult Error(string? param, string message) =>
        Results.Json(new { error = new { message, type = "invalid_request_error", param, code = (string?)null } }, statusCode: StatusCodes.Status400BadRequest);
}
