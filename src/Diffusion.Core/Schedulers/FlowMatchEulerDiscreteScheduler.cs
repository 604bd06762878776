using System.Numerics.Tensors;
using Diffusion.Core.Randomness;

namespace Diffusion.Core.Schedulers;

/// <summary>
/// The Euler sampler of rectified-flow models (Stable Diffusion 3/3.5, FLUX.1), mirroring diffusers'
/// <c>schedulers/scheduling_flow_match_euler_discrete.py</c> (<c>FlowMatchEulerDiscreteScheduler</c>):
/// x ← x + (σ_next − σ)·v. Every config option of that file: <c>shift</c>, <c>use_dynamic_shifting</c> with mu
/// (exponential or linear <c>time_shift_type</c>), <c>shift_terminal</c>, <c>invert_sigmas</c>, Karras /
/// exponential / beta sigmas, and <c>stochastic_sampling</c> (x₀ re-noised to σ_next with fresh noise from the
/// random source, one sample-sized draw per step as diffusers' <c>randn_tensor</c>).
/// </summary>
/// <remarks>
/// <see cref="SetTimesteps(int?, float[], double?, float[])"/> takes what the pipelines pass: a step count, custom
/// sigmas (FLUX.1 passes <see cref="FlowMatchSigmas.FluxDefaultSigmas"/>), custom timesteps, and mu from the image
/// sequence length (<see cref="FlowMatchSigmas.CalculateShift"/>). As in diffusers, the <c>shift</c> of the config
/// is applied both to the training schedule in the constructor and again in <c>set_timesteps</c>. Left out:
/// <c>per_token_timesteps</c> (video models) and the <c>s_churn</c> arguments diffusers' Euler step accepts but
/// ignores. Steps run by index from 0 (diffusers' <c>set_begin_index(0)</c>).
/// </remarks>
public sealed class FlowMatchEulerDiscreteScheduler : FlowMatchSchedulerBase
{
    /// <summary>diffusers' <c>FlowMatchEulerDiscreteScheduler.__init__</c> defaults, used for the fields a config file does not set.</summary>
    internal static SchedulerConfig DiffusersDefaults { get; } = new()
    {
        ClassName = "FlowMatchEulerDiscreteScheduler",
        NumTrainTimesteps = 1000,
        Shift = 1.0,
        UseDynamicShifting = false,
        BaseShift = 0.5,
        MaxShift = 1.15,
        BaseImageSeqLen = 256,
        MaxImageSeqLen = 4096,
        InvertSigmas = false,
        ShiftTerminal = null,
        UseKarrasSigmas = false,
        UseExponentialSigmas = false,
        UseBetaSigmas = false,
        TimeShiftType = "exponential",
        StochasticSampling = false,
    };

    private readonly (double Max, double Min) _trainingBounds;

    /// <summary>Creates the scheduler for <paramref name="config"/>; fields its file did not set take diffusers' defaults for this class.</summary>
    /// <exception cref="InvalidOptionException">A config value is out of range or unsupported.</exception>
    public FlowMatchEulerDiscreteScheduler(SchedulerConfig config) : base(config, DiffusersDefaults)
    {
        // With dynamic shifting the training schedule stays unshifted; mu shifts it in set_timesteps.
        _trainingBounds = FlowMatchSigmas.TrainingBounds(Config.NumTrainTimesteps, Config.Shift, applyShift: !Config.UseDynamicShifting);
    }

    /// <summary>The largest sigma of the training schedule (diffusers' <c>sigma_max</c>).</summary>
    public double SigmaMax => _trainingBounds.Max;

    /// <summary>The smallest sigma of the training schedule (diffusers' <c>sigma_min</c>).</summary>
    public double SigmaMin => _trainingBounds.Min;

    /// <inheritdoc />
    /// <exception cref="InvalidOptionException">The step count is out of range, or the config uses dynamic shifting (which needs mu: use the overload that takes it).</exception>
    public override void SetTimesteps(int inferenceSteps) => SetTimesteps(inferenceSteps, sigmas: null, mu: null, timesteps: null);

    /// <summary>
    /// diffusers' <c>set_timesteps(num_inference_steps, sigmas=, mu=, timesteps=)</c>: the schedule from a step count,
    /// or from custom sigmas (σ in [0, 1], highest first) or custom timesteps (in [0, N]); shifted by the config's
    /// <c>shift</c>, or by <paramref name="mu"/> when it uses dynamic shifting. When both custom lists are given only
    /// the sigmas count (diffusers recomputes the timesteps from them).
    /// </summary>
    /// <param name="inferenceSteps">The step count; may be null when custom sigmas or timesteps give it.</param>
    /// <param name="sigmas">Custom sigmas (diffusers reads them as float32), or null.</param>
    /// <param name="mu">The resolution-dependent shift; required (and only used) with <c>use_dynamic_shifting</c>.</param>
    /// <param name="timesteps">Custom timesteps, or null.</param>
    /// <exception cref="InvalidOptionException">A missing or inconsistent argument, named.</exception>
    public void SetTimesteps(int? inferenceSteps, float[]? sigmas = null, double? mu = null, float[]? timesteps = null)
    {
        if (Config.UseDynamicShifting && mu is null)
            throw new InvalidOptionException("mu", "this scheduler uses dynamic shifting (use_dynamic_shifting): pass mu, e.g. FlowMatchSigmas.CalculateShift(imageSequenceLength, config).");
        if (mu is double m && !double.IsFinite(m))
            throw new InvalidOptionException("mu", $"must be finite, got {m}.");
        CheckCustom(sigmas, "Sigmas", 1.0);
        CheckCustom(timesteps, "Timesteps", Config.NumTrainTimesteps);
        if (sigmas is not null && timesteps is not null && sigmas.Length != timesteps.Length)
            throw new InvalidOptionException("Timesteps", $"custom sigmas ({sigmas.Length}) and timesteps ({timesteps.Length}) must have the same length.");
        int steps;
        if (inferenceSteps is int given)
        {
            FlowMatchSigmas.RequireStepCount(given);
            int? custom = sigmas?.Length ?? timesteps?.Length;
            if (custom is int count && count != given)
                throw new InvalidOptionException("InferenceSteps", $"is {given} but {count} custom {(sigmas is not null ? "sigmas" : "timesteps")} were given; they must agree.");
            steps = given;
        }
        else
        {
            steps = sigmas?.Length ?? timesteps?.Length
                ?? throw new InvalidOptionException("InferenceSteps", "give a step count, custom sigmas or custom timesteps.");
        }

        float[] schedule = FlowMatchSigmas.Schedule(Config, _trainingBounds, steps, sigmas, timesteps, mu);
        (float[] scheduleTimesteps, float[] withTerminal) = WithTerminal(schedule, Config.InvertSigmas);
        SetSchedule(steps, scheduleTimesteps, withTerminal);
    }

    /// <inheritdoc />
    public override void Step(ReadOnlySpan<float> modelOutput, int stepIndex, Span<float> sample, IRandomSource? random = null)
    {
        ValidateStep(modelOutput, stepIndex, sample);
        float sigma = Sigmas[stepIndex];
        float sigmaNext = Sigmas[stepIndex + 1];
        Span<float> temp = Scratch(1, sample.Length);
        if (Config.StochasticSampling)
        {
            IRandomSource source = RequireRandom(random);
            // x0 = x − σ·v; x = (1 − σ_next)·x0 + σ_next·noise, one float32 rounding per operation as torch.
            TensorPrimitives.Multiply(modelOutput, sigma, temp);
            TensorPrimitives.Subtract(sample, temp, sample);
            TensorPrimitives.Multiply(sample, 1f - sigmaNext, sample);
            source.NextStandardNormal(temp);
            TensorPrimitives.Multiply(temp, sigmaNext, temp);
            TensorPrimitives.Add(sample, temp, sample);
            return;
        }

        // x + dt·v with dt = σ_next − σ rounded to float32 first; no fused multiply-add.
        float dt = sigmaNext - sigma;
        TensorPrimitives.Multiply(modelOutput, dt, temp);
        TensorPrimitives.Add(sample, temp, sample);
    }

    private static void CheckCustom(float[]? values, string option, double upper)
    {
        if (values is null)
            return;
        if (values.Length == 0)
            throw new InvalidOptionException(option, "is empty; give at least one value or none.");
        FlowMatchSigmas.RequireStepCount(values.Length, option);
        for (int i = 0; i < values.Length; i++)
        {
            float v = values[i];
            if (!(v >= 0f && v <= upper))
                throw new InvalidOptionException(option, $"value {i} is {v}; values must lie in [0, {upper}].");
        }
    }
}
