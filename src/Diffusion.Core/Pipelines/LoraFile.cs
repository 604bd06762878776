namespace Diffusion.Core.Pipelines;

/// <summary>A LoRA <c>.safetensors</c> file to merge into a pipeline's UNet and text encoder, and its multiplier.</summary>
/// <param name="Path">The LoRA file (kohya-ss/A1111 or diffusers/PEFT key layout).</param>
/// <param name="Multiplier">Strength: 1 is the trained strength, 0 leaves the model bit-identical, negative subtracts it.</param>
public readonly record struct LoraFile(string Path, float Multiplier = 1f);
