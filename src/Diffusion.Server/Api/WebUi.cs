using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Diffusion.Server.Api;

/// <summary>
/// The web page at <c>/</c>: one HTML file with its CSS and script inline, embedded in the assembly (no JavaScript build
/// chain, nothing fetched from elsewhere). It uses only the public APIs: the native jobs API and its events for
/// generation, A1111's lists for samplers and LoRAs.
/// </summary>
internal static class WebUi
{
    private static readonly Lazy<byte[]> s_page = new(() =>
    {
        using Stream stream = typeof(WebUi).Assembly.GetManifestResourceStream("Diffusion.Server.WebUi.index.html")
            ?? throw new InvalidOperationException("the web page is missing from the assembly's resources.");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    });

    public static void Map(IEndpointRouteBuilder app)
    {
        // The page itself holds no secret; the API key is asked for on the page and sent with each call.
        app.MapGet("/", () => Results.Bytes(s_page.Value, "text/html; charset=utf-8")).ExcludeFromDescription();
    }
}
