using System.Buffers.Binary;
using System.Text;

namespace Diffusion.Core.Tests.Weights;

/// <summary>Writes hand-made (possibly malformed) safetensors files into a temporary folder for tests.</summary>
internal static class SafeTensorsTestFile
{
    private static readonly string s_folder = Directory.CreateTempSubdirectory("diffusion-core-safetensors-").FullName;

    /// <summary>Writes <c>[header length][header][data]</c>; <paramref name="declaredHeaderLength"/> overrides the length field.</summary>
    public static string Write(string fileName, string headerJson, byte[] data, ulong? declaredHeaderLength = null)
    {
        byte[] header = Encoding.UTF8.GetBytes(headerJson);
        var bytes = new byte[8 + header.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, declaredHeaderLength ?? (ulong)header.Length);
        header.CopyTo(bytes, 8);
        data.CopyTo(bytes, 8 + header.Length);
        return WriteBytes(fileName, bytes);
    }

    public static string WriteBytes(string fileName, byte[] bytes)
    {
        string path = Path.Combine(s_folder, fileName);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    /// <summary>Little-endian float32 bytes.</summary>
    public static byte[] Floats(params float[] values)
    {
        var bytes = new byte[values.Length * 4];
        for (int i = 0; i < values.Length; i++)
            BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), values[i]);
        return bytes;
    }
}
