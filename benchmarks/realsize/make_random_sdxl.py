#!/usr/bin/python3
"""Real-size SDXL base checkpoint with random weights, for timing and memory only (the weights mean nothing).

Writes $REALSIZE_OUT (default /tmp/realsize)/sdxl_random.safetensors: the original single-file (SGM) layout in float16
(UNet 2,567,463,684 parameters, CLIP ViT-L, OpenCLIP ViT-bigG/14 with its projection, SDXL VAE), about 6.9 GB. Never
commit it. Needs Debian's torch 1.13 (/usr/bin/python3), ../shared/tools/diffusers-reference (SHARED_TOOLS, default
../shared/tools from the repository) and a diffusers source tree with src/ and scripts/ (DIFFUSERS_ROOT); see
../shared/tools/realsize/README.md for the SD 1.5 counterpart this follows. Peak memory about 6 GB: the models are
built and randomised directly in float16.
"""
import importlib.util
import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TOOLS = os.environ.get("SHARED_TOOLS", os.path.join(HERE, "..", "..", "..", "shared", "tools"))
sys.path.insert(0, os.path.join(TOOLS, "diffusers-reference"))
import stand_ins  # noqa: F401,E402  (before diffusers)
sys.path.insert(0, os.path.join(os.environ["DIFFUSERS_ROOT"], "src"))
import torch  # noqa: E402

torch.set_num_threads(int(os.environ.get("REALSIZE_THREADS", "2")))  # the GPU run (benchmarks/gpu) uses every core
OUT = os.environ.get("REALSIZE_OUT", "/tmp/realsize")
os.makedirs(OUT, exist_ok=True)

spec = importlib.util.spec_from_file_location("conv", os.path.join(os.environ["DIFFUSERS_ROOT"], "scripts", "convert_diffusers_to_original_sdxl.py"))
conv = importlib.util.module_from_spec(spec)
spec.loader.exec_module(conv)

# Skip the default initialisation (slow for 2.6 B parameters); every parameter is overwritten below.
for name in ("kaiming_uniform_", "uniform_", "normal_", "xavier_uniform_", "zeros_", "ones_", "constant_", "trunc_normal_"):
    setattr(torch.nn.init, name, lambda t, *a, **k: t)
from diffusers.models.autoencoders.autoencoder_kl import AutoencoderKL  # noqa: E402
from diffusers.models.unets.unet_2d_condition import UNet2DConditionModel  # noqa: E402

# stabilityai/stable-diffusion-xl-base-1.0 unet/config.json and vae/config.json
SDXL_UNET = dict(sample_size=128, in_channels=4, out_channels=4, cross_attention_dim=2048, attention_head_dim=[5, 10, 20],
                 block_out_channels=(320, 640, 1280), layers_per_block=2, transformer_layers_per_block=[1, 2, 10],
                 down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
                 up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
                 addition_embed_type="text_time", addition_time_embed_dim=256, projection_class_embeddings_input_dim=2816,
                 use_linear_projection=True)
SDXL_VAE = dict(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 4,
                up_block_types=("UpDecoderBlock2D",) * 4, block_out_channels=(128, 256, 512, 512),
                layers_per_block=2, latent_channels=4, sample_size=1024, scaling_factor=0.13025)

g = torch.Generator().manual_seed(1234)


def rnd(name, shape):
    """N(0, 0.02) for matrices and convolutions, 1 for norm weights, 0 for biases; float16."""
    if len(shape) >= 2:
        return (torch.randn(shape, generator=g) * 0.02).half()
    if ("norm" in name or "ln_" in name) and name.endswith("weight"):
        return torch.ones(shape, dtype=torch.float16)
    return torch.zeros(shape, dtype=torch.float16)


def randomized(module):
    module = module.half()  # built float32 without initialisation, halved before anything is written
    with torch.no_grad():
        for name, p in module.named_parameters():
            p.copy_(rnd(name, tuple(p.shape)))
    return module.eval()


def save_safetensors(path, tensors):
    header, offset = {}, 0
    keys = sorted(tensors)
    for k in keys:
        t = tensors[k]
        n = t.numel() * t.element_size()
        header[k] = {"dtype": "F16", "shape": list(t.shape), "data_offsets": [offset, offset + n]}
        offset += n
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for k in keys:
            f.write(tensors[k].contiguous().numpy().tobytes())


sd, counts = {}, {}


def add_module(key, module, convert, prefix):
    """A diffusers module, randomised, its state converted to the single-file names under prefix."""
    state = randomized(module).state_dict()
    counts[key] = sum(v.numel() for v in state.values())
    for k, v in convert(state).items():
        sd[prefix + k] = v


def add_random(key, prefix, shapes):
    """Random tensors of the given names and shapes under prefix."""
    counts[key] = 0
    for k, shape in shapes.items():
        sd[prefix + k] = rnd(k, shape)
        counts[key] += sd[prefix + k].numel()


def linear(shapes, name, out_features, in_features):
    shapes[name + ".weight"] = (out_features, in_features)
    shapes[name + ".bias"] = (out_features,)


def layer_norm(shapes, name, width):
    shapes[name + ".weight"] = (width,)
    shapes[name + ".bias"] = (width,)


add_module("unet", UNet2DConditionModel(**SDXL_UNET), conv.convert_unet_state_dict, "model.diffusion_model.")
add_module("vae", AutoencoderKL(**SDXL_VAE), conv.convert_vae_state_dict, "first_stage_model.")

# CLIP ViT-L/14 (Hugging Face CLIPTextModel names), as SDXL's first text encoder
clip_l = {"embeddings.token_embedding.weight": (49408, 768), "embeddings.position_embedding.weight": (77, 768)}
layer_norm(clip_l, "final_layer_norm", 768)
for i in range(12):
    layer = f"encoder.layers.{i}."
    for p in ("q_proj", "k_proj", "v_proj", "out_proj"):
        linear(clip_l, layer + "self_attn." + p, 768, 768)
    layer_norm(clip_l, layer + "layer_norm1", 768)
    layer_norm(clip_l, layer + "layer_norm2", 768)
    linear(clip_l, layer + "mlp.fc1", 3072, 768)
    linear(clip_l, layer + "mlp.fc2", 768, 3072)
add_random("clip_l", "conditioner.embedders.0.transformer.text_model.", clip_l)

# OpenCLIP ViT-bigG/14 (open_clip names), SDXL's second text encoder: 32 layers, width 1280, MLP 5120
clip_g = {"token_embedding.weight": (49408, 1280), "positional_embedding": (77, 1280), "text_projection": (1280, 1280)}
layer_norm(clip_g, "ln_final", 1280)
for i in range(32):
    layer = f"transformer.resblocks.{i}."
    clip_g[layer + "attn.in_proj_weight"] = (3840, 1280)  # open_clip's fused q/k/v, "_weight" not ".weight"
    clip_g[layer + "attn.in_proj_bias"] = (3840,)
    linear(clip_g, layer + "attn.out_proj", 1280, 1280)
    layer_norm(clip_g, layer + "ln_1", 1280)
    layer_norm(clip_g, layer + "ln_2", 1280)
    linear(clip_g, layer + "mlp.c_fc", 5120, 1280)
    linear(clip_g, layer + "mlp.c_proj", 1280, 5120)
add_random("clip_g", "conditioner.embedders.1.model.", clip_g)

print(json.dumps({**counts, "tensors": len(sd)}))
path = os.path.join(OUT, "sdxl_random.safetensors")
save_safetensors(path, sd)
print("wrote", path, os.path.getsize(path))
