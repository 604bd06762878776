using System.CommandLine.Parsing;
using System.Globalization;

namespace Diffusion.CommandLine;

/// <summary>
/// Parsers that read a number and check its range in one place, so a bad value is one error line naming the option
/// ("--steps: expected an integer from 1 to 1000, got '1.5'") and never an exception.
/// </summary>
public static class BoundedParsers
{
    /// <summary>An integer from <paramref name="min"/> to <paramref name="max"/>.</summary>
    public static Func<ArgumentResult, int> Int(string name, int min, int max) => result =>
    {
        string text = Token(result);
        if (int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int value) && value >= min && value <= max)
            return value;
        result.AddError($"{name}: expected an integer from {min} to {max}, got '{text}'.");
        return default;
    };

    /// <summary>An integer from <paramref name="min"/> to <paramref name="max"/>, optionally a multiple of <paramref name="multipleOf"/>.</summary>
    public static Func<ArgumentResult, int?> OptionalInt(string name, int min, int max, int? multipleOf = null) => result =>
    {
        string text = Token(result);
        if (int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int value) && value >= min && value <= max
            && (multipleOf is not int m || value % m == 0))
            return value;
        string multiple = multipleOf is int k ? $" and a multiple of {k}" : string.Empty;
        result.AddError($"{name}: expected an integer from {min} to {max}{multiple}, got '{text}'.");
        return null;
    };

    /// <summary>A finite number from <paramref name="min"/> to <paramref name="max"/>.</summary>
    public static Func<ArgumentResult, float> Float(string name, float min, float max) => result =>
    {
        string text = Token(result);
        if (float.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out float value) && float.IsFinite(value) && value >= min && value <= max)
            return value;
        result.AddError($"{name}: expected a number from {min.ToString(CultureInfo.InvariantCulture)} to {max.ToString(CultureInfo.InvariantCulture)}, got '{text}'.");
        return default;
    };

    /// <summary>A finite number from <paramref name="min"/> to <paramref name="max"/>, for an option whose absence means a default chosen later.</summary>
    public static Func<ArgumentResult, float?> OptionalFloat(string name, float min, float max)
    {
        Func<ArgumentResult, float> parse = Float(name, min, max);
        return result => parse(result);
    }

    /// <summary>A finite number from <paramref name="min"/> to <paramref name="max"/>.</summary>
    public static Func<ArgumentResult, double?> OptionalDouble(string name, double min, double max) => result =>
    {
        string text = Token(result);
        if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) && double.IsFinite(value) && value >= min && value <= max)
            return value;
        result.AddError($"{name}: expected a number from {min.ToString(CultureInfo.InvariantCulture)} to {max.ToString(CultureInfo.InvariantCulture)}, got '{text}'.");
        return null;
    };

    /// <summary>A whole number from 0 to <see cref="ulong.MaxValue"/> (no sign, no fraction).</summary>
    public static Func<ArgumentResult, ulong> UInt64(string name) => result =>
    {
        string text = Token(result);
        if (ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out ulong value))
            return value;
        result.AddError($"{name}: expected a whole number from 0 to {ulong.MaxValue}, got '{text}'.");
        return default;
    };

    /// <summary>A step cache, <c>INTERVAL</c> or <c>INTERVAL:POINT</c> (<see cref="Core.Pipelines.DeepCache.Parse"/>).</summary>
    public static Core.Pipelines.DeepCache? StepCache(ArgumentResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        string text = Token(result);
        try
        {
            return Core.Pipelines.DeepCache.Parse(text);
        }
        catch (FormatException error)
        {
            result.AddError($"--deep-cache: {error.Message}");
            return null;
        }
    }

    private static string Token(ArgumentResult result) => result.Tokens.Count == 0 ? string.Empty : result.Tokens[^1].Value;
}
