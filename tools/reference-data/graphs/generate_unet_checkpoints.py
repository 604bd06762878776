#!/usr/bin/python3
"""Tiny UNet2DConditionModel checkpoints in diffusers' safetensors layout, and the outputs of diffusers' own class.

Usage:
  /usr/bin/python3 generate_unet_checkpoints.py <diffusers src> <diffusers-reference tools> [out]

  diffusers src   diffusers' src/ (checked with commit 58eb52c), run through ../shared/tools/diffusers-reference's stand-ins
  out             default tests/Diffusion.Core.Tests/TestData/graphs

Writes (config.json as diffusers saves it, diffusion_pytorch_model.safetensors with diffusers' tensor names):
  unet-sd/    SD 1.x-like: CrossAttnDownBlock2D + DownBlock2D, 1x1-conv transformer projections, 2 heads, cross 24
  unet-sdxl/  SDXL-like: DownBlock2D + 2 CrossAttnDownBlock2D, linear projections, 1/1/2 transformer layers,
              text_time added conditioning (6 time ids of 8 features, 12-wide text_embeds), cross 20
  reference/  per folder: <folder>.sample.f32 [2,4,8,8], <folder>.timestep.f32 [1], <folder>.context.f32 [2,7,cross],
              (sdxl) <folder>.text_embeds.f32 [2,12], <folder>.time_ids.f32 [2,6]; <folder>.out.f32 the UNet's output;
              timestep-frequencies-<dim>.f32: torch's float32 exp(-ln(10000) * i / (dim/2)) for SD's 320 and SDXL's 256
"""
import math
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
from diffusers.models.unets.unet_2d_condition import UNet2DConditionModel  # noqa: E402
from generate_clip_checkpoints import write_safetensors  # noqa: E402
from generate_vae_checkpoints import randomise, save  # noqa: E402

CONFIGS = {
    "unet-sd": dict(sample_size=8, in_channels=4, out_channels=4, block_out_channels=(16, 32), layers_per_block=2,
                    down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
                    cross_attention_dim=24, attention_head_dim=2, norm_num_groups=8),
    "unet-sdxl": dict(sample_size=8, in_channels=4, out_channels=4, block_out_channels=(16, 32, 32), layers_per_block=2,
                      down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
                      up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
                      transformer_layers_per_block=(1, 1, 2), attention_head_dim=(2, 2, 4), use_linear_projection=True,
                      cross_attention_dim=20, norm_num_groups=8, addition_embed_type="text_time", addition_time_embed_dim=8,
                      projection_class_embeddings_input_dim=12 + 6 * 8),
}


def main():
    os.makedirs(os.path.join(OUT, "reference"), exist_ok=True)
    for dim in (320, 256):
        half = dim // 2
        exponent = -math.log(10000) * torch.arange(0, half, dtype=torch.float32) / half
        save(os.path.join(OUT, "reference", f"timestep-frequencies-{dim}.f32"), torch.exp(exponent))
    for seed, (name, kwargs) in enumerate(CONFIGS.items(), start=41):
        torch.manual_seed(seed)
        unet = UNet2DConditionModel(**kwargs).eval()
        randomise(unet, seed)
        target = os.path.join(OUT, name)
        os.makedirs(target, exist_ok=True)
        write_safetensors(os.path.join(target, "diffusion_pytorch_model.safetensors"), unet.state_dict(), "F32")
        config = {k: (list(v) if isinstance(v, tuple) else v) for k, v in dict(unet.config).items() if not k.startswith("_")}
        with open(os.path.join(target, "config.json"), "w") as f:
            json.dump({"_class_name": "UNet2DConditionModel", "_diffusers_version": "0.36.0"} | config, f, indent=2)

        g = torch.Generator().manual_seed(seed)
        inputs = {
            "sample": torch.randn(2, 4, 8, 8, generator=g),
            "timestep": torch.tensor([981.0]),
            "context": torch.randn(2, 7, kwargs["cross_attention_dim"], generator=g),
        }
        added = None
        if "addition_embed_type" in kwargs:
            inputs["text_embeds"] = torch.randn(2, 12, generator=g)
            inputs["time_ids"] = torch.tensor([[64.0, 64.0, 0.0, 0.0, 64.0, 64.0], [48.0, 80.0, 8.0, 4.0, 64.0, 64.0]])
            added = {"text_embeds": inputs["text_embeds"], "time_ids": inputs["time_ids"]}
        for key, value in inputs.items():
            save(os.path.join(OUT, "reference", f"{name}.{key}.f32"), value)
        with torch.no_grad():
            out = unet(inputs["sample"], inputs["timestep"], encoder_hidden_states=inputs["context"], added_cond_kwargs=added).sample
        save(os.path.join(OUT, "reference", f"{name}.out.f32"), out)


if __name__ == "__main__":
    main()
