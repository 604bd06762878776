using System.Text.Json;
using Diffusion.Core.Schedulers;

namespace Diffusion.Core.Tests.Schedulers;

/// <summary>
/// Reads the reference files written by tools/reference-data/schedulers/generate_scheduler_reference.py
/// (diffusers' scheduler code run on a deterministic sample; float arrays are base64 little-endian float32).
/// </summary>
internal static class SchedulerFixture
{
    private static readonly Dictionary<string, JsonDocument> s_documents = new();
    private static readonly Lock s_lock = new();

    /// <summary>The scheduler classes with a reference file.</summary>
    public static readonly string[] SchedulerNames =
    [
        "DDIMScheduler", "DDPMScheduler", "PNDMScheduler", "LMSDiscreteScheduler", "EulerDiscreteScheduler",
        "EulerAncestralDiscreteScheduler", "HeunDiscreteScheduler", "KDPM2DiscreteScheduler", "KDPM2AncestralDiscreteScheduler",
    ];

    public static string PathOf(string fileName) => Path.Combine(AppContext.BaseDirectory, "TestData", "schedulers", fileName);

    public static JsonElement Document(string fileName)
    {
        lock (s_lock)
        {
            if (!s_documents.TryGetValue(fileName, out JsonDocument? document))
            {
                document = JsonDocument.Parse(File.ReadAllText(PathOf(fileName)));
                s_documents[fileName] = document;
            }
            return document.RootElement;
        }
    }

    public static float[] Floats(JsonElement element) => MemoryMarshalFloats(Convert.FromBase64String(element.GetString()!));

    public static double[] Doubles(JsonElement element)
    {
        byte[] bytes = Convert.FromBase64String(element.GetString()!);
        var result = new double[bytes.Length / 8];
        for (int i = 0; i < result.Length; i++)
            result[i] = BitConverter.ToDouble(bytes, 8 * i);
        return result;
    }

    private static float[] MemoryMarshalFloats(byte[] bytes)
    {
        var result = new float[bytes.Length / 4];
        for (int i = 0; i < result.Length; i++)
            result[i] = BitConverter.ToSingle(bytes, 4 * i);
        return result;
    }

    /// <summary>The scheduler diffusers' class <paramref name="className"/> corresponds to, built from <paramref name="config"/> as given.</summary>
    public static SchedulerBase Create(string className, SchedulerConfig config) =>
        (SchedulerBase)SchedulerCatalog.Construct(config with { ClassName = className });

    /// <summary>The sigma table of a sigma-space scheduler, or null.</summary>
    public static float[]? SigmasOf(SchedulerBase scheduler) => scheduler switch
    {
        EulerDiscreteScheduler s => s.Sigmas.ToArray(),
        EulerAncestralDiscreteScheduler s => s.Sigmas.ToArray(),
        HeunDiscreteScheduler s => s.Sigmas.ToArray(),
        LmsDiscreteScheduler s => s.Sigmas.ToArray(),
        KDpm2DiscreteScheduler s => s.Sigmas.ToArray(),
        KDpm2AncestralDiscreteScheduler s => s.Sigmas.ToArray(),
        _ => null,
    };

    /// <summary>The generator's dummy model: x·t/(t+1) + bias, float32 op by op as torch.</summary>
    public static void DummyModel(ReadOnlySpan<float> input, float timestep, ReadOnlySpan<float> bias, Span<float> output)
    {
        float denominator = timestep + 1f;
        for (int i = 0; i < input.Length; i++)
        {
            float value = input[i] * timestep / denominator;
            output[i] = bias.IsEmpty ? value : value + bias[i];
        }
    }

    /// <summary>max|actual − expected| / max|expected| (0 when both are all zero); NaNs must match.</summary>
    public static double ScaledError(ReadOnlySpan<float> actual, ReadOnlySpan<float> expected)
    {
        Assert.Equal(expected.Length, actual.Length);
        double maxDiff = 0, maxRef = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            if (float.IsNaN(expected[i]) || float.IsNaN(actual[i]))
            {
                Assert.True(float.IsNaN(expected[i]) && float.IsNaN(actual[i]), $"element {i}: expected {expected[i]}, got {actual[i]}");
                continue;
            }
            maxDiff = Math.Max(maxDiff, Math.Abs((double)actual[i] - expected[i]));
            maxRef = Math.Max(maxRef, Math.Abs((double)expected[i]));
        }
        return maxRef == 0 ? maxDiff : maxDiff / maxRef;
    }

    /// <summary>Largest element-wise relative error |a − e| / |e|, counting elements with |e| below <paramref name="floor"/> as |e| = floor.</summary>
    public static double RelativeError(ReadOnlySpan<float> actual, ReadOnlySpan<float> expected, double floor)
    {
        Assert.Equal(expected.Length, actual.Length);
        double worst = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            if (float.IsNaN(expected[i]) || float.IsNaN(actual[i]))
            {
                Assert.True(float.IsNaN(expected[i]) && float.IsNaN(actual[i]), $"element {i}: expected {expected[i]}, got {actual[i]}");
                continue;
            }
            double scale = Math.Max(Math.Abs((double)expected[i]), floor);
            worst = Math.Max(worst, Math.Abs((double)actual[i] - expected[i]) / scale);
        }
        return worst;
    }
}
