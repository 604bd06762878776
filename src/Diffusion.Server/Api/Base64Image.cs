namespace Diffusion.Server.Api;

/// <summary>An image sent in JSON: plain base64 or a <c>data:image/…;base64,</c> URL, as A1111 clients and browsers send it.</summary>
internal static class Base64Image
{
    /// <summary>The bytes, or null when the text is not base64.</summary>
    public static byte[]? Decode(string text)
    {
        string payload = text.StartsWith("data:", StringComparison.Ordinal) && text.Contains(',', StringComparison.Ordinal)
            ? text[(text.IndexOf(',', StringComparison.Ordinal) + 1)..]
            : text;
        byte[] bytes = new byte[payload.Length * 3 / 4 + 3];
        return Convert.TryFromBase64String(payload, bytes, out int length) ? bytes[..length] : null;
    }
}
