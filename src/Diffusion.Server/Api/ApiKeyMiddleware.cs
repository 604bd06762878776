using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;

namespace Diffusion.Server.Api;

/// <summary>
/// When API keys are configured, every request but <c>/health</c>, <c>/ready</c> and the web page (<c>/</c>, which asks
/// for the key and sends it with its calls) needs one, as
/// <c>Authorization: Bearer KEY</c> (what OpenAI's SDKs send) or <c>X-Api-Key: KEY</c>; compared in constant time.
/// </summary>
internal sealed class ApiKeyMiddleware(RequestDelegate next, IOptions<ServerOptions> options)
{
    public Task InvokeAsync(HttpContext context)
    {
        IList<string> keys = options.Value.ApiKeys;
        if (keys.Count == 0 || context.Request.Path.StartsWithSegments("/health") || context.Request.Path.StartsWithSegments("/ready")
            || context.Request.Path == "/")
            return next(context);
        string? given = context.Request.Headers["X-Api-Key"].FirstOrDefault();
        string? authorization = context.Request.Headers.Authorization.FirstOrDefault();
        if (given is null && authorization is not null && authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
            given = authorization["Bearer ".Length..].Trim();
        if (given is not null && keys.Any(key => CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(key), Encoding.UTF8.GetBytes(given))))
            return next(context);
        context.Response.StatusCode = StatusCodes.Status401Unauthorized;
        context.Response.Headers.WWWAuthenticate = "Bearer";
        return context.Response.WriteAsJsonAsync(new { error = new { message = "an API key is required: send Authorization: Bearer KEY or X-Api-Key: KEY.", type = "invalid_request_error" } });
    }
}
