#!/usr/bin/python3
"""All-in-one SD3 and FLUX.1 single files, as model sites publish them (a transformer with its text encoders and VAE in
one .safetensors), made from the tiny folders' own weights, so the pipeline on such a file must give the folders'
results bit for bit.

Usage:
  /usr/bin/python3 generate_flow_all_in_one.py <diffusers src> <diffusers-reference tools> [out]

  diffusers src   diffusers' src/ (checked with commit 58eb52c); its scripts/ folder sits beside it (the VAE's
                  original names come from scripts/convert_diffusers_to_original_stable_diffusion.py)
  out             default tests/Diffusion.Core.Tests/TestData/flow-pipelines (needs tiny-sd3/, tiny-flux-schnell/,
                  sd3-sai.safetensors and flux-schnell-bfl.safetensors from generate_tiny_flow_pipelines.py)

Key layouts (diffusers' single_file_utils.py reads the same): the text encoders under text_encoders.clip_l.transformer.,
text_encoders.clip_g.transformer. and text_encoders.t5xxl.transformer. with transformers' names; the VAE in the original
LDM names under first_stage_model. (Stability AI's SD3 files) or vae. (ComfyUI's FLUX.1 files); the transformer as in
the transformer-only files (model.diffusion_model.).

Writes (float32):
  sd3-all-in-one.safetensors           tiny-sd3: transformer, CLIP-L, CLIP-G, T5, VAE (first_stage_model.)
  flux-schnell-all-in-one.safetensors  tiny-flux-schnell: transformer, CLIP-L, T5, VAE (vae.)
"""
import json
import os
import sys

import numpy as np

DIFFUSERS_SRC, REFERENCE_TOOLS = sys.argv[1:3]
HERE = os.path.dirname(os.path.abspath(__file__))
OUT = sys.argv[3] if len(sys.argv) > 3 else os.path.join(HERE, "..", "..", "..", "tests", "Diffusion.Core.Tests", "TestData", "flow-pipelines")
sys.path.insert(0, REFERENCE_TOOLS)
import stand_ins  # noqa: E402,F401  (before diffusers)
sys.path.insert(0, DIFFUSERS_SRC)
sys.path.insert(0, os.path.join(DIFFUSERS_SRC, "..", "scripts"))
sys.path.insert(0, os.path.join(HERE, "..", "graphs"))
import torch  # noqa: E402
import convert_diffusers_to_original_stable_diffusion as sd_script  # noqa: E402
from generate_clip_checkpoints import write_safetensors  # noqa: E402


def read(path):
    """A float32 safetensors file as torch tensors (the tiny fixtures are all F32)."""
    with open(path, "rb") as f:
        size = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(size))
        data = f.read()
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32", (path, name)
        start, end = info["data_offsets"]
        tensors[name] = torch.from_numpy(np.frombuffer(data[start:end], dtype="<f4").copy().reshape(info["shape"]))
    return tensors


def prefixed(prefix, tensors):
    return {prefix + k: v for k, v in tensors.items()}


def all_in_one(name, transformer_file, folder, encoders, vae_prefix):
    state = read(os.path.join(OUT, transformer_file))
    for component, prefix in encoders:
        state |= prefixed(prefix, read(os.path.join(OUT, folder, component, "model.safetensors")))
    vae = read(os.path.join(OUT, folder, "vae", "diffusion_pytorch_model.safetensors"))
    state |= prefixed(vae_prefix, sd_script.convert_vae_state_dict(vae))
    write_safetensors(os.path.join(OUT, name), state, "F32")


def main():
    all_in_one("sd3-all-in-one.safetensors", "sd3-sai.safetensors", "tiny-sd3",
               [("text_encoder", "text_encoders.clip_l.transformer."), ("text_encoder_2", "text_encoders.clip_g.transformer."),
                ("text_encoder_3", "text_encoders.t5xxl.transformer.")], "first_stage_model.")
    all_in_one("flux-schnell-all-in-one.safetensors", "flux-schnell-bfl.safetensors", "tiny-flux-schnell",
               [("text_encoder", "text_encoders.clip_l.transformer."), ("text_encoder_2", "text_encoders.t5xxl.transformer.")], "vae.")


if __name__ == "__main__":
    main()
