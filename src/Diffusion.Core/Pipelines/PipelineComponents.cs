using Diffusion.Core.Families;
using Diffusion.Core.Models;
using Diffusion.Core.Schedulers;

namespace Diffusion.Core.Pipelines;

/// <summary>
/// Everything a pipeline is assembled from, however it was found (a diffusers folder, a single-file checkpoint): the
/// family, scheduler config, tokenizer folders with their text encoders, the model sources (files or built graphs) and
/// the settings the configs carry. Resolving it reads configs and headers and builds graphs; it creates no session.
/// <c>Location</c> is the folder or file (for logs and messages); <c>TextEncoders</c> pairs each conditioning text
/// encoder, in conditioning order, with its tokenizer folder; <c>ConfigJson</c> holds the text of the configs an export of
/// these components writes (<c>scheduler</c>, <c>unet</c>, <c>vae</c>), as read or as the published defaults.
/// </summary>
internal sealed record PipelineComponents(
    string Location,
    ModelFamily Family,
    SchedulerConfig SchedulerConfig,
    IReadOnlyList<(string TokenizerDirectory, ModelSource Encoder)> TextEncoders,
    ModelSource UNet,
    ModelSource VaeDecoder,
    ModelSource? VaeEncoder,
    float VaeScalingFactor,
    int DefaultImageSize,
    int? ImageSizeMultiple,
    bool VaeForceUpcast,
    bool? ForceZerosForEmptyPrompt,
    bool? RequiresAestheticsScore,
    IReadOnlyDictionary<string, string> ConfigJson);
