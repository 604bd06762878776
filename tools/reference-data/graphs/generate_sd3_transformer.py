#!/usr/bin/python3
"""Tiny SD3Transformer2DModel checkpoints in diffusers' safetensors layout, and the outputs of diffusers' own class.

Usage:
  /usr/bin/python3 generate_sd3_transformer.py <diffusers src> <diffusers-reference tools> [out]

  diffusers src   diffusers' src/ (checked with commit 58eb52c), run through ../shared/tools/diffusers-reference's stand-ins
  out             default tests/Diffusion.Core.Tests/TestData/graphs

Writes (config.json as diffusers saves it, diffusion_pytorch_model.safetensors with diffusers' names, the persistent
pos_embed.pos_embed buffer included):
  sd3-transformer/    SD3.0-like: 3 layers, 2 heads of 8, patch 2, 4 latent channels, pos_embed_max_size 8, no QK norm
  sd35-transformer/   SD3.5-medium-like: the same plus qk_norm rms_norm and dual attention in layers 0 and 1
  reference/          sd3.hidden.f32 [2,4,8,6] (a non-square 4x3-patch latent), sd3.context.f32 [2,5,12],
                      sd3.pooled.f32 [2,10], sd3.timestep.f32 [2] (999.5 and 10); <folder>.out.f32 = the sample [2,4,8,6]
  sd3-sai.safetensors, sd35-sai.safetensors
                      the same weights in Stability AI's single-file layout under model.diffusion_model. (fused qkv,
                      continuous norms as (shift, scale)): the inverse of diffusers' convert_sd3_transformer_checkpoint_to_diffusers
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
from diffusers.models.transformers.transformer_sd3 import SD3Transformer2DModel  # noqa: E402
from generate_clip_checkpoints import write_safetensors  # noqa: E402
from generate_vae_checkpoints import randomise, save  # noqa: E402  (the same weight randomisation and writer)


def main():
    os.makedirs(os.path.join(OUT, "reference"), exist_ok=True)
    g = torch.Generator().manual_seed(41)
    hidden = torch.randn(2, 4, 8, 6, generator=g)
    context = torch.randn(2, 5, 12, generator=g)
    pooled = torch.randn(2, 10, generator=g)
    timestep = torch.tensor([999.5, 10.0])
    for name, tensor in (("hidden", hidden), ("context", context), ("pooled", pooled), ("timestep", timestep)):
        save(os.path.join(OUT, "reference", f"sd3.{name}.f32"), tensor)
    specs = [("sd3-transformer", 42, (), None), ("sd35-transformer", 43, (0, 1), "rms_norm")]
    for folder, seed, dual, qk_norm in specs:
        torch.manual_seed(seed)
        model = SD3Transformer2DModel(sample_size=8, patch_size=2, in_channels=4, num_layers=3, attention_head_dim=8,
                                      num_attention_heads=2, joint_attention_dim=12, caption_projection_dim=16,
                                      pooled_projection_dim=10, out_channels=4, pos_embed_max_size=8,
                                      dual_attention_layers=dual, qk_norm=qk_norm).eval()
        randomise(model, seed)
        target = os.path.join(OUT, folder)
        os.makedirs(target, exist_ok=True)
        write_safetensors(os.path.join(target, "diffusion_pytorch_model.safetensors"), model.state_dict(), "F32")
        config = {k: (list(v) if isinstance(v, tuple) else v) for k, v in dict(model.config).items() if not k.startswith("_")}
        with open(os.path.join(target, "config.json"), "w") as f:
            json.dump({"_class_name": "SD3Transformer2DModel", "_diffusers_version": "0.36.0"} | config, f, indent=2)
        with torch.no_grad():
            out = model(hidden_states=hidden, encoder_hidden_states=context, pooled_projections=pooled, timestep=timestep).sample
        save(os.path.join(OUT, "reference", folder + ".out.f32"), out)
        write_safetensors(os.path.join(OUT, folder.replace("-transformer", "-sai.safetensors")), to_sai(model.state_dict(), 3), "F32")


def swap(t):
    a, b = t.chunk(2, dim=0)
    return torch.cat([b, a], dim=0)


def to_sai(state, layers):
    """The inverse of diffusers' convert_sd3_transformer_checkpoint_to_diffusers (single_file_utils.py)."""
    s = dict(state)
    out = {"pos_embed": s.pop("pos_embed.pos_embed")}
    renames = {"pos_embed.proj": "x_embedder.proj", "time_text_embed.timestep_embedder.linear_1": "t_embedder.mlp.0",
               "time_text_embed.timestep_embedder.linear_2": "t_embedder.mlp.2", "time_text_embed.text_embedder.linear_1": "y_embedder.mlp.0",
               "time_text_embed.text_embedder.linear_2": "y_embedder.mlp.2", "context_embedder": "context_embedder", "proj_out": "final_layer.linear"}
    for kind in ("weight", "bias"):
        for new, old in renames.items():
            out[f"{old}.{kind}"] = s.pop(f"{new}.{kind}")
        out[f"final_layer.adaLN_modulation.1.{kind}"] = swap(s.pop(f"norm_out.linear.{kind}"))
    for i in range(layers):
        p, b = f"transformer_blocks.{i}.", f"joint_blocks.{i}."
        last = i == layers - 1
        for kind in ("weight", "bias"):
            out[f"{b}x_block.attn.qkv.{kind}"] = torch.cat([s.pop(f"{p}attn.to_{x}.{kind}") for x in "qkv"])
            out[f"{b}context_block.attn.qkv.{kind}"] = torch.cat([s.pop(f"{p}attn.add_{x}_proj.{kind}") for x in "qkv"])
            out[f"{b}x_block.attn.proj.{kind}"] = s.pop(f"{p}attn.to_out.0.{kind}")
            out[f"{b}x_block.adaLN_modulation.1.{kind}"] = s.pop(f"{p}norm1.linear.{kind}")
            context_mod = s.pop(f"{p}norm1_context.linear.{kind}")
            out[f"{b}context_block.adaLN_modulation.1.{kind}"] = swap(context_mod) if last else context_mod
            out[f"{b}x_block.mlp.fc1.{kind}"] = s.pop(f"{p}ff.net.0.proj.{kind}")
            out[f"{b}x_block.mlp.fc2.{kind}"] = s.pop(f"{p}ff.net.2.{kind}")
            if not last:
                out[f"{b}context_block.attn.proj.{kind}"] = s.pop(f"{p}attn.to_add_out.{kind}")
                out[f"{b}context_block.mlp.fc1.{kind}"] = s.pop(f"{p}ff_context.net.0.proj.{kind}")
                out[f"{b}context_block.mlp.fc2.{kind}"] = s.pop(f"{p}ff_context.net.2.{kind}")
            if f"{p}attn2.to_q.{kind}" in s:
                out[f"{b}x_block.attn2.qkv.{kind}"] = torch.cat([s.pop(f"{p}attn2.to_{x}.{kind}") for x in "qkv"])
                out[f"{b}x_block.attn2.proj.{kind}"] = s.pop(f"{p}attn2.to_out.0.{kind}")
        for new, old in (("attn.norm_q", "x_block.attn.ln_q"), ("attn.norm_k", "x_block.attn.ln_k"), ("attn.norm_added_q", "context_block.attn.ln_q"),
                         ("attn.norm_added_k", "context_block.attn.ln_k"), ("attn2.norm_q", "x_block.attn2.ln_q"), ("attn2.norm_k", "x_block.attn2.ln_k")):
            if f"{p}{new}.weight" in s:
                out[f"{b}{old}.weight"] = s.pop(f"{p}{new}.weight")
    assert not s, f"unmapped: {sorted(s)}"
    return {"model.diffusion_model." + k: v for k, v in out.items()}


if __name__ == "__main__":
    main()
