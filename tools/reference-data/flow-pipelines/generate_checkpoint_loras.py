#!/usr/bin/python3
"""FLUX.1 and SD3 LoRAs in the key styles they are published in (kohya-ss sd-scripts' lora_unet_double_blocks_0_img_attn_qkv,
ComfyUI's diffusion_model.double_blocks.0.img_attn.qkv), and what diffusers' own converter makes of them.

Usage:
  /usr/bin/python3 generate_checkpoint_loras.py <diffusers src> <diffusers-reference tools> [out]

  diffusers src   diffusers' src/ (checked with commit 58eb52c), run through ../shared/tools/diffusers-reference's stand-ins
  out             default tests/Diffusion.Core.Tests/TestData/flow-pipelines (needs tiny-flux-dev/ from
                  generate_tiny_flow_pipelines.py: the shapes are read from its transformer and CLIP)

These files name Black Forest Labs' fused layers: a double block's qkv (q, k, v rows stacked), a single block's linear1
(q, k, v, then the MLP's rows), the final modulation stored (shift, scale) where diffusers has (scale, shift). Each
module has a down [rank, in], an up [rows, rank] and an alpha. The reference is diffusers'
_convert_kohya_flux_lora_to_diffusers, which splits each fused up factor into the diffusers layers' row blocks (or, when
the up factor is block-diagonal, the rank too; its linear1 split is written for FLUX.1's sizes and is given the tiny
model's here), swaps the final modulation's halves, and folds alpha/rank into the
factors; its output is written in diffusers/PEFT keys. A library that merges the kohya file must give the same weights
as one that merges the converted file (W + m·B·A per diffusers layer). One deviation: diffusers' converter returns the
embedder modules (img_in, txt_in, time_in, vector_in, guidance_in) without the "transformer." prefix, which its loader
then drops; the converted file here carries the prefix, so those modules are applied, as kohya's own merge does. And
diffusers' converter ignores the alpha of the final layer's two modules (scale 1 where kohya's merge, ComfyUI and this
library use alpha/rank), so those two have no alpha here, where both readings agree.

Writes (float32; alpha 2 for rank 4, i.e. scale 0.5, except the final layer's; rank 3 without alpha):
  flux-dev-kohya-lora.safetensors        kohya keys for tiny-flux-dev: every FLUX module kind, a block-diagonal
                                         (rank-splittable) qkv, and CLIP-L (lora_te1_)
  flux-dev-kohya-lora-diffusers.safetensors   the same converted by diffusers (PEFT keys)
  flux-schnell-comfy-lora.safetensors    ComfyUI keys (diffusion_model., text_encoders.clip_l.transformer.) without the
                                         guidance embedder, for tiny-flux-schnell and flux-schnell-bfl.safetensors
  flux-schnell-comfy-lora-diffusers.safetensors   the same converted by diffusers
  sd3-kohya-lora.safetensors             kohya keys for tiny-sd3 in Stability AI's names (lora_unet_joint_blocks_0_x_block_attn_qkv,
                                         the dual-attention block's attn2, the last block's context modulation and the
                                         final one, stored (shift, scale), the final linear, the embedders' MLPs)
  sd3-kohya-lora-diffusers.safetensors   the same split into diffusers' layers here: diffusers has no converter for
                                         kohya SD3 files, so the rule of its FLUX.1 converter (copy the down factor,
                                         split the up factor's rows, swap the continuous norms' halves) is applied by
                                         split_for_diffusers below
"""
import json
import os
import sys

DIFFUSERS_SRC, REFERENCE_TOOLS = sys.argv[1:3]
HERE = os.path.dirname(os.path.abspath(__file__))
OUT = sys.argv[3] if len(sys.argv) > 3 else os.path.join(HERE, "..", "..", "..", "tests", "Diffusion.Core.Tests", "TestData", "flow-pipelines")
sys.argv = sys.argv[:1] + [DIFFUSERS_SRC, REFERENCE_TOOLS]
sys.path.insert(0, REFERENCE_TOOLS)
import stand_ins  # noqa: E402,F401  (before diffusers)
sys.path.insert(0, DIFFUSERS_SRC)
sys.path.insert(0, os.path.join(HERE, "..", "graphs"))
import inspect  # noqa: E402
import textwrap  # noqa: E402

import torch  # noqa: E402
from diffusers.loaders import lora_conversion_utils  # noqa: E402
from generate_clip_checkpoints import write_safetensors  # noqa: E402


def shapes(path):
    with open(path, "rb") as f:
        size = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(size))
    return {k: v["shape"] for k, v in header.items() if k != "__metadata__"}


def bfl_modules(transformer, guidance):
    """(BFL module, [out rows, in]) for each linear layer kind of FLUX, from the diffusers tensors' shapes."""
    inner = transformer["x_embedder.weight"][0]
    mlp = transformer["transformer_blocks.0.ff.net.0.proj.weight"][0]
    modules = [
        ("double_blocks.0.img_attn.qkv", [3 * inner, inner]),
        ("double_blocks.0.txt_attn.qkv", [3 * inner, inner]),
        ("double_blocks.0.img_attn.proj", [inner, inner]),
        ("double_blocks.0.txt_attn.proj", [inner, inner]),
        ("double_blocks.0.img_mlp.0", [mlp, inner]),
        ("double_blocks.0.img_mlp.2", [inner, mlp]),
        ("double_blocks.0.txt_mlp.0", [mlp, inner]),
        ("double_blocks.0.txt_mlp.2", [inner, mlp]),
        ("double_blocks.0.img_mod.lin", transformer["transformer_blocks.0.norm1.linear.weight"]),
        ("double_blocks.0.txt_mod.lin", transformer["transformer_blocks.0.norm1_context.linear.weight"]),
        ("single_blocks.0.linear1", [3 * inner + mlp, inner]),
        ("single_blocks.1.linear1", [3 * inner + mlp, inner]),
        ("single_blocks.0.linear2", transformer["single_transformer_blocks.0.proj_out.weight"]),
        ("single_blocks.1.modulation.lin", transformer["single_transformer_blocks.1.norm.linear.weight"]),
        ("final_layer.linear", transformer["proj_out.weight"]),
        ("final_layer.adaLN_modulation.1", transformer["norm_out.linear.weight"]),
        ("img_in", transformer["x_embedder.weight"]),
        ("txt_in", transformer["context_embedder.weight"]),
        ("time_in.in_layer", transformer["time_text_embed.timestep_embedder.linear_1.weight"]),
        ("time_in.out_layer", transformer["time_text_embed.timestep_embedder.linear_2.weight"]),
        ("vector_in.in_layer", transformer["time_text_embed.text_embedder.linear_1.weight"]),
    ]
    if guidance:
        modules.append(("guidance_in.out_layer", transformer["time_text_embed.guidance_embedder.linear_2.weight"]))
    return modules


def factors(g, module, shape):
    """Rank 4 with alpha 2; the txt qkv is rank 3 without alpha and block-diagonal (each third of the rank feeds one of
    q, k, v), the case diffusers' converter splits by rank instead of copying the down factor."""
    rows, columns = shape
    if module.endswith("txt_attn.qkv"):
        down = torch.randn(3, columns, generator=g) * 0.3
        up = torch.zeros(rows, 3)
        third = rows // 3
        for part in range(3):
            up[part * third:(part + 1) * third, part] = torch.randn(third, generator=g) * 0.3
        return down, up, None
    return torch.randn(4, columns, generator=g) * 0.3, torch.randn(rows, 4, generator=g) * 0.3, torch.tensor(2.0)


def converter(inner, mlp):
    """diffusers' _convert_kohya_flux_lora_to_diffusers with its linear1 row split, written for FLUX.1's sizes
    (dims=[3072, 3072, 3072, 12288]), given the tiny model's (inner, inner, inner, mlp); nothing else changed."""
    source = textwrap.dedent(inspect.getsource(lora_conversion_utils._convert_kohya_flux_lora_to_diffusers))
    real = "dims=[3072, 3072, 3072, 12288]"
    assert source.count(real) == 1, "diffusers' converter changed: re-check the linear1 split"
    namespace = dict(vars(lora_conversion_utils))
    exec(source.replace(real, f"dims=[{inner}, {inner}, {inner}, {mlp}]"), namespace)
    return namespace["_convert_kohya_flux_lora_to_diffusers"]


def write(name, transformer, clip, guidance, comfy, seed):
    g = torch.Generator().manual_seed(seed)
    tensors = {}
    for module, shape in bfl_modules(transformer, guidance):
        down, up, alpha = factors(g, module, shape)
        if module.startswith("final_layer"):
            alpha = None  # diffusers' converter drops the final layer's alpha (its "TODO: alphas."); kohya applies it
        key = "diffusion_model." + module if comfy else "lora_unet_" + module.replace(".", "_")
        tensors[key + ".lora_down.weight"] = down
        tensors[key + ".lora_up.weight"] = up
        if alpha is not None:
            tensors[key + ".alpha"] = alpha
    for layer, projection in (("0", "self_attn.k_proj"), ("1", "mlp.fc2")):
        path = f"text_model.encoder.layers.{layer}.{projection}"
        rows, columns = clip[path + ".weight"]
        key = "text_encoders.clip_l.transformer." + path if comfy else "lora_te1_" + path.replace(".", "_")
        tensors[key + ".lora_down.weight"] = torch.randn(4, columns, generator=g) * 0.3
        tensors[key + ".lora_up.weight"] = torch.randn(rows, 4, generator=g) * 0.3
        tensors[key + ".alpha"] = torch.tensor(8.0)  # scale 2
    write_safetensors(os.path.join(OUT, name + ".safetensors"), tensors, "F32")

    inner = transformer["x_embedder.weight"][0]
    convert = converter(inner, transformer["transformer_blocks.0.ff.net.0.proj.weight"][0])
    converted = convert({k: v.clone() for k, v in tensors.items()})
    prefixed = {}
    for key, value in converted.items():
        if not key.startswith(("transformer.", "text_encoder.")):
            key = "transformer." + key  # see the module docstring: diffusers' converter leaves the embedders unprefixed
        prefixed[key] = value.contiguous()
    assert len(prefixed) == len(converted)
    write_safetensors(os.path.join(OUT, name + "-diffusers.safetensors"), prefixed, "F32")


SD3_SPLITS = {  # SAI layer → diffusers layers its up factor's rows feed, in order (diffusers' single-file converter)
    "joint_blocks.0.x_block.attn.qkv": ["transformer_blocks.0.attn.to_q", "transformer_blocks.0.attn.to_k", "transformer_blocks.0.attn.to_v"],
    "joint_blocks.0.context_block.attn.qkv": ["transformer_blocks.0.attn.add_q_proj", "transformer_blocks.0.attn.add_k_proj",
                                              "transformer_blocks.0.attn.add_v_proj"],
    "joint_blocks.0.x_block.attn2.qkv": ["transformer_blocks.0.attn2.to_q", "transformer_blocks.0.attn2.to_k", "transformer_blocks.0.attn2.to_v"],
    "joint_blocks.0.x_block.mlp.fc1": ["transformer_blocks.0.ff.net.0.proj"],
    "joint_blocks.1.x_block.attn.proj": ["transformer_blocks.1.attn.to_out.0"],
    "joint_blocks.1.x_block.adaLN_modulation.1": ["transformer_blocks.1.norm1.linear"],
    "joint_blocks.1.context_block.adaLN_modulation.1": ["transformer_blocks.1.norm1_context.linear"],
    "final_layer.adaLN_modulation.1": ["norm_out.linear"],
    "final_layer.linear": ["proj_out"],
    "context_embedder": ["context_embedder"],
    "t_embedder.mlp.0": ["time_text_embed.timestep_embedder.linear_1"],
    "y_embedder.mlp.2": ["time_text_embed.text_embedder.linear_2"],
}
SD3_SHIFT_FIRST = {"joint_blocks.1.context_block.adaLN_modulation.1", "final_layer.adaLN_modulation.1"}  # the continuous norms


def split_for_diffusers(layer, down, up, alpha):
    """One SAI layer's factors as diffusers/PEFT factors: alpha/rank folded into the down factor, the down factor copied
    to each part, the up factor's rows split evenly, a continuous norm's (shift, scale) halves swapped to (scale, shift)."""
    targets = SD3_SPLITS[layer]
    down = down * (alpha / down.shape[0])
    if layer in SD3_SHIFT_FIRST:
        shift, scale = up.chunk(2, dim=0)
        up = torch.cat([scale, shift], dim=0)
    return {f"transformer.{target}": (down, part) for target, part in zip(targets, up.chunk(len(targets), dim=0))}


def write_sd3(name, transformer, seed):
    g = torch.Generator().manual_seed(seed)
    inner = transformer["context_embedder.weight"][0]
    kohya, peft = {}, {}
    for layer, targets in SD3_SPLITS.items():
        rows = sum(transformer[t + ".weight"][0] for t in targets)
        columns = transformer[targets[0] + ".weight"][1]
        down, up, alpha = torch.randn(4, columns, generator=g) * 0.3, torch.randn(rows, 4, generator=g) * 0.3, 2.0
        key = "lora_unet_" + layer.replace(".", "_")
        kohya |= {key + ".lora_down.weight": down, key + ".lora_up.weight": up, key + ".alpha": torch.tensor(alpha)}
        for target, (a, b) in split_for_diffusers(layer, down, up, alpha).items():
            peft |= {target + ".lora_A.weight": a.contiguous(), target + ".lora_B.weight": b.contiguous()}
    assert inner == 16
    write_safetensors(os.path.join(OUT, name + ".safetensors"), kohya, "F32")
    write_safetensors(os.path.join(OUT, name + "-diffusers.safetensors"), peft, "F32")


def main():
    dev = shapes(os.path.join(OUT, "tiny-flux-dev", "transformer", "diffusion_pytorch_model.safetensors"))
    schnell = shapes(os.path.join(OUT, "tiny-flux-schnell", "transformer", "diffusion_pytorch_model.safetensors"))
    clip = shapes(os.path.join(OUT, "tiny-flux-dev", "text_encoder", "model.safetensors"))
    write("flux-dev-kohya-lora", dev, clip, guidance=True, comfy=False, seed=51)
    write("flux-schnell-comfy-lora", schnell, clip, guidance=False, comfy=True, seed=52)
    write_sd3("sd3-kohya-lora", shapes(os.path.join(OUT, "tiny-sd3", "transformer", "diffusion_pytorch_model.safetensors")), seed=53)


if __name__ == "__main__":
    main()
