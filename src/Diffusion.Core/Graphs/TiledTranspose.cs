namespace Diffusion.Core.Graphs;

/// <summary>
/// The weight transposes of the load-time quantisers (a MatMul's [in, out] weight to rows of the output, int8 codes to a
/// GEMM's B layout), in square tiles: a plain loop writes one element per cache line per step, which on a real-size
/// UNet's 860 M weights took seconds.
/// </summary>
internal static class TiledTranspose
{
    private const int Tile = 64;

    /// <summary>destination[c, r] = source[r, c] for a row-major [<paramref name="rows"/>, <paramref name="columns"/>] source.</summary>
    public static void Transpose<T>(ReadOnlySpan<T> source, int rows, int columns, Span<T> destination)
    {
        for (int r0 = 0; r0 < rows; r0 += Tile)
        {
            int r1 = Math.Min(r0 + Tile, rows);
            for (int c0 = 0; c0 < columns; c0 += Tile)
            {
                int c1 = Math.Min(c0 + Tile, columns);
                for (int r = r0; r < r1; r++)
                {
                    ReadOnlySpan<T> row = source.Slice(r * columns, columns);
                    for (int c = c0; c < c1; c++)
                        destination[c * rows + r] = row[c];
                }
            }
        }
    }
}
