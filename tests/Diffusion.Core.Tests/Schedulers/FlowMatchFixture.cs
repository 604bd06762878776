using System.Text.Json;
using Diffusion.Core.Schedulers;

namespace Diffusion.Core.Tests.Schedulers;

/// <summary>
/// One flow-matching reference run recorded by <c>tools/reference-data/flow-match/generate_reference.py</c> from
/// diffusers' FlowMatchEuler/HeunDiscreteScheduler: config, set_timesteps arguments, schedule, every step, scale_noise.
/// </summary>
internal sealed class FlowMatchFixture
{
    public const string File = "flow_match.json";
    public const string Folder = "flow-match";

    private static readonly Lazy<JsonDocument> s_document = new(() => JsonDocument.Parse(TrajectoryFixture.ReadText(File, Folder)));

    public required string Name { get; init; }
    public required string ClassName { get; init; }
    public required SchedulerConfig Config { get; init; }
    public int? Steps { get; init; }
    public float[]? CustomSigmas { get; init; }
    public float[]? CustomTimesteps { get; init; }
    public double? Mu { get; init; }
    public required JsonElement StepArguments { get; init; }
    public required float[] Timesteps { get; init; }
    public required float[] Sigmas { get; init; }
    public required float[] InitialSample { get; init; }
    public required float[][] ModelOutputs { get; init; }
    public required float[][] Samples { get; init; }
    public required float[][] Noise { get; init; }
    public required (int Index, float[] Original, float[] Noise, float[] Result)[] AddNoise { get; init; }

    public override string ToString() => Name;

    public static JsonElement Root => s_document.Value.RootElement;

    public static IReadOnlyList<FlowMatchFixture> All { get; } = Load();

    public static FlowMatchFixture Case(string name) => All.Single(c => c.Name == name);

    /// <summary>Builds the scheduler of a case, with Heun's churn arguments from the recorded step arguments.</summary>
    public FlowMatchSchedulerBase CreateScheduler()
    {
        if (ClassName == "FlowMatchEulerDiscreteScheduler")
            return new FlowMatchEulerDiscreteScheduler(Config);
        float Arg(string key, float fallback) => StepArguments.TryGetProperty(key, out JsonElement v) ? v.GetSingle() : fallback;
        return new FlowMatchHeunDiscreteScheduler(Config, Arg("s_churn", 0f), Arg("s_tmin", 0f), Arg("s_tmax", float.PositiveInfinity), Arg("s_noise", 1f));
    }

    /// <summary>Calls SetTimesteps with the arguments diffusers' set_timesteps got.</summary>
    public void SetTimesteps(FlowMatchSchedulerBase scheduler)
    {
        if (scheduler is FlowMatchEulerDiscreteScheduler euler)
            euler.SetTimesteps(Steps, CustomSigmas, Mu, CustomTimesteps);
        else
            scheduler.SetTimesteps(Steps!.Value);
    }

    private static List<FlowMatchFixture> Load()
    {
        var result = new List<FlowMatchFixture>();
        foreach (JsonElement c in Root.GetProperty("cases").EnumerateArray())
        {
            JsonElement set = c.GetProperty("set_timesteps");
            result.Add(new FlowMatchFixture
            {
                Name = c.GetProperty("name").GetString()!,
                ClassName = c.GetProperty("class").GetString()!,
                Config = TrajectoryFixture.ReadConfig(c.GetProperty("config"), c.GetProperty("class").GetString()!),
                Steps = c.GetProperty("steps").ValueKind == JsonValueKind.Null ? null : c.GetProperty("steps").GetInt32(),
                // diffusers reads custom lists with np.array(...).astype(np.float32).
                CustomSigmas = set.TryGetProperty("sigmas", out JsonElement s) ? s.EnumerateArray().Select(v => (float)v.GetDouble()).ToArray() : null,
                CustomTimesteps = set.TryGetProperty("timesteps", out JsonElement t) ? t.EnumerateArray().Select(v => (float)v.GetDouble()).ToArray() : null,
                Mu = set.TryGetProperty("mu", out JsonElement mu) ? mu.GetDouble() : null,
                StepArguments = c.GetProperty("step_kwargs").Clone(),
                Timesteps = TrajectoryFixture.Floats(c.GetProperty("timesteps")),
                Sigmas = TrajectoryFixture.Floats(c.GetProperty("sigmas")),
                InitialSample = TrajectoryFixture.Floats(c.GetProperty("sample0")),
                ModelOutputs = c.GetProperty("model_outputs").EnumerateArray().Select(TrajectoryFixture.Floats).ToArray(),
                Samples = c.GetProperty("samples").EnumerateArray().Select(TrajectoryFixture.Floats).ToArray(),
                Noise = c.GetProperty("noise").EnumerateArray().Select(TrajectoryFixture.Floats).ToArray(),
                AddNoise = c.GetProperty("add_noise").EnumerateArray()
                    .Select(a => (a.GetProperty("index").GetInt32(), TrajectoryFixture.Floats(a.GetProperty("original")),
                        TrajectoryFixture.Floats(a.GetProperty("noise")), TrajectoryFixture.Floats(a.GetProperty("result")))).ToArray(),
            });
        }
        return result;
    }
}
