using Diffusion.Core.Adapters;
using Diffusion.Core.Families;
using Diffusion.Core.Models;

namespace Diffusion.Core.Pipelines;

/// <summary>
/// LoRAs on an SD3/FLUX.1 pipeline, merged at load into the components their keys name: diffusers/PEFT
/// <c>transformer.…</c> into the transformer, <c>text_encoder.…</c> into CLIP(-L), <c>text_encoder_2.…</c> into the second
/// encoder (SD3's CLIP-G, FLUX.1's T5). A file with UNet keys (kohya's <c>lora_unet_…</c>, which FLUX.1 LoRAs from kohya's
/// trainer use with Black Forest Labs' block names) is refused by name rather than applied to nothing.
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
                $"{unetKeyed[0].Path} has UNet keys (lora_unet_… or unet.…); {family.Name} LoRAs are read in diffusers' transformer.… keys in this version (kohya's FLUX.1 names are not mapped yet).");
        LoraSessionSwitcher.SetInitial(adapters, adapters.Transformer, transformer, loras);
        LoraSessionSwitcher.SetInitial(adapters, adapters.TextEncoder, textEncoder, loras);
        LoraSessionSwitcher.SetInitial(adapters, adapters.TextEncoder2, textEncoder2, loras);
    }
}
