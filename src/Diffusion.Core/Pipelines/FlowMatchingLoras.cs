using Diffusion.Core.Adapters;
using Diffusion.Core.Families;
using Diffusion.Core.Models;

namespace Diffusion.Core.Pipelines;

/// <summary>
/// LoRAs on an SD3/FLUX.1 pipeline, merged at load into the components their keys name: diffusers/PEFT
/// <c>transformer.…</c> into the transformer, <c>text_encoder.…</c> into CLIP(-L), <c>text_encoder_2.…</c> into the second
/// encoder (SD3's CLIP-G, FLUX.1's T5); FLUX.1 files in kohya's or ComfyUI's keys, which name Black Forest Labs' layers,
/// into the transformer and CLIP-L (<see cref="CheckpointLoraModules"/>). A file with an SD UNet's keys is refused by name rather
/// than applied to nothing.
/// </summary>
internal static class FlowMatchingLoras
{
    public static void SetInitial(PipelineAdapters adapters, IReadOnlyList<LoraFile> loras, ModelFamily family, ModelSource transformer,
        ModelSource textEncoder, ModelSource textEncoder2)
    {
        if (loras.Count == 0)
            return;
        List<LoraFile> unetKeyed = adapters.Select(loras, LoraTarget.UNet);
        if (unetKeyed.Count > 0)
            throw new InvalidOptionException(nameof(PipelineSettings.Loras),
                $"{unetKeyed[0].Path} has Stable Diffusion UNet keys (lora_unet_down_blocks_… or unet.…), a LoRA for another model family; {family.Name} LoRAs have transformer.… keys (diffusers) or, for FLUX.1, Black Forest Labs' block names (kohya's lora_unet_double_blocks_…, ComfyUI's diffusion_model.double_blocks.…).");
        LoraSessionSwitcher.SetInitial(adapters, adapters.Transformer, transformer, loras);
        LoraSessionSwitcher.SetInitial(adapters, adapters.TextEncoder, textEncoder, loras);
        LoraSessionSwitcher.SetInitial(adapters, adapters.TextEncoder2, textEncoder2, loras);
    }
}
