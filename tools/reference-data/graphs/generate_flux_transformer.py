#!/usr/bin/python3
"""Tiny FluxTransformer2DModel checkpoints in diffusers' safetensors layout, and the outputs of diffusers' own class.

Usage:
  /usr/bin/python3 generate_flux_transformer.py <diffusers src> <diffusers-reference tools> [out]

  diffusers src   diffusers' src/ (checked with commit 58eb52c), run through ../shared/tools/diffusers-reference's stand-ins
  out             default tests/Diffusion.Core.Tests/TestData/graphs

Writes (config.json as diffusers saves it, diffusion_pytorch_model.safetensors with diffusers' names):
  flux-dev-transformer/      FLUX.1-dev-like: 2 double-stream and 2 single-stream blocks, 2 heads of 8 (RoPE axes 2, 2, 4),
                             8 packed input channels, with the guidance embedder
  flux-schnell-transformer/  the same without guidance (FLUX.1-schnell)
  reference/                 flux.hidden.f32 [2,6,8] (a 2x3 packed latent), flux.context.f32 [2,5,12], flux.pooled.f32
                             [2,10], flux.timestep.f32 [2] (1.0 and 0.25: the pipeline's t/1000), flux.guidance.f32 [2]
                             (3.5, 1.5), flux.img_ids.f32 [6,3] (0, row, column), flux.txt_ids.f32 [5,3] (zeros);
                             <folder>.out.f32 = the sample [2,6,8]
                             flux.pack.latents.f32 [2,16,4,6], flux.pack.packed.f32 = _pack_latents of it [2,6,64],
                             flux.pack.ids.f32 = _prepare_latent_image_ids for 2x3 tokens [6,3] (FluxPipeline's
                             functions, transcribed: the pipeline module needs transformers)
"""
import json
import os
import sys

DIFFUSERS_SRC, REFERENCE_TOOLS = sys.argv[1:3]
OUT = sys.argv[3] if len(sys.argv) > 3 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "tests", "Diffusion.Core.Tests", "TestData", "graphs")
sys.path.insert(0, REFERENCE_TOOLS)
import stand_ins  # noqa: E402,F401  (before diffusers)
sys.path.insert(0, DIFFUSERS_SRC)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch  # noqa: E402
from diffusers.models.transformers.transformer_flux import FluxTransformer2DModel  # noqa: E402
from generate_clip_checkpoints import write_safetensors  # noqa: E402
from generate_sd3_transformer import randomise, save  # noqa: E402


def main():
    os.makedirs(os.path.join(OUT, "reference"), exist_ok=True)
    g = torch.Generator().manual_seed(51)
    tensors = {
        "hidden": torch.randn(2, 6, 8, generator=g),
        "context": torch.randn(2, 5, 12, generator=g),
        "pooled": torch.randn(2, 10, generator=g),
        "timestep": torch.tensor([1.0, 0.25]),
        "guidance": torch.tensor([3.5, 1.5]),
        "img_ids": torch.tensor([[0.0, r, c] for r in range(2) for c in range(3)]),
        "txt_ids": torch.zeros(5, 3),
    }
    for name, tensor in tensors.items():
        save(os.path.join(OUT, "reference", f"flux.{name}.f32"), tensor)
    for folder, seed, guidance in (("flux-dev-transformer", 52, True), ("flux-schnell-transformer", 53, False)):
        torch.manual_seed(seed)
        model = FluxTransformer2DModel(patch_size=1, in_channels=8, num_layers=2, num_single_layers=2, attention_head_dim=8,
                                       num_attention_heads=2, joint_attention_dim=12, pooled_projection_dim=10,
                                       guidance_embeds=guidance, axes_dims_rope=(2, 2, 4)).eval()
        randomise(model, seed)
        target = os.path.join(OUT, folder)
        os.makedirs(target, exist_ok=True)
        write_safetensors(os.path.join(target, "diffusion_pytorch_model.safetensors"), model.state_dict(), "F32")
        config = {k: (list(v) if isinstance(v, tuple) else v) for k, v in dict(model.config).items() if not k.startswith("_")}
        with open(os.path.join(target, "config.json"), "w") as f:
            json.dump({"_class_name": "FluxTransformer2DModel", "_diffusers_version": "0.36.0"} | config, f, indent=2)
        with torch.no_grad():
            out = model(hidden_states=tensors["hidden"], encoder_hidden_states=tensors["context"], pooled_projections=tensors["pooled"],
                        timestep=tensors["timestep"], img_ids=tensors["img_ids"], txt_ids=tensors["txt_ids"],
                        guidance=tensors["guidance"] if guidance else None).sample
        save(os.path.join(OUT, "reference", folder + ".out.f32"), out)


def pack_latents(latents, batch_size, num_channels_latents, height, width):
    latents = latents.view(batch_size, num_channels_latents, height // 2, 2, width // 2, 2)
    latents = latents.permute(0, 2, 4, 1, 3, 5)
    return latents.reshape(batch_size, (height // 2) * (width // 2), num_channels_latents * 4)


def prepare_latent_image_ids(height, width):
    latent_image_ids = torch.zeros(height, width, 3)
    latent_image_ids[..., 1] = latent_image_ids[..., 1] + torch.arange(height)[:, None]
    latent_image_ids[..., 2] = latent_image_ids[..., 2] + torch.arange(width)[None, :]
    return latent_image_ids.reshape(height * width, 3)


def packing():
    latents = torch.randn(2, 16, 4, 6, generator=torch.Generator().manual_seed(54))
    save(os.path.join(OUT, "reference", "flux.pack.latents.f32"), latents)
    save(os.path.join(OUT, "reference", "flux.pack.packed.f32"), pack_latents(latents, 2, 16, 4, 6))
    save(os.path.join(OUT, "reference", "flux.pack.ids.f32"), prepare_latent_image_ids(2, 3))


if __name__ == "__main__":
    packing()
    main()
