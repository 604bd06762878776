using Diffusion.Core.Randomness;

namespace Diffusion.Core.Tests.Randomness;

public sealed class CephesBoxMullerTests
{
    [Fact]
    public void The_vectorized_and_scalar_paths_give_identical_bits()
    {
        // The scalar path is what non-AVX2 machines run; both must reproduce torch's AVX2 kernel exactly.
        const int length = 1 << 16;
        var uniforms = new float[length];
        var state = 12345u;
        for (int i = 0; i < length; i++)
        {
            state = state * 1664525u + 1013904223u;
            uniforms[i] = (state >> 8) * (1f / (1 << 24));
        }
        // The range ends: u = 0 (log(1) = 0, theta = 0) and u = 1 - 2^-24 (smallest log argument, largest theta).
        uniforms[0] = 0f;
        uniforms[8] = 0f;
        uniforms[1] = 1f - 1f / (1 << 24);
        uniforms[9] = 1f - 1f / (1 << 24);

        float[] vectorized = (float[])uniforms.Clone();
        float[] scalar = (float[])uniforms.Clone();
        CephesBoxMuller.TransformBlocks(vectorized, allowVectorized: true);
        CephesBoxMuller.TransformBlocks(scalar, allowVectorized: false);
        for (int i = 0; i < length; i++)
            Assert.True(BitConverter.SingleToInt32Bits(vectorized[i]) == BitConverter.SingleToInt32Bits(scalar[i]),
                $"element {i} (u = {uniforms[i]:R}): vectorized {vectorized[i]:R}, scalar {scalar[i]:R}");
        Assert.Equal(0f, scalar[0]);
        Assert.Equal(0f, scalar[8]);
    }

    [Fact]
    public void Log_is_accurate_over_the_Box_Muller_range()
    {
        // Cephes logf: within a few float ulps of the true log on [2^-24, 1].
        double worst = 0;
        for (int k = 1; k <= 1 << 24; k += 97)
        {
            float x = k * (1f / (1 << 24));
            worst = Math.Max(worst, Math.Abs(CephesBoxMuller.Log(x) - Math.Log(x)));
        }
        Assert.InRange(worst, 0, 2e-6);
    }

    [Fact]
    public void SinCos_is_accurate_over_a_full_turn()
    {
        double worst = 0;
        for (int k = 0; k < 1 << 20; k += 7)
        {
            float x = k * (6.28318548f / (1 << 20));
            CephesBoxMuller.SinCos(x, out float sine, out float cosine);
            worst = Math.Max(worst, Math.Max(Math.Abs(sine - Math.Sin(x)), Math.Abs(cosine - Math.Cos(x))));
        }
        Assert.InRange(worst, 0, 2e-7);
    }
}
