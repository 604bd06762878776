using Diffusion.Core.Execution;
using Microsoft.Extensions.Logging;

namespace Diffusion.Core.Pipelines;

/// <summary>
/// How a pipeline runs its models: the per-session option bag. <see cref="Session"/> applies to every
/// component unless a per-component override is set, so a user can, for example, run the UNet on CUDA
/// and the VAE on the CPU.
/// </summary>
public sealed record PipelineSettings
{
    /// <summary>Session settings (execution provider, threads, optimisation level) for every component.</summary>
    public SessionSettings Session { get; init; } = new();

    /// <summary>Override of <see cref="Session"/> for the text encoder.</summary>
    public SessionSettings? TextEncoderSession { get; init; }

    /// <summary>
    /// Loads the UNet from this <c>.onnx</c> file instead of the folder's <c>unet/model.onnx</c> — for example an fp16 or
    /// int64-timestep export of the same model. Null (the default) uses the folder's.
    /// </summary>
    public string? UNetModelPath { get; init; }

    /// <summary>Override of <see cref="Session"/> for the UNet.</summary>
    public SessionSettings? UNetSession { get; init; }

    /// <summary>Override of <see cref="Session"/> for the VAE decoder.</summary>
    public SessionSettings? VaeDecoderSession { get; init; }

    /// <summary>
    /// A float32 VAE decoder (<c>model.onnx</c>) to decode again with when the folder's float16 decoder gives NaN or
    /// infinite values: SDXL's VAE overflows in float16 (its config sets <c>force_upcast</c>), as diffusers upcasts it. The
    /// file is checked when the pipeline loads; the session is created at the first overflow and kept (released after each
    /// decode in <see cref="MemoryMode.Sequential"/>). Null: such a decode fails with
    /// <see cref="NumericalInstabilityException"/> naming the decoder and the fixes.
    /// </summary>
    public string? VaeDecoderFallbackPath { get; init; }

    /// <summary>Override of <see cref="Session"/> for the VAE encoder.</summary>
    public SessionSettings? VaeEncoderSession { get; init; }

    /// <summary>
    /// Keep every model loaded (default) or load each for its stage only (<see cref="MemoryMode.Sequential"/>, whose
    /// sessions run without ONNX Runtime's CPU memory arena so a released model's memory really goes back to the OS).
    /// </summary>
    public MemoryMode MemoryMode { get; init; } = MemoryMode.KeepLoaded;

    /// <summary>
    /// The memory, in bytes, that <see cref="MemoryMode.Auto"/> plans within instead of what the process has available at
    /// load (<see cref="AvailableMemory.Read"/>: the kernel's MemAvailable and the control group's limit). Ignored by the
    /// other modes. Must be positive.
    /// </summary>
    public long? MemoryBudget { get; init; }

    /// <summary>How the two passes of classifier-free guidance are run.</summary>
    public ClassifierFreeGuidanceMode GuidanceMode { get; init; } = ClassifierFreeGuidanceMode.Auto;

    /// <summary>
    /// LoRAs merged into the UNet and the text encoder when the pipeline loads (each into the components it has modules
    /// for), in order; several on one weight add up. The model files are not changed: the merged weights are handed to
    /// ONNX Runtime as initializer overrides. What matched is in <see cref="GenerationResult.LoraReports"/> and the log.
    /// </summary>
    public IReadOnlyList<LoraFile> Loras { get; init; } = [];

    /// <summary>
    /// A folder of LoRA files for A1111 prompt tags: when set, <c>&lt;lora:name:0.8&gt;</c> tags are removed from the
    /// prompt and <c>name.safetensors</c> from this folder is merged with multiplier 0.8 on top of <see cref="Loras"/>;
    /// only the components whose LoRA set changed since the previous call get new sessions. When null, prompts are
    /// passed to the tokenizer unchanged (as diffusers does).
    /// </summary>
    public string? LoraDirectory { get; init; }

    /// <summary>
    /// Textual-inversion embeddings (<c>.safetensors</c>, A1111 or diffusers layout) added when the pipeline loads: each
    /// adds its token (the file name, or the file's single key) to the tokenizer and its vectors to the text encoder's
    /// token embedding. A multi-vector embedding's token is expanded in prompts to all its vectors, as diffusers does.
    /// </summary>
    public IReadOnlyList<string> TextualInversions { get; init; } = [];

    /// <summary>Receives load and per-generation timing messages; null logs nothing.</summary>
    public ILogger? Logger { get; init; }

    /// <summary>
    /// The model family, overriding what the folder's <c>model_index.json</c> <c>_class_name</c> (or, when that is
    /// unknown, the UNet's declared inputs) says; <see langword="null"/> to detect it.
    /// </summary>
    public Families.ModelFamily? Family { get; init; }

    /// <summary>
    /// The scheduler's <c>prediction_type</c> (<c>epsilon</c>, <c>v_prediction</c> or <c>sample</c>), overriding the model's
    /// scheduler config: for a single-file SD 2.x checkpoint, which cannot say whether it is a 768-v or a 512 epsilon model
    /// (docs/single-file.md), or a folder whose config is wrong. Null keeps the model's.
    /// </summary>
    public string? PredictionType { get; init; }

    /// <summary>
    /// For a single-file checkpoint: a diffusers-layout folder giving what the file does not hold, as diffusers'
    /// <c>from_single_file(config=…)</c> takes it: <c>tokenizer/</c> (and <c>tokenizer_2/</c> for SDXL), and optionally
    /// <c>scheduler/scheduler_config.json</c> and each component's <c>config.json</c> (<c>unet/</c>, <c>vae/</c>,
    /// <c>text_encoder/</c>, <c>text_encoder_2/</c>). Components without a config get the detected family's published
    /// one (SD 1.5, SD 2.1, SDXL base or refiner). Null looks for <c>tokenizer/</c> beside the checkpoint file.
    /// </summary>
    public string? ConfigDirectory { get; init; }

    /// <summary>
    /// For a single-file checkpoint: a separate VAE file (<c>.safetensors</c>, original LDM or diffusers names, with or
    /// without the <c>first_stage_model.</c> prefix) that replaces the VAE embedded in the checkpoint, as the web UIs'
    /// VAE setting does. Null uses the embedded one.
    /// </summary>
    public string? VaePath { get; init; }

    internal SessionSettings TextEncoderSettings => ForMemoryMode(TextEncoderSession ?? Session);

    internal SessionSettings UNetSettings => ForMemoryMode(UNetSession ?? Session);

    internal SessionSettings VaeDecoderSettings => ForMemoryMode(VaeDecoderSession ?? Session);

    internal SessionSettings VaeEncoderSettings => ForMemoryMode(VaeEncoderSession ?? Session);

    // Sequential mode runs without ONNX Runtime's CPU memory arena: a released session's arena pages are not given
    // back to the OS, so with the arena the next stage's peak adds to the last one's (measured: 2393 MiB vs 1333 MiB
    // at 1024² on tiny-sd, against 1268 MiB for the UNet alone; docs/performance.md).
    private SessionSettings ForMemoryMode(SessionSettings settings) =>
        MemoryMode == MemoryMode.Sequential ? settings with { EnableMemoryArena = false } : settings;
}
