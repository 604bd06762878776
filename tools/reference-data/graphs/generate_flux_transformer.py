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
  flux-dev-bfl.safetensors       the flux-dev-transformer weights in Black Forest Labs' single-file layout with
                                 ComfyUI's model.diffusion_model. prefix (fused qkv, linear1 = q|k|v|mlp, final
                                 modulation as (shift, scale)): the inverse of diffusers'
                                 convert_flux_transformer_checkpoint_to_diffusers
  flux-schnell-bfl.safetensors   the same for flux-schnell-transformer, without a prefix
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
        bfl_name = folder.replace("-transformer", "-bfl.safetensors")
        write_safetensors(os.path.join(OUT, bfl_name), to_bfl(model.state_dict(), "model.diffusion_model." if guidance else ""), "F32")


def to_bfl(state, prefix):
    """The inverse of diffusers' convert_flux_transformer_checkpoint_to_diffusers (single_file_utils.py)."""
    s = dict(state)
    out = {}
    renames = {"time_text_embed.timestep_embedder.linear_1": "time_in.in_layer", "time_text_embed.timestep_embedder.linear_2": "time_in.out_layer",
               "time_text_embed.guidance_embedder.linear_1": "guidance_in.in_layer", "time_text_embed.guidance_embedder.linear_2": "guidance_in.out_layer",
               "time_text_embed.text_embedder.linear_1": "vector_in.in_layer", "time_text_embed.text_embedder.linear_2": "vector_in.out_layer",
               "context_embedder": "txt_in", "x_embedder": "img_in", "proj_out": "final_layer.linear"}
    for new, old in renames.items():
        for kind in ("weight", "bias"):
            if f"{new}.{kind}" in s:
                out[f"{old}.{kind}"] = s.pop(f"{new}.{kind}")
    for kind in ("weight", "bias"):
        scale, shift = s.pop(f"norm_out.linear.{kind}").chunk(2, dim=0)
        out[f"final_layer.adaLN_modulation.1.{kind}"] = torch.cat([shift, scale], dim=0)
    i = 0
    while f"transformer_blocks.{i}.norm1.linear.weight" in s:
        p, b = f"transformer_blocks.{i}.", f"double_blocks.{i}."
        for kind in ("weight", "bias"):
            out[f"{b}img_mod.lin.{kind}"] = s.pop(f"{p}norm1.linear.{kind}")
            out[f"{b}txt_mod.lin.{kind}"] = s.pop(f"{p}norm1_context.linear.{kind}")
            out[f"{b}img_attn.qkv.{kind}"] = torch.cat([s.pop(f"{p}attn.to_{x}.{kind}") for x in "qkv"])
            out[f"{b}txt_attn.qkv.{kind}"] = torch.cat([s.pop(f"{p}attn.add_{x}_proj.{kind}") for x in "qkv"])
            out[f"{b}img_attn.proj.{kind}"] = s.pop(f"{p}attn.to_out.0.{kind}")
            out[f"{b}txt_attn.proj.{kind}"] = s.pop(f"{p}attn.to_add_out.{kind}")
            out[f"{b}img_mlp.0.{kind}"] = s.pop(f"{p}ff.net.0.proj.{kind}")
            out[f"{b}img_mlp.2.{kind}"] = s.pop(f"{p}ff.net.2.{kind}")
            out[f"{b}txt_mlp.0.{kind}"] = s.pop(f"{p}ff_context.net.0.proj.{kind}")
            out[f"{b}txt_mlp.2.{kind}"] = s.pop(f"{p}ff_context.net.2.{kind}")
        out[f"{b}img_attn.norm.query_norm.scale"] = s.pop(f"{p}attn.norm_q.weight")
        out[f"{b}img_attn.norm.key_norm.scale"] = s.pop(f"{p}attn.norm_k.weight")
        out[f"{b}txt_attn.norm.query_norm.scale"] = s.pop(f"{p}attn.norm_added_q.weight")
        out[f"{b}txt_attn.norm.key_norm.scale"] = s.pop(f"{p}attn.norm_added_k.weight")
        i += 1
    i = 0
    while f"single_transformer_blocks.{i}.norm.linear.weight" in s:
        p, b = f"single_transformer_blocks.{i}.", f"single_blocks.{i}."
        for kind in ("weight", "bias"):
            out[f"{b}modulation.lin.{kind}"] = s.pop(f"{p}norm.linear.{kind}")
            out[f"{b}linear1.{kind}"] = torch.cat([s.pop(f"{p}attn.to_{x}.{kind}") for x in "qkv"] + [s.pop(f"{p}proj_mlp.{kind}")])
            out[f"{b}linear2.{kind}"] = s.pop(f"{p}proj_out.{kind}")
        out[f"{b}norm.query_norm.scale"] = s.pop(f"{p}attn.norm_q.weight")
        out[f"{b}norm.key_norm.scale"] = s.pop(f"{p}attn.norm_k.weight")
        i += 1
    assert not s, f"unmapped: {sorted(s)}"
    return {prefix + k: v for k, v in out.items()}


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
