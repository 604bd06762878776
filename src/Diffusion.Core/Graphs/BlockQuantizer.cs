namespace Diffusion.Core.Graphs;

/// <summary>
/// Block-wise asymmetric round-to-nearest quantisation of a row-major [rows, columns] matrix in ONNX Runtime's
/// <c>MatMulNBits</c> layout (see <see cref="LinearWeightQuantizer"/> for the scheme).
/// </summary>
internal static class BlockQuantizer
{
    /// <summary>
    /// Quantises <paramref name="weights"/> into <paramref name="data"/> ([rows, blocks, 32·bits/8]; at 4 bits the even
    /// element of each pair in the low nibble), <paramref name="scales"/> ([rows·blocks]) and <paramref name="zeroPoints"/>
    /// ([rows·blocks] bytes at 8 bits; at 4 bits [rows, ⌈blocks/2⌉] with the even block in the low nibble). The last block
    /// of a row is padded with its zero point.
    /// </summary>
    public static void Quantize(ReadOnlySpan<float> weights, int rows, int columns, int bits, Span<byte> data, Span<float> scales, Span<byte> zeroPoints)
    {
        const int block = LinearWeightQuantizer.BlockSize;
        int blocks = (columns + block - 1) / block;
        int maxCode = (1 << bits) - 1;
        int zeroRowBytes = bits == 8 ? blocks : (blocks + 1) / 2;
        Span<byte> codes = stackalloc byte[block];
        zeroPoints.Clear();
        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<float> row = weights.Slice(r * columns, columns);
            for (int b = 0; b < blocks; b++)
            {
                int start = b * block, count = Math.Min(block, columns - start);
                ReadOnlySpan<float> values = row.Slice(start, count);
                float min = 0f, max = 0f;
                foreach (float v in values)
                {
                    min = MathF.Min(min, v);
                    max = MathF.Max(max, v);
                }
                float scale = (max - min) / maxCode;
                int zero = scale == 0f ? 0 : (int)Math.Clamp(MathF.Round(-min / scale, MidpointRounding.ToEven), 0, maxCode);
                float inverse = scale == 0f ? 0f : 1f / scale;
                for (int i = 0; i < block; i++)
                    codes[i] = i < count ? (byte)Math.Clamp((int)MathF.Round(values[i] * inverse, MidpointRounding.ToEven) + zero, 0, maxCode) : (byte)zero;
                scales[r * blocks + b] = scale;
                if (bits == 8)
                {
                    codes.CopyTo(data.Slice((r * blocks + b) * block, block));
                    zeroPoints[r * blocks + b] = (byte)zero;
                }
                else
                {
                    Span<byte> packed = data.Slice((r * blocks + b) * (block / 2), block / 2);
                    for (int i = 0; i < block / 2; i++)
                        packed[i] = (byte)(codes[2 * i] | (codes[2 * i + 1] << 4));
                    zeroPoints[r * zeroRowBytes + b / 2] |= (byte)(zero << (4 * (b % 2)));
                }
            }
        }
    }

    /// <summary>The values <paramref name="data"/> stands for, (q − z)·s, for tests and error measurements.</summary>
    public static float[] Dequantize(ReadOnlySpan<byte> data, ReadOnlySpan<float> scales, ReadOnlySpan<byte> zeroPoints, int rows, int columns, int bits)
    {
        const int block = LinearWeightQuantizer.BlockSize;
        int blocks = (columns + block - 1) / block;
        int zeroRowBytes = bits == 8 ? blocks : (blocks + 1) / 2;
        var result = new float[rows * columns];
        for (int r = 0; r < rows; r++)
        {
            for (int c = 0; c < columns; c++)
            {
                int b = c / block, i = c % block;
                int code = bits == 8
                    ? data[(r * blocks + b) * block + i]
                    : (data[(r * blocks + b) * (block / 2) + i / 2] >> (4 * (i % 2))) & 0xF;
                int zero = bits == 8 ? zeroPoints[r * blocks + b] : (zeroPoints[r * zeroRowBytes + b / 2] >> (4 * (b % 2))) & 0xF;
                result[r * columns + c] = (code - zero) * scales[r * blocks + b];
            }
        }
        return result;
    }
}
