namespace Diffusion.Core.Schedulers;

/// <summary>UniPC's small linear solve for its ρ coefficients, done as torch does it in float32.</summary>
internal static class VandermondeSolver
{
    /// <summary>
    /// Solves R·ρ = b for the leading <paramref name="n"/>×<paramref name="n"/> block, R[i][j] = r_j^i, into
    /// <paramref name="rhos"/> (<paramref name="matrix"/> is scratch): float32 LU with partial pivoting (LAPACK getrf: pivot, scale the column by the
    /// pivot's reciprocal, rank-1 update) then the two triangular solves (getrs).
    /// </summary>
    public static void Solve(ReadOnlySpan<float> rks, ReadOnlySpan<float> b, Span<float> matrix, Span<float> rhos, int n)
    {
        Span<float> m = matrix[..(n * n)];
        for (int row = 0; row < n; row++)
        {
            for (int col = 0; col < n; col++)
            {
                // torch.pow(rks, i): 1 for i = 0, r for 1, r*r for 2.
                float r = rks[col];
                m[(row * n) + col] = row == 0 ? 1f : row == 1 ? r : r * r;
            }

            rhos[row] = b[row];
        }

        Span<float> x = rhos[..n];
        for (int col = 0; col < n; col++)
        {
            int pivot = col;
            for (int row = col + 1; row < n; row++)
            {
                if (MathF.Abs(m[(row * n) + col]) > MathF.Abs(m[(pivot * n) + col]))
                {
                    pivot = row;
                }
            }

            if (pivot != col)
            {
                for (int j = 0; j < n; j++)
                {
                    (m[(col * n) + j], m[(pivot * n) + j]) = (m[(pivot * n) + j], m[(col * n) + j]);
                }

                (x[col], x[pivot]) = (x[pivot], x[col]);
            }

            float reciprocal = 1f / m[(col * n) + col];
            for (int row = col + 1; row < n; row++)
            {
                float factor = m[(row * n) + col] * reciprocal;
                m[(row * n) + col] = factor;
                for (int j = col + 1; j < n; j++)
                {
                    m[(row * n) + j] -= factor * m[(col * n) + j];
                }
            }
        }

        for (int row = 1; row < n; row++)
        {
            for (int j = 0; j < row; j++)
            {
                x[row] -= m[(row * n) + j] * x[j];
            }
        }

        for (int row = n - 1; row >= 0; row--)
        {
            for (int j = row + 1; j < n; j++)
            {
                x[row] -= m[(row * n) + j] * x[j];
            }

            x[row] /= m[(row * n) + row];
        }
    }
}
