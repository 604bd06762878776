#!/usr/bin/python3
"""Tiny AutoencoderKL checkpoints in diffusers' safetensors layout, and the outputs of diffusers' own AutoencoderKL.

Usage:
  /usr/bin/python3 generate_vae_checkpoints.py <diffusers src> <diffusers-reference tools> [out]

  diffusers src   diffusers' src/ (checked with commit 58eb52c), run through ../shared/tools/diffusers-reference's stand-ins
  out             default tests/Diffusion.Core.Tests/TestData/graphs

Writes (config.json as diffusers saves it, diffusion_pytorch_model.safetensors with diffusers' tensor names):
  vae/           block_out_channels [8, 16, 32, 32], layers_per_block 2, 8 groups, float32
  vae-f16/       the same weights stored float16 (references: the rounded weights computed in float32)
  vae-legacy/    the same weights with the mid-block attention under the names older diffusers files use
                 (query, key, value, proj_attn), which diffusers renames on load
  reference/     vae.image.f32 [2,3,32,32] in [-1,1]; vae.latent.f32 [2,4,4,4];
                 <folder>.parameters.f32 = quant_conv(encoder(image)) [2,8,4,4];
                 <folder>.decoded.f32 = decoder(post_quant_conv(latent)) [2,3,32,32]
  vae-16/        SD3/FLUX.1's VAE shape in small: 16 latent channels, no quant convs (use_quant_conv and
                 use_post_quant_conv false), shift_factor/scaling_factor in its config; references
                 vae-16.latent.f32 [2,16,4,4], vae-16.parameters.f32 = encoder(image) [2,32,4,4],
                 vae-16.decoded.f32 = decoder(latent) [2,3,32,32] (on vae.image)
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
import numpy as np  # noqa: E402
import torch  # noqa: E402
from diffusers.models.autoencoders.autoencoder_kl import AutoencoderKL  # noqa: E402
from generate_clip_checkpoints import write_safetensors  # noqa: E402

LEGACY = {"to_q": "query", "to_k": "key", "to_v": "value", "to_out.0": "proj_attn"}


def randomise(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=g)
            if "norm" in name and name.endswith("weight"):
                p.copy_(1 + 0.2 * noise)
            elif p.dim() == 1:
                p.copy_(0.1 * noise)
            else:
                p.copy_(noise / np.sqrt(p[0].numel()))


def save(path, tensor):
    np.ascontiguousarray(tensor.detach().numpy().astype("<f4")).tofile(path)


def main():
    os.makedirs(os.path.join(OUT, "reference"), exist_ok=True)
    torch.manual_seed(31)
    vae = AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8, 16, 32, 32), layers_per_block=2,
                        norm_num_groups=8, down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
                        sample_size=32).eval()
    randomise(vae, 31)
    state = {k: v.detach().clone() for k, v in vae.state_dict().items()}
    config = {k: (list(v) if isinstance(v, tuple) else v) for k, v in dict(vae.config).items() if not k.startswith("_")}
    config = {"_class_name": "AutoencoderKL", "_diffusers_version": "0.36.0"} | config

    g = torch.Generator().manual_seed(32)
    image = torch.rand(2, 3, 32, 32, generator=g) * 2 - 1
    latent = torch.randn(2, 4, 4, 4, generator=g)
    save(os.path.join(OUT, "reference", "vae.image.f32"), image)
    save(os.path.join(OUT, "reference", "vae.latent.f32"), latent)

    for name, dtype, legacy in (("vae", "F32", False), ("vae-f16", "F16", False), ("vae-legacy", "F32", True)):
        target = os.path.join(OUT, name)
        os.makedirs(target, exist_ok=True)
        stored = state
        if legacy:
            stored = {}
            for key, value in state.items():
                for new, old in LEGACY.items():
                    key = key.replace(f"mid_block.attentions.0.{new}.", f"mid_block.attentions.0.{old}.")
                stored[key] = value
        write_safetensors(os.path.join(target, "diffusion_pytorch_model.safetensors"), stored, dtype)
        with open(os.path.join(target, "config.json"), "w") as f:
            json.dump(config, f, indent=2)
        vae.load_state_dict({k: (v.half().float() if dtype == "F16" else v) for k, v in state.items()})
        with torch.no_grad():
            save(os.path.join(OUT, "reference", name + ".parameters.f32"), vae.quant_conv(vae.encoder(image)))
            save(os.path.join(OUT, "reference", name + ".decoded.f32"), vae.decode(latent).sample)
        vae.load_state_dict(state)
    sixteen_channels(image)


def sixteen_channels(image):
    torch.manual_seed(33)
    vae = AutoencoderKL(in_channels=3, out_channels=3, latent_channels=16, block_out_channels=(8, 16, 32, 32), layers_per_block=2,
                        norm_num_groups=8, down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
                        sample_size=32, use_quant_conv=False, use_post_quant_conv=False, shift_factor=0.1159, scaling_factor=0.3611).eval()
    randomise(vae, 33)
    config = {k: (list(v) if isinstance(v, tuple) else v) for k, v in dict(vae.config).items() if not k.startswith("_")}
    config = {"_class_name": "AutoencoderKL", "_diffusers_version": "0.36.0"} | config
    target = os.path.join(OUT, "vae-16")
    os.makedirs(target, exist_ok=True)
    write_safetensors(os.path.join(target, "diffusion_pytorch_model.safetensors"), vae.state_dict(), "F32")
    with open(os.path.join(target, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    latent = torch.randn(2, 16, 4, 4, generator=torch.Generator().manual_seed(34))
    save(os.path.join(OUT, "reference", "vae-16.latent.f32"), latent)
    with torch.no_grad():
        save(os.path.join(OUT, "reference", "vae-16.parameters.f32"), vae.encoder(image))
        save(os.path.join(OUT, "reference", "vae-16.decoded.f32"), vae.decode(latent).sample)


if __name__ == "__main__":
    main()
