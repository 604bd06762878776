namespace Diffusion.Core.Pipelines;

/// <summary>The two <c>model_index.json</c> settings of diffusers' SDXL pipelines that change the conditioning.</summary>
/// <param name="ForceZerosForEmptyPrompt">With guidance and no negative prompt, zeros as the negative conditioning (base: true).</param>
/// <param name="RequiresAestheticsScore">Five <c>time_ids</c> ending with an aesthetic score instead of six with the target size (refiner: true).</param>
internal sealed record XLConditioningSettings(bool ForceZerosForEmptyPrompt, bool RequiresAestheticsScore);
