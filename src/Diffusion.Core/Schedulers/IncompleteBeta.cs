namespace Diffusion.Core.Schedulers;

/// <summary>
/// The regularized incomplete beta function I_x(a, b) and its inverse (the Beta(a, b) quantile, scipy's
/// <c>scipy.stats.beta.ppf</c>), in float64 to about 1e-15: what diffusers' beta-sigma schedules need.
/// </summary>
internal static class IncompleteBeta
{
    private static readonly double[] s_lanczosCoefficients =
    [
        0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313,
        -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6,
        1.5056327351493116e-7,
    ];

    /// <summary>I_x(a, b) for 0 ≤ x ≤ 1, a, b &gt; 0, by the continued fraction (modified Lentz) on the side where it converges fast.</summary>
    public static double Regularized(double x, double a, double b)
    {
        if (x <= 0)
            return 0;
        if (x >= 1)
            return 1;
        double logFront = a * Math.Log(x) + b * Math.Log(1 - x) - LogBeta(a, b);
        if (x < (a + 1) / (a + b + 2))
            return Math.Exp(logFront) * ContinuedFraction(x, a, b) / a;
        return 1 - Math.Exp(logFront) * ContinuedFraction(1 - x, b, a) / b;
    }

    /// <summary>The x with I_x(a, b) = <paramref name="p"/> (0 for p ≤ 0, 1 for p ≥ 1), by bisection to full double resolution.</summary>
    public static double InverseRegularized(double p, double a, double b)
    {
        if (p <= 0)
            return 0;
        if (p >= 1)
            return 1;
        // Solve in the lower tail so the target is never within rounding of 1: I_x(a,b) = p ⇔ I_{1-x}(b,a) = 1-p.
        bool complement = p > 0.5;
        if (complement)
        {
            (a, b) = (b, a);
            p = 1 - p; // exact for p in [0.5, 1]
        }
        double lo = 0, hi = 1;
        for (int i = 0; i < 200 && hi - lo > 0; i++)
        {
            double mid = 0.5 * (lo + hi);
            if (mid <= lo || mid >= hi)
                break;
            if (Regularized(mid, a, b) < p)
                lo = mid;
            else
                hi = mid;
        }
        double x = 0.5 * (lo + hi);
        return complement ? 1 - x : x;
    }

    private static double ContinuedFraction(double x, double a, double b)
    {
        const double tiny = 1e-300;
        const double epsilon = 1e-16;
        double qab = a + b, qap = a + 1, qam = a - 1;
        double c = 1, d = 1 - qab * x / qap;
        if (Math.Abs(d) < tiny)
            d = tiny;
        d = 1 / d;
        double h = d;
        for (int m = 1; m <= 10000; m++)
        {
            int m2 = 2 * m;
            double aa = m * (b - m) * x / ((qam + m2) * (a + m2));
            d = 1 + aa * d;
            if (Math.Abs(d) < tiny)
                d = tiny;
            c = 1 + aa / c;
            if (Math.Abs(c) < tiny)
                c = tiny;
            d = 1 / d;
            h *= d * c;
            aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
            d = 1 + aa * d;
            if (Math.Abs(d) < tiny)
                d = tiny;
            c = 1 + aa / c;
            if (Math.Abs(c) < tiny)
                c = tiny;
            d = 1 / d;
            double delta = d * c;
            h *= delta;
            if (Math.Abs(delta - 1) < epsilon)
                break;
        }
        return h;
    }

    private static double LogBeta(double a, double b) => LogGamma(a) + LogGamma(b) - LogGamma(a + b);

    /// <summary>ln Γ(x) for x &gt; 0: Lanczos approximation (g = 7, 9 terms), relative error ~1e-15; reflection below 0.5.</summary>
    internal static double LogGamma(double x)
    {
        if (x < 0.5)
            return Math.Log(Math.PI / Math.Abs(Math.Sin(Math.PI * x))) - LogGamma(1 - x);
        double[] coefficients = s_lanczosCoefficients;
        x -= 1;
        double sum = coefficients[0];
        for (int i = 1; i < coefficients.Length; i++)
            sum += coefficients[i] / (x + i);
        double t = x + 7.5;
        return 0.5 * Math.Log(2 * Math.PI) + (x + 0.5) * Math.Log(t) - t + Math.Log(sum);
    }
}
