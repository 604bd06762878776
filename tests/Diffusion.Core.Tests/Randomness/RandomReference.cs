using System.Runtime.InteropServices;
using System.Text.Json;

namespace Diffusion.Core.Tests.Randomness;

/// <summary>
/// Loads the fixtures written by <c>tools/reference-data/randomness/generate_random_reference.py</c>
/// (torch 1.13 with <c>ATEN_CPU_CAPABILITY=avx2</c>, numpy 1.24) and compares draws against them.
/// </summary>
internal static class RandomReference
{
    private static readonly Lazy<IReadOnlyList<RandomReferenceCase>> s_cases = new(Load);

    public static string Folder => Path.Combine(AppContext.BaseDirectory, "TestData", "randomness");

    public static IReadOnlyList<RandomReferenceCase> Cases => s_cases.Value;

    /// <summary>The (seed, sequence) pairs recorded for <paramref name="generator"/>, for theories.</summary>
    public static TheoryData<ulong, string> SequencesOf(string generator)
    {
        var data = new TheoryData<ulong, string>();
        foreach (RandomReferenceCase c in Cases)
            if (c.Generator == generator && c.Sequence is not null)
                data.Add(c.Seed, c.Sequence);
        return data;
    }

    public static RandomReferenceCase Find(string generator, ulong seed, string? sequence)
    {
        foreach (RandomReferenceCase c in Cases)
            if (c.Generator == generator && c.Seed == seed && c.Sequence == sequence)
                return c;
        throw new InvalidOperationException($"No {generator} reference for seed {seed}, sequence {sequence ?? "(error case)"}.");
    }

    /// <summary>A full raw little-endian float32 tensor from the fixture folder.</summary>
    public static float[] LoadFull(string fileName) =>
        MemoryMarshal.Cast<byte, float>(File.ReadAllBytes(Path.Combine(Folder, fileName))).ToArray();

    /// <summary>Asserts that <paramref name="actual"/> matches every value the fixture stores, within <paramref name="tolerance"/>.</summary>
    public static void AssertMatches(RandomReferenceDraw expected, ReadOnlySpan<float> actual, double tolerance, string label)
    {
        Assert.Equal(expected.Count, actual.Length);
        if (expected.Values is not null)
        {
            AssertClose(expected.Values, actual, 0, 1, tolerance, label);
        }
        else
        {
            AssertClose(expected.First!, actual, 0, 1, tolerance, label);
            AssertClose(expected.Last!, actual, actual.Length - expected.Last!.Length, 1, tolerance, label);
            AssertClose(expected.Strided!, actual, 0, expected.Stride, tolerance, label);
        }
        double sum = 0;
        foreach (float value in actual)
            sum += value;
        // Every value within the tolerance bounds the sum's error by count * tolerance.
        Assert.InRange(sum, expected.Sum - expected.Count * tolerance, expected.Sum + expected.Count * tolerance);
    }

    private static void AssertClose(float[] expected, ReadOnlySpan<float> actual, int start, int step, double tolerance, string label)
    {
        for (int i = 0; i < expected.Length; i++)
        {
            int index = start + i * step;
            double difference = Math.Abs(expected[i] - (double)actual[index]);
            if (!(difference <= tolerance))
                Assert.Fail($"{label}: element {index} is {actual[index]:R}, reference {expected[i]:R} (|diff| {difference:G3} > {tolerance:G3}).");
        }
    }

    private static IReadOnlyList<RandomReferenceCase> Load()
    {
        using JsonDocument document = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(Folder, "random_reference.json")));
        var cases = new List<RandomReferenceCase>();
        foreach (JsonElement c in document.RootElement.GetProperty("cases").EnumerateArray())
        {
            var draws = new List<RandomReferenceDraw>();
            if (c.TryGetProperty("draws", out JsonElement drawArray))
            {
                foreach (JsonElement d in drawArray.EnumerateArray())
                {
                    draws.Add(new RandomReferenceDraw(
                        d.GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()).ToArray(),
                        d.GetProperty("count").GetInt32(),
                        d.GetProperty("sum").GetDouble(),
                        d.GetProperty("mean").GetDouble(),
                        Floats(d, "values"),
                        Floats(d, "first"),
                        Floats(d, "last"),
                        d.TryGetProperty("stride", out JsonElement stride) ? stride.GetInt32() : 1,
                        Floats(d, "strided")));
                }
            }
            cases.Add(new RandomReferenceCase(
                c.GetProperty("generator").GetString()!,
                c.GetProperty("seed").GetUInt64(),
                c.TryGetProperty("sequence", out JsonElement sequence) ? sequence.GetString() : null,
                draws,
                c.TryGetProperty("error", out JsonElement error) ? error.GetString() : null));
        }
        return cases;
    }

    // The fixture writes each float32 as its exact float64 widening, so narrowing back is lossless.
    private static float[]? Floats(JsonElement element, string name) =>
        element.TryGetProperty(name, out JsonElement array)
            ? array.EnumerateArray().Select(e => (float)e.GetDouble()).ToArray()
            : null;
}
