namespace Diffusion.Core.Adapters;

/// <summary>A LoRA and the multiplier (strength) to merge it with; <c>1</c> is the trained strength, <c>0</c> leaves the model unchanged.</summary>
/// <param name="Adapter">The loaded LoRA file.</param>
/// <param name="Multiplier">Scale applied on top of the file's <c>alpha / rank</c>; negative values subtract the LoRA.</param>
public readonly record struct LoraWeight(LoraAdapter Adapter, float Multiplier);
