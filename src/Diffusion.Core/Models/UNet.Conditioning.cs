using Microsoft.ML.OnnxRuntime;

namespace Diffusion.Core.Models;

/// <summary>
/// The UNet's added-conditioning inputs, bound by the names the model declares: SDXL's pooled text embeddings
/// <c>text_embeds</c> [batch, pooled width] and <c>time_ids</c> [batch, 6 or 5] (diffusers'
/// <c>addition_embed_type="text_time"</c>), and LCM's guidance embedding <c>timestep_cond</c> [batch, dim].
/// </summary>
public sealed partial class UNet
{
    /// <summary>The added-conditioning inputs this wrapper knows, by the names optimum exports them with.</summary>
    public static IReadOnlyList<string> KnownConditioningInputNames => AddedConditioningInputs.KnownNames;

    private AddedConditioningInputs? _conditioning;

    /// <summary>The added-conditioning inputs the model declares (empty for SD 1.x/2.x UNets), in declaration order.</summary>
    public IReadOnlyList<TensorSpec> ConditioningInputs => _conditioning?.Specs ?? [];

    /// <summary>The declared conditioning input named <paramref name="name"/>, or <see langword="null"/>.</summary>
    public TensorSpec? FindConditioningInput(string name) => _conditioning?.Find(name);

    /// <summary>
    /// True for a latent consistency (LCM) UNet: it takes the guidance scale as an embedding (<c>timestep_cond</c>), so
    /// pipelines run no classifier-free guidance with it (diffusers' rule when <c>time_cond_proj_dim</c> is set).
    /// </summary>
    public bool TakesGuidanceEmbedding => FindConditioningInput("timestep_cond") is not null;

    /// <summary>
    /// Runs the UNet once with added conditioning (SDXL's <c>text_embeds</c> and <c>time_ids</c>, LCM's
    /// <c>timestep_cond</c>), otherwise as <see cref="Predict(Memory{float}, int, int, int, float, Memory{float}, int, Memory{float}, RunOptions?)"/>.
    /// </summary>
    /// <param name="sample">Latents, float32 <c>[batch, InChannels, height, width]</c>.</param>
    /// <param name="batch">Batch size.</param>
    /// <param name="height">Latent height.</param>
    /// <param name="width">Latent width.</param>
    /// <param name="timestep">The timestep.</param>
    /// <param name="encoderHiddenStates">Text embeddings, float32 <c>[batch, sequenceLength, width]</c>.</param>
    /// <param name="sequenceLength">Tokens per prompt.</param>
    /// <param name="conditioning">One float32 <c>[batch, width]</c> buffer per declared <see cref="ConditioningInputs"/> name, no others.</param>
    /// <param name="noisePrediction">Receives the prediction.</param>
    /// <param name="runOptions">Run options (cancellation).</param>
    /// <exception cref="ArgumentException">A declared conditioning input is missing, one is given that the model does not declare, or a length does not fit.</exception>
    public void Predict(Memory<float> sample, int batch, int height, int width, float timestep, Memory<float> encoderHiddenStates,
        int sequenceLength, IReadOnlyDictionary<string, Memory<float>> conditioning, Memory<float> noisePrediction, RunOptions? runOptions = null)
    {
        ArgumentNullException.ThrowIfNull(conditioning);
        _conditioning!.RequireOnlyDeclared(conditioning, nameof(conditioning));
        PredictCore(sample, batch, height, width, timestep, encoderHiddenStates, sequenceLength, noisePrediction, runOptions, conditioning);
    }
}
