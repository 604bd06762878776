using System.Numerics.Tensors;
using Diffusion.Core.Randomness;

namespace Diffusion.Core.Schedulers;

/// <summary>
/// Shared plumbing of the flow-matching schedulers (SD3/3.5, FLUX.1): the validated config, the timestep and sigma
/// arrays, argument checks, scratch buffers sized once per sample length, and diffusers' <c>scale_noise</c> as
/// <see cref="AddNoise"/>. The model predicts a velocity; the sample is x_σ = σ·noise + (1 − σ)·x₀, so there is no
/// input scaling and the initial noise has standard deviation 1.
/// </summary>
public abstract class FlowMatchSchedulerBase : IScheduler
{
    private float[] _timesteps = [];
    private float[] _sigmas = [];
    private readonly ScratchBuffers _scratch = new();

    /// <summary>Completes <paramref name="config"/> with <paramref name="classDefaults"/> for the fields its file left out (diffusers' <c>from_config</c>) and validates it.</summary>
    /// <exception cref="InvalidOptionException">A config value is out of range or unsupported.</exception>
    protected FlowMatchSchedulerBase(SchedulerConfig config, SchedulerConfig classDefaults)
    {
        ArgumentNullException.ThrowIfNull(config);
        Config = config.WithDefaultsFrom(classDefaults);
        SchedulerConfigValidator.Validate(Config);
    }

    /// <inheritdoc />
    public SchedulerConfig Config { get; }

    /// <inheritdoc />
    public virtual int Order => 1;

    /// <inheritdoc />
    public float InitNoiseSigma => 1f;

    /// <inheritdoc />
    public ReadOnlySpan<float> Timesteps => _timesteps;

    /// <summary>diffusers' <c>self.sigmas</c> after <c>set_timesteps</c>: one per timestep plus the terminal value (0, or 1 with <c>invert_sigmas</c>).</summary>
    public ReadOnlySpan<float> Sigmas => _sigmas;

    /// <summary>The number of logical steps of the current schedule (0 before the first <c>SetTimesteps</c>).</summary>
    public int InferenceSteps { get; private set; }

    /// <inheritdoc />
    public abstract void SetTimesteps(int inferenceSteps);

    /// <summary>Installs a schedule computed by the derived class and resets its per-run state.</summary>
    protected void SetSchedule(int inferenceSteps, float[] timesteps, float[] sigmas)
    {
        InferenceSteps = inferenceSteps;
        _timesteps = timesteps;
        _sigmas = sigmas;
        ResetState();
    }

    /// <summary>Clears multistep state when a new schedule is installed.</summary>
    protected virtual void ResetState()
    {
    }

    /// <inheritdoc />
    /// <remarks>Flow-matching models take the sample as it is (diffusers' pipelines never scale it); this copies.</remarks>
    public void ScaleModelInput(ReadOnlySpan<float> sample, int stepIndex, Span<float> destination)
    {
        ValidateStepIndex(stepIndex);
        StepArguments.RequireSameLength(sample.Length, destination.Length, nameof(destination));
        sample.CopyTo(destination);
    }

    /// <inheritdoc />
    public abstract void Step(ReadOnlySpan<float> modelOutput, int stepIndex, Span<float> sample, IRandomSource? random = null);

    /// <summary>
    /// diffusers' <c>scale_noise</c> at step <paramref name="stepIndex"/> (the forward process of flow matching):
    /// σ·noise + (1 − σ)·sample in float32; <paramref name="destination"/> may alias either input.
    /// </summary>
    public void AddNoise(ReadOnlySpan<float> originalSample, ReadOnlySpan<float> noise, int stepIndex, Span<float> destination)
    {
        ValidateStepIndex(stepIndex);
        StepArguments.RequireSameLength(originalSample.Length, noise.Length, nameof(noise));
        StepArguments.RequireSameLength(originalSample.Length, destination.Length, nameof(destination));
        float sigma = _sigmas[stepIndex];
        Span<float> scaledNoise = Scratch(0, originalSample.Length);
        TensorPrimitives.Multiply(noise, sigma, scaledNoise);
        TensorPrimitives.Multiply(originalSample, 1f - sigma, destination);
        TensorPrimitives.Add(scaledNoise, destination, destination);
    }

    /// <summary>Throws unless a schedule is set and <paramref name="stepIndex"/> indexes <see cref="Timesteps"/>.</summary>
    protected void ValidateStepIndex(int stepIndex) => StepArguments.RequireIndex(this, _timesteps.Length, stepIndex);

    /// <summary>Checks the step index and that the model output and sample have the same, non-zero length.</summary>
    protected void ValidateStep(ReadOnlySpan<float> modelOutput, int stepIndex, Span<float> sample)
    {
        ValidateStepIndex(stepIndex);
        StepArguments.RequireStepBuffers(modelOutput, sample);
    }

    /// <summary>Returns <paramref name="random"/> or throws for stochastic steps called without one.</summary>
    protected IRandomSource RequireRandom(IRandomSource? random) => StepArguments.RequireRandom(this, random);

    /// <summary>A scratch buffer of <paramref name="length"/> floats for <paramref name="slot"/>, kept while the sample length stays the same.</summary>
    protected Span<float> Scratch(int slot, int length) => _scratch.Get(slot, length);

    /// <summary>Appends the terminal sigma and derives timesteps = σ·N in float32 (diffusers' steps 5–6), with σ → 1 − σ first when <paramref name="invert"/>.</summary>
    protected (float[] Timesteps, float[] Sigmas) WithTerminal(float[] sigmas, bool invert)
    {
        float n = Config.NumTrainTimesteps;
        var withTerminal = new float[sigmas.Length + 1];
        var timesteps = new float[sigmas.Length];
        for (int i = 0; i < sigmas.Length; i++)
        {
            float sigma = invert ? 1f - sigmas[i] : sigmas[i];
            withTerminal[i] = sigma;
            timesteps[i] = sigma * n;
        }
        withTerminal[^1] = invert ? 1f : 0f;
        return (timesteps, withTerminal);
    }
}
