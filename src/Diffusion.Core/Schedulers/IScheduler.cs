using Diffusion.Core.Randomness;

namespace Diffusion.Core.Schedulers;

/// <summary>
/// A noise scheduler (sampler): the math that turns a model's noise prediction into the next, less
/// noisy latents. One contract for all schedulers, mirroring diffusers'
/// <c>set_timesteps</c> / <c>scale_model_input</c> / <c>step</c> / <c>add_noise</c>, working in place
/// on caller-owned spans. Schedulers know nothing of ONNX Runtime or models.
/// </summary>
/// <remarks>
/// A denoising loop runs <c>for i in 0..Timesteps.Length</c>: <see cref="ScaleModelInput"/> into the
/// model's input buffer, run the model at <c>Timesteps[i]</c>, then <see cref="Step"/> with the same
/// <c>i</c>. Stateful (multistep) schedulers expect the indices in order from the first one used;
/// <see cref="SetTimesteps"/> resets that state. After the first call at a given sample length, no
/// method allocates.
/// </remarks>
public interface IScheduler
{
    /// <summary>The configuration this scheduler was built from (diffusers' <c>scheduler_config.json</c> fields).</summary>
    SchedulerConfig Config { get; }

    /// <summary>How many model evaluations a single logical step takes (2 for Heun/KDPM2); used to map img2img strength to a start index.</summary>
    int Order { get; }

    /// <summary>The standard deviation of the initial noise (diffusers' <c>init_noise_sigma</c>); initial latents are N(0,1)·this.</summary>
    float InitNoiseSigma { get; }

    /// <summary>The timestep to pass to the model at each step index, valid after <see cref="SetTimesteps"/>.</summary>
    ReadOnlySpan<float> Timesteps { get; }

    /// <summary>Computes the timestep schedule for <paramref name="inferenceSteps"/> steps and resets any multistep state.</summary>
    /// <exception cref="InvalidOptionException"><paramref name="inferenceSteps"/> is not in 1..num_train_timesteps.</exception>
    void SetTimesteps(int inferenceSteps);

    /// <summary>Writes the model input for step <paramref name="stepIndex"/> (diffusers' <c>scale_model_input</c>) into <paramref name="destination"/>; may alias <paramref name="sample"/>.</summary>
    void ScaleModelInput(ReadOnlySpan<float> sample, int stepIndex, Span<float> destination);

    /// <summary>
    /// Advances <paramref name="sample"/> in place by one step given the model output at step
    /// <paramref name="stepIndex"/>. Stochastic schedulers draw their noise from <paramref name="random"/>
    /// (one tensor of <c>sample.Length</c> elements per draw, as diffusers does).
    /// </summary>
    /// <exception cref="ArgumentNullException">The scheduler is stochastic and <paramref name="random"/> is null.</exception>
    void Step(ReadOnlySpan<float> modelOutput, int stepIndex, Span<float> sample, IRandomSource? random = null);

    /// <summary>
    /// Noises clean latents to the noise level of step <paramref name="stepIndex"/> (diffusers'
    /// <c>add_noise</c> at <c>Timesteps[stepIndex]</c>), for image-to-image; <paramref name="destination"/> may alias either input.
    /// </summary>
    void AddNoise(ReadOnlySpan<float> originalSample, ReadOnlySpan<float> noise, int stepIndex, Span<float> destination);
}
