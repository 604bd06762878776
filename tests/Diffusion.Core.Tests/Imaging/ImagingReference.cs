using System.Text.Json;
using Diffusion.Core.Imaging;

namespace Diffusion.Core.Tests.Imaging;

/// <summary>
/// TestData/imaging/imaging-reference.json, written by tools/reference-data/imaging/make_imaging_reference.py
/// from torch 1.13 / numpy 1.24 / Pillow 9.4 running diffusers' VaeImageProcessor steps.
/// </summary>
internal static class ImagingReference
{
    private static readonly Lazy<JsonDocument> s_document = new(() =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "TestData", "imaging", "imaging-reference.json"))));

    public static JsonElement Root => s_document.Value.RootElement;

    /// <summary>Little-endian float32 values stored as base64.</summary>
    public static float[] Floats(JsonElement element)
        => System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(Bytes(element)).ToArray();

    /// <summary>Raw bytes stored as base64.</summary>
    public static byte[] Bytes(JsonElement element) => Convert.FromBase64String(element.GetString()!);

    /// <summary>The seeded random 23×17 source image the resize cases start from.</summary>
    public static ImageBuffer Source
    {
        get
        {
            JsonElement source = Root.GetProperty("source");
            return new ImageBuffer(source.GetProperty("width").GetInt32(), source.GetProperty("height").GetInt32(), Bytes(source.GetProperty("pixels")));
        }
    }
}
