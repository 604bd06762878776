using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;

namespace Diffusion.Server.Api;

/// <summary>
/// Turns a body the endpoints cannot read — JSON of the wrong type or shape, or a body over the size limit — into a
/// JSON error naming the field (the JSON path's first member), in the API's own error shape: OpenAI's for <c>/v1/</c>,
/// problem details elsewhere. Without it ASP.NET answers such requests with an empty 400 or 413.
/// </summary>
internal sealed class RequestBodyErrors(RequestDelegate next, IOptions<ServerOptions> options)
{
    public async Task InvokeAsync(HttpContext context)
    {
        // A declared length over the limit is answered before any of the body is read (the endpoints would only see
        // an I/O error and answer with an empty 413); a chunked body over it still stops at the limit.
        if (context.Request.ContentLength > options.Value.MaxRequestBytes)
        {
            await Answer(context, StatusCodes.Status413PayloadTooLarge, null, TooLarge()).ConfigureAwait(false);
            return;
        }
        try
        {
            await next(context).ConfigureAwait(false);
        }
        catch (BadHttpRequestException ex) when (!context.Response.HasStarted)
        {
            JsonException? json = Find<JsonException>(ex);
            string? field = json?.Path is { } path ? FieldOf(path) : null;
            string message = ex.StatusCode == StatusCodes.Status413PayloadTooLarge
                ? TooLarge()
                : json is not null
                    ? $"{field ?? "the body"} has the wrong type or shape: {json.Message}"
                    : ex.Message;
            await Answer(context, ex.StatusCode, field, message).ConfigureAwait(false);
        }
    }

    private string TooLarge() =>
        $"the request body is over {options.Value.MaxRequestBytes:N0} bytes (images at most {options.Value.MaxImageBytes:N0} bytes each).";

    private static Task Answer(HttpContext context, int status, string? field, string message)
    {
        IResult answer = context.Request.Path.StartsWithSegments("/v1", StringComparison.Ordinal)
            ? Results.Json(new { error = new { message, type = "invalid_request_error", param = field, code = (string?)null } }, statusCode: status)
            : Results.Problem(title: status == StatusCodes.Status413PayloadTooLarge ? "request too large" : "invalid request", detail: message,
                statusCode: status, extensions: new Dictionary<string, object?> { ["field"] = field });
        return answer.ExecuteAsync(context);
    }

    /// <summary><c>$.steps</c> → <c>steps</c>; <c>$.init_images[0]</c> → <c>init_images</c>; <c>$</c> → null.</summary>
    internal static string? FieldOf(string path)
    {
        if (!path.StartsWith("$.", StringComparison.Ordinal) && !path.StartsWith("$['", StringComparison.Ordinal))
            return null;
        string rest = path.StartsWith("$['", StringComparison.Ordinal) ? path[3..] : path[2..];
        int end = rest.IndexOfAny(['.', '[', '\'']);
        return end < 0 ? rest : end == 0 ? null : rest[..end];
    }

    private static T? Find<T>(Exception ex) where T : Exception
    {
        for (Exception? e = ex; e is not null; e = e.InnerException)
            if (e is T found)
                return found;
        return null;
    }
}
