using System.Buffers.Binary;

namespace Diffusion.Core.Tests.Models;

/// <summary>
/// The tiny UNet/ControlNet fixtures of <c>TestData/controlnet</c> (written by
/// tools/reference-data/controlnet/generate_controlnet_fixtures.py, which documents the models) and their torch outputs.
/// Reference inputs: batch 2, latents 8×8, control images 64×64, timestep 500.
/// </summary>
internal static class ControlNetFixtures
{
    public const int Batch = 2;
    public const int LatentSize = 8;
    public const float Timestep = 500f;

    public static string Model(string folder) => Path.Combine(AppContext.BaseDirectory, "TestData", "controlnet", folder, "model.onnx");

    public static float[] Reference(string name)
    {
        byte[] bytes = File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "TestData", "controlnet", "reference", name));
        var values = new float[bytes.Length / 4];
        for (int i = 0; i < values.Length; i++)
            values[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(i * 4));
        return values;
    }

    /// <summary>controlnet-a's reference control image: ((7x + 13y + 29c + 31n) % 64) / 63 (reference.json).</summary>
    public static float[] ControlImageA() => ControlImage(7, 13, 29, 31, 64);

    /// <summary>controlnet-b's reference control image: ((11x + 5y + 17c + 3n) % 32) / 31.</summary>
    public static float[] ControlImageB() => ControlImage(11, 5, 17, 3, 32);

    private static float[] ControlImage(int a, int b, int c, int d, int modulus)
    {
        const int size = 8 * LatentSize;
        var values = new float[Batch * 3 * size * size];
        int i = 0;
        for (int n = 0; n < Batch; n++)
            for (int ch = 0; ch < 3; ch++)
                for (int y = 0; y < size; y++)
                    for (int x = 0; x < size; x++)
                        values[i++] = (float)((a * x + b * y + c * ch + d * n) % modulus) / (modulus - 1);
        return values;
    }
}
