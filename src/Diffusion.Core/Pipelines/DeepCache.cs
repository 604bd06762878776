namespace Diffusion.Core.Pipelines;

/// <summary>
/// DeepCache-style step caching for UNet models (Ma et al., 2023): every <see cref="Interval"/>-th step runs the whole UNet
/// and keeps the feature entering one of its up-block layers; the steps in between reuse that feature and run only the
/// shallow layers around it (the first layers, the time embedding and the up-block layers after the cut). Fewer
/// computed layers per step for an image that drifts from the uncached one as the interval grows.
/// </summary>
/// <remarks>
/// <para>The knob: <see cref="Interval"/> (1 = every step full, the uncached result; 2–5 trade quality for speed) and
/// <see cref="CachePoint"/> (0 = the cut nearest the output, the cheapest cached step; each further point is one up-block
/// layer deeper: slower cached steps, closer to the uncached image). Measured speed-ups and image differences are in
/// docs/performance.md.</para>
/// <para>It needs a UNet the library can cut: one built from a checkpoint (<c>.safetensors</c>, a single file or a diffusers
/// folder of them) or the built-in demo model. Exported ONNX UNets are refused, and so are calls with ControlNets (their
/// residuals feed the layers a cached step skips). While a pipeline runs cached calls it holds the cut pair of graphs in
/// place of its UNet; a call without caching loads the UNet again.</para>
/// </remarks>
/// <param name="Interval">Steps per full UNet run: step 0, <c>Interval</c>, 2·<c>Interval</c>, … run the whole UNet; 1 or more.</param>
/// <param name="CachePoint">Which declared cut: 0 nearest the output; 0 or more, below the number the UNet declares.</param>
public sealed record DeepCache(int Interval = 3, int CachePoint = 0) : StepCache
{
    /// <summary>The text form, <c>INTERVAL:POINT</c> (<c>3:0</c>), that <see cref="Parse"/> reads (command lines, image metadata).</summary>
    public override string ToText() => $"{Interval.ToString(System.Globalization.CultureInfo.InvariantCulture)}:{CachePoint.ToString(System.Globalization.CultureInfo.InvariantCulture)}";

    /// <summary>Reads <c>INTERVAL</c> or <c>INTERVAL:POINT</c> (point 0 when left out).</summary>
    /// <exception cref="FormatException">Not that form, or an interval below 1 or a negative point.</exception>
    public static DeepCache Parse(string text)
        => TryParse(text ?? throw new ArgumentNullException(nameof(text)), out DeepCache? cache)
            ? cache
            : throw new FormatException($"a step cache is INTERVAL or INTERVAL:POINT (interval 1 or more, point 0 or more), got '{text}'.");

    /// <summary>Reads <c>INTERVAL</c> or <c>INTERVAL:POINT</c>; false for anything else.</summary>
    public static bool TryParse(string? text, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out DeepCache? cache)
    {
        cache = null;
        if (text is null)
            return false;
        string[] parts = text.Split(':');
        const System.Globalization.NumberStyles Style = System.Globalization.NumberStyles.None;
        var culture = System.Globalization.CultureInfo.InvariantCulture;
        int point = 0;
        if (parts.Length > 2 || !int.TryParse(parts[0], Style, culture, out int interval) || interval < 1
            || (parts.Length == 2 && !int.TryParse(parts[1], Style, culture, out point)))
            return false;
        cache = new DeepCache(interval, point);
        return true;
    }

    /// <summary>Whether step <paramref name="step"/> (counted from the loop's first) runs the whole UNet.</summary>
    public bool IsFullStep(int step) => step % Interval == 0;

    /// <exception cref="InvalidOptionException">An interval below 1 or a negative cache point.</exception>
    internal override void Validate()
    {
        const string Option = nameof(GenerationOptions.StepCache);
        if (Interval < 1)
            throw new InvalidOptionException(Option, $"Interval must be 1 or more (steps per full UNet run), got {Interval}.");
        if (CachePoint < 0)
            throw new InvalidOptionException(Option, $"CachePoint must be 0 or more, got {CachePoint}.");
    }
}
