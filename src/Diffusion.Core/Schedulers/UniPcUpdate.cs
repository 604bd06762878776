using System.Numerics;

namespace Diffusion.Core.Schedulers;

/// <summary>
/// The predictor's and corrector's element-wise update in one pass over the latents. Every element goes through
/// the scalar expression's operations in the scalar order, each rounded to float32 (separate multiply and
/// subtract, never a fused multiply-add; the same in the vector lanes and the scalar tail), so the result is the
/// bits one TensorPrimitives call per operation gave, at a fraction of the memory traffic.
/// </summary>
/// <param name="A">Multiplier of the sample (σ_t/σ_s0 or α_t/α_s0).</param>
/// <param name="C">Multiplier of m0 (α_t·hφ₁ or σ_t·hφ₁).</param>
/// <param name="Scale">Multiplier of the residual (α_t·B(h) or σ_t·B(h)).</param>
/// <param name="R0">r_0 of the first history difference.</param>
/// <param name="Rho0">ρ_0.</param>
/// <param name="R1">r_1 of the second history difference.</param>
/// <param name="Rho1">ρ_1.</param>
/// <param name="RhoLast">The corrector's ρ of (m_t − m0).</param>
/// <param name="K">History differences used: 0, 1 or 2.</param>
/// <param name="HasLast">True for the corrector (adds ρ_last·(m_t − m0)).</param>
internal readonly record struct UniPcUpdate(float A, float C, float Scale, float R0, float Rho0, float R1, float Rho1, float RhoLast, int K, bool HasLast)
{
    public void Apply(ReadOnlySpan<float> x, ReadOnlySpan<float> m0, ReadOnlySpan<float> m1, ReadOnlySpan<float> m2, ReadOnlySpan<float> mt, Span<float> destination)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var a = new Vector<float>(A);
            var c = new Vector<float>(C);
            var scale = new Vector<float>(Scale);
            var r0 = new Vector<float>(R0);
            var rho0 = new Vector<float>(Rho0);
            var r1 = new Vector<float>(R1);
            var rho1 = new Vector<float>(Rho1);
            var rhoLast = new Vector<float>(RhoLast);
            for (; i <= destination.Length - Vector<float>.Count; i += Vector<float>.Count)
            {
                var vm0 = new Vector<float>(m0.Slice(i));
                Vector<float> s = (new Vector<float>(x.Slice(i)) * a) - (vm0 * c);
                Vector<float> residual;
                if (HasLast)
                {
                    Vector<float> last = (new Vector<float>(mt.Slice(i)) - vm0) * rhoLast;
                    if (K == 0)
                    {
                        residual = last;
                    }
                    else
                    {
                        residual = ((new Vector<float>(m1.Slice(i)) - vm0) / r0) * rho0;
                        if (K == 2)
                            residual += ((new Vector<float>(m2.Slice(i)) - vm0) / r1) * rho1;
                        residual += last;
                    }
                }
                else if (K == 0)
                {
                    s.CopyTo(destination.Slice(i));
                    continue;
                }
                else
                {
                    residual = ((new Vector<float>(m1.Slice(i)) - vm0) / r0) * rho0;
                    if (K == 2)
                        residual += ((new Vector<float>(m2.Slice(i)) - vm0) / r1) * rho1;
                }

                (s - (residual * scale)).CopyTo(destination.Slice(i));
            }
        }

        for (; i < destination.Length; i++)
        {
            float s = (x[i] * A) - (m0[i] * C);
            float residual;
            if (HasLast)
            {
                float last = (mt[i] - m0[i]) * RhoLast;
                if (K == 0)
                {
                    residual = last;
                }
                else
                {
                    residual = ((m1[i] - m0[i]) / R0) * Rho0;
                    if (K == 2)
                        residual += ((m2[i] - m0[i]) / R1) * Rho1;
                    residual += last;
                }
            }
            else if (K == 0)
            {
                destination[i] = s;
                continue;
            }
            else
            {
                residual = ((m1[i] - m0[i]) / R0) * Rho0;
                if (K == 2)
                    residual += ((m2[i] - m0[i]) / R1) * Rho1;
            }

            destination[i] = s - (residual * Scale);
        }
    }
}
