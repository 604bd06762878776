#!/usr/bin/python3
"""Tiny Stable Diffusion XL folders in optimum's ONNX layout, and reference outputs of diffusers' SDXL pipeline math.

Usage:
  /usr/bin/python3 generate_tiny_sdxl.py <diffusers src> <diffusers-reference tools> <clip-tokenizer folder> <openai CLIP src> <ftfy src> [out]

  diffusers src         diffusers' src/ (commit 58eb52c), run through ../shared/tools/diffusers-reference's stand-ins
  clip-tokenizer folder ../shared/models/clip-tokenizer (CLIP's merges.txt: the first 2,000 merges are used)
  openai CLIP src       a checkout of openai/CLIP (its SimpleTokenizer tokenizes the reference prompts)
  ftfy src              a checkout of rspeer/python-ftfy (SimpleTokenizer's text cleanup needs it)
  out                   default tests/Diffusion.Core.Tests/TestData/sdxl

Writes (all opset 17, float32, no external data):
  tiny-sdxl/            ORTStableDiffusionXLPipeline: tokenizer/, tokenizer_2/ (pad "!"), text_encoder/ (CLIPTextModel
                        contract: input_ids int32 -> last_hidden_state, pooler_output, hidden_states.0..2), text_encoder_2/
                        (CLIPTextModelWithProjection contract: input_ids int64 -> text_embeds, last_hidden_state,
                        hidden_states.0..2), unet/ (diffusers UNet2DConditionModel, addition_embed_type text_time),
                        vae_decoder/, vae_encoder/ (diffusers AutoencoderKL, 8x, latent_parameters output), scheduler/
                        (SDXL's EulerDiscreteScheduler config), model_index.json, configs
  tiny-sdxl-refiner/    ORTStableDiffusionXLImg2ImgPipeline: tokenizer_2/, text_encoder_2/, a refiner UNet (5 time ids),
                        the same VAE; requires_aesthetics_score true, force_zeros_for_empty_prompt false
  tiny-sdxl-variants/   unet-lcm/ (time_cond_proj_dim 8: input timestep_cond), unet-inpaint/ (9 input channels),
                        unet-controlnet/ (the base UNet, split form: + down_block_{i}_additional_residual i=0..3,
                        mid_block_additional_residual), controlnet/ (diffusers ControlNetModel.from_unet(base UNet):
                        sample, timestep, encoder_hidden_states, controlnet_cond, conditioning_scale, text_embeds,
                        time_ids -> down_block_res_sample_0..3, mid_block_res_sample), text-encoder-2-pooler-output/
                        (text_encoder_2 with its pooled output renamed pooler_output, as Olive names it)
  tiny-sdxl-reference/  per case: inputs in <case>.json, outputs as little-endian float32 (.f32) and uint8 RGB (.rgb)

The text encoders are small CLIP-like torch modules (pre-LN transformer, causal mask, learned positions, final
LayerNorm; pooled = final-norm state at the argmax token id, as transformers' CLIP does for these configs); the
UNets and the VAE are diffusers' own classes at tiny sizes. The reference loop is a transcription of diffusers'
StableDiffusionXLPipeline / StableDiffusionXLImg2ImgPipeline __call__ (commit 58eb52c) over the torch modules,
with diffusers' own schedulers.
"""
import gzip
import json
import math
import os
import shutil
import sys
import tempfile

DIFFUSERS_SRC, REFERENCE_TOOLS, CLIP_TOKENIZER, OPENAI_CLIP, FTFY = sys.argv[1:6]
OUT = sys.argv[6] if len(sys.argv) > 6 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "tests", "Diffusion.Core.Tests", "TestData", "sdxl")
sys.path.insert(0, REFERENCE_TOOLS)
import stand_ins  # noqa: E402,F401  (before diffusers)
sys.path.insert(0, DIFFUSERS_SRC)
sys.path.insert(0, os.path.join(OPENAI_CLIP, "clip"))  # simple_tokenizer.py alone (the package needs torchvision)
sys.path.insert(0, FTFY)
import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402
from diffusers.models.unets.unet_2d_condition import UNet2DConditionModel  # noqa: E402
from diffusers.models.autoencoders.autoencoder_kl import AutoencoderKL  # noqa: E402
from diffusers.models.controlnets.controlnet import ControlNetModel  # noqa: E402
from diffusers.schedulers import EulerDiscreteScheduler, EulerAncestralDiscreteScheduler, LCMScheduler  # noqa: E402
from diffusers.utils.torch_utils import randn_tensor  # noqa: E402

MERGES = 2000
WIDTH_1, WIDTH_2, PROJECTION = 16, 24, 20     # SDXL: 768, 1280, 1280
TIME_EMBED_DIM = 8                            # SDXL: 256
LCM_COND_DIM = 8                              # LCM-SDXL: 256
SCALING_FACTOR = 0.13025                      # SDXL's VAE

# ---------------------------------------------------------------------------------------------- tokenizers
with open(os.path.join(CLIP_TOKENIZER, "merges.txt"), encoding="utf-8") as f:
    merge_lines = f.read().split("\n")
header, merge_lines = merge_lines[0], merge_lines[1:MERGES + 1]
from simple_tokenizer import SimpleTokenizer  # noqa: E402

gz = os.path.join(tempfile.mkdtemp(), "bpe.txt.gz")
with gzip.open(gz, "wt", encoding="utf-8") as f:
    f.write("\n".join([header] + merge_lines) + "\n")
clip_tokenizer = SimpleTokenizer(gz)
vocab = clip_tokenizer.encoder  # bytes, bytes</w>, merges, <|startoftext|>, <|endoftext|>: CLIP's own order
VOCAB_SIZE = len(vocab)
BOS, EOS = vocab["<|startoftext|>"], vocab["<|endoftext|>"]


def tokenize(text, pad_id):
    ids = clip_tokenizer.encode(text)[:75]
    ids = [BOS] + ids + [EOS]
    return ids + [pad_id] * (77 - len(ids))


def write_tokenizer(folder, pad_token):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False)
    with open(os.path.join(folder, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join([header] + merge_lines) + "\n")
    special = {"bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>", "pad_token": pad_token, "unk_token": "<|endoftext|>"}
    with open(os.path.join(folder, "special_tokens_map.json"), "w") as f:
        json.dump(special, f, indent=2)
    with open(os.path.join(folder, "tokenizer_config.json"), "w") as f:
        json.dump(dict(special, add_prefix_space=False, do_lower_case=True, errors="replace", model_max_length=77,
                       tokenizer_class="CLIPTokenizer"), f, indent=2)


# ---------------------------------------------------------------------------------------------- text encoders
class Attention(nn.Module):
    def __init__(self, width, heads):
        super().__init__()
        self.heads = heads
        self.q_proj, self.k_proj, self.v_proj, self.out_proj = (nn.Linear(width, width) for _ in range(4))

    def forward(self, h, mask):
        b, s, w = h.shape
        q, k, v = (p(h).view(b, s, self.heads, w // self.heads).transpose(1, 2) for p in (self.q_proj, self.k_proj, self.v_proj))
        scores = q @ k.transpose(-1, -2) / math.sqrt(w // self.heads) + mask
        return self.out_proj((scores.softmax(-1) @ v).transpose(1, 2).reshape(b, s, w))


class Mlp(nn.Module):
    def __init__(self, width, activation):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(width, 4 * width), nn.Linear(4 * width, width)
        self.activation = activation

    def forward(self, x):
        h = self.fc1(x)
        h = h * torch.sigmoid(1.702 * h) if self.activation == "quick_gelu" else torch.nn.functional.gelu(h)
        return self.fc2(h)


class Layer(nn.Module):
    """transformers' CLIPEncoderLayer, with its module names (so LoRA keys address the same paths)."""

    def __init__(self, width, heads, activation):
        super().__init__()
        self.layer_norm1, self.layer_norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.self_attn = Attention(width, heads)
        self.mlp = Mlp(width, activation)

    def forward(self, x, mask):
        x = x + self.self_attn(self.layer_norm1(x), mask)
        return x + self.mlp(self.layer_norm2(x))


class Embeddings(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.token_embedding = nn.Embedding(VOCAB_SIZE, width)
        self.position_embedding = nn.Embedding(77, width)

    def forward(self, ids):
        return self.token_embedding(ids) + self.position_embedding(torch.arange(ids.shape[1]).unsqueeze(0))


class Encoder(nn.Module):
    def __init__(self, width, layers, heads, activation):
        super().__init__()
        self.layers = nn.ModuleList(Layer(width, heads, activation) for _ in range(layers))

    def forward(self, x, mask):
        hidden = [x]
        for layer in self.layers:
            x = layer(x, mask)
            hidden.append(x)
        return hidden


class TextTransformer(nn.Module):
    def __init__(self, width, layers, heads, activation):
        super().__init__()
        self.embeddings = Embeddings(width)
        self.encoder = Encoder(width, layers, heads, activation)
        self.final_layer_norm = nn.LayerNorm(width)

    def forward(self, ids):
        s = ids.shape[1]
        mask = torch.full((s, s), float("-inf")).triu(1)
        hidden = self.encoder(self.embeddings(ids), mask)
        last = self.final_layer_norm(hidden[-1])
        return last, last[torch.arange(ids.shape[0]), ids.argmax(-1)], hidden


class TinyClipText(nn.Module):
    """CLIPTextModel (projection None) or CLIPTextModelWithProjection, with transformers' module names (the export's
    node names are /text_model/encoder/layers.N/…, as optimum's are); outputs as optimum names them."""

    def __init__(self, width, layers, heads, activation, projection=None):
        super().__init__()
        self.text_model = TextTransformer(width, layers, heads, activation)
        self.text_projection = nn.Linear(width, projection, bias=False) if projection else None

    @property
    def layers(self):
        return self.text_model.encoder.layers

    def forward(self, input_ids):
        last, pooled, hidden = self.text_model(input_ids.long())
        if self.text_projection is not None:
            return (self.text_projection(pooled), last, *hidden)
        return (last, pooled, *hidden)


def perturb(module, scale):
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn_like(p) * scale)


torch.manual_seed(20261205)
text_encoder = TinyClipText(WIDTH_1, 2, 2, "quick_gelu").eval()
text_encoder_2 = TinyClipText(WIDTH_2, 2, 4, "gelu", PROJECTION).eval()
perturb(text_encoder, 0.02)
perturb(text_encoder_2, 0.02)


def export_text_encoder(model, folder, id_dtype, first_outputs):
    os.makedirs(folder, exist_ok=True)
    names = first_outputs + [f"hidden_states.{i}" for i in range(len(model.layers) + 1)]
    ids = torch.tensor([tokenize("a photo", EOS)], dtype=id_dtype)
    axes = {"input_ids": {0: "batch_size", 1: "sequence_length"}}
    for name in names:
        axes[name] = {0: "batch_size"} if name in ("pooler_output", "text_embeds") else {0: "batch_size", 1: "sequence_length"}
    torch.onnx.export(model, (ids,), os.path.join(folder, "model.onnx"), input_names=["input_ids"], output_names=names,
                      opset_version=17, do_constant_folding=True, dynamic_axes=axes)


# ---------------------------------------------------------------------------------------------- UNets and VAE
def make_unet(cross, pooled, time_ids, in_channels=4, time_cond_proj_dim=None, seed=0):
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        sample_size=8, in_channels=in_channels, out_channels=4, layers_per_block=1,
        block_out_channels=(16, 32), down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=cross,
        attention_head_dim=(2, 4), norm_num_groups=8, transformer_layers_per_block=(1, 1),
        addition_embed_type="text_time", addition_time_embed_dim=TIME_EMBED_DIM,
        projection_class_embeddings_input_dim=pooled + time_ids * TIME_EMBED_DIM, use_linear_projection=True,
        time_cond_proj_dim=time_cond_proj_dim,
    ).eval()
    perturb(unet, 0.05)  # diffusers zero-initialises output convolutions: make every path count
    return unet


class UNetContract(UNet2DConditionModel):
    """optimum's SDXL UNet contract on the UNet itself, so node names start at /down_blocks.N (as optimum's do)."""

    def forward(self, sample, timestep, encoder_hidden_states, text_embeds, time_ids, timestep_cond=None):
        return super().forward(sample, timestep, encoder_hidden_states=encoder_hidden_states, timestep_cond=timestep_cond,
                               added_cond_kwargs={"text_embeds": text_embeds, "time_ids": time_ids}).sample


def export_unet(unet, folder, cross, pooled, time_ids):
    os.makedirs(folder, exist_ok=True)
    lcm = unet.config.time_cond_proj_dim is not None
    inputs = {
        "sample": torch.randn(2, unet.config.in_channels, 8, 8),
        "timestep": torch.tensor([999.0, 999.0]),
        "encoder_hidden_states": torch.randn(2, 77, cross),
        "text_embeds": torch.randn(2, pooled),
        "time_ids": torch.randn(2, time_ids),
    }
    if lcm:
        inputs["timestep_cond"] = torch.randn(2, unet.config.time_cond_proj_dim)
    axes = {"sample": {0: "batch_size", 2: "height", 3: "width"}, "timestep": {0: "batch_size"},
            "encoder_hidden_states": {0: "batch_size", 1: "sequence_length"}, "text_embeds": {0: "batch_size"},
            "time_ids": {0: "batch_size"}, "timestep_cond": {0: "batch_size"},
            "out_sample": {0: "batch_size", 2: "height", 3: "width"}}
    unet.__class__ = UNetContract  # the same weights; forward takes optimum's inputs
    torch.onnx.export(unet, tuple(inputs.values()), os.path.join(folder, "model.onnx"),
                      input_names=list(inputs), output_names=["out_sample"], opset_version=17, do_constant_folding=True,
                      dynamic_axes={k: v for k, v in axes.items() if k in inputs or k == "out_sample"})
    unet.__class__ = UNet2DConditionModel
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump({k: (list(v) if isinstance(v, tuple) else v) for k, v in dict(unet.config).items() if not k.startswith("_")}
                  | {"_class_name": "UNet2DConditionModel"}, f, indent=1)


torch.manual_seed(11)
vae = AutoencoderKL(
    in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
    block_out_channels=(8, 8, 8, 8), layers_per_block=1, latent_channels=4, norm_num_groups=4, sample_size=64,
    scaling_factor=SCALING_FACTOR, force_upcast=True).eval()
perturb(vae, 0.02)


class VaeDecoderContract(nn.Module):
    def __init__(self, vae):
        super().__init__()
        self.vae = vae

    def forward(self, latent_sample):
        return self.vae.decode(latent_sample).sample


class VaeEncoderContract(nn.Module):
    def __init__(self, vae):
        super().__init__()
        self.vae = vae

    def forward(self, sample):
        return self.vae.quant_conv(self.vae.encoder(sample))  # latent_parameters: mean | logvar


def export_vae(root):
    config = {k: (list(v) if isinstance(v, tuple) else v) for k, v in dict(vae.config).items() if not k.startswith("_")}
    config["_class_name"] = "AutoencoderKL"
    for name, model, inp, out, axes_in, axes_out in (
            ("vae_decoder", VaeDecoderContract(vae), torch.randn(1, 4, 8, 8), "sample", "latent_sample", None),
            ("vae_encoder", VaeEncoderContract(vae), torch.randn(1, 3, 64, 64), "latent_parameters", "sample", None)):
        folder = os.path.join(root, name)
        os.makedirs(folder, exist_ok=True)
        input_name = axes_in
        torch.onnx.export(model.eval(), (inp,), os.path.join(folder, "model.onnx"), input_names=[input_name],
                          output_names=[out], opset_version=17, do_constant_folding=True,
                          dynamic_axes={input_name: {0: "batch_size", 2: "height", 3: "width"},
                                        out: {0: "batch_size", 2: "height_out", 3: "width_out"}})
        with open(os.path.join(folder, "config.json"), "w") as f:
            json.dump(config, f, indent=1)


SCHEDULER_CONFIG = {
    "_class_name": "EulerDiscreteScheduler", "beta_end": 0.012, "beta_schedule": "scaled_linear", "beta_start": 0.00085,
    "clip_sample": False, "interpolation_type": "linear", "num_train_timesteps": 1000, "prediction_type": "epsilon",
    "sample_max_value": 1.0, "set_alpha_to_one": False, "skip_prk_steps": True, "steps_offset": 1,
    "timestep_spacing": "leading", "trained_betas": None, "use_karras_sigmas": False,
}


def write_folder(root, class_name, components, extra):
    os.makedirs(os.path.join(root, "scheduler"), exist_ok=True)
    with open(os.path.join(root, "scheduler", "scheduler_config.json"), "w") as f:
        json.dump(SCHEDULER_CONFIG, f, indent=1)
    index = {"_class_name": class_name, "_diffusers_version": "0.36.0"} | extra
    for name in ("scheduler", "text_encoder", "text_encoder_2", "tokenizer", "tokenizer_2", "unet", "vae_decoder", "vae_encoder"):
        index[name] = components.get(name, [None, None])
    with open(os.path.join(root, "model_index.json"), "w") as f:
        json.dump(index, f, indent=1)


ORT_MODEL = ["optimum", "ORTModel"]
base_dir, refiner_dir = os.path.join(OUT, "tiny-sdxl"), os.path.join(OUT, "tiny-sdxl-refiner")
variants_dir, reference_dir = os.path.join(OUT, "tiny-sdxl-variants"), os.path.join(OUT, "tiny-sdxl-reference")
for d in (base_dir, refiner_dir, variants_dir, reference_dir):
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)

CROSS_BASE, CROSS_REFINER = WIDTH_1 + WIDTH_2, WIDTH_2
unet = make_unet(CROSS_BASE, PROJECTION, 6, seed=1)
refiner_unet = make_unet(CROSS_REFINER, PROJECTION, 5, seed=2)
lcm_unet = make_unet(CROSS_BASE, PROJECTION, 6, time_cond_proj_dim=LCM_COND_DIM, seed=3)
inpaint_unet = make_unet(CROSS_BASE, PROJECTION, 6, in_channels=9, seed=4)

write_tokenizer(os.path.join(base_dir, "tokenizer"), "<|endoftext|>")
write_tokenizer(os.path.join(base_dir, "tokenizer_2"), "!")
export_text_encoder(text_encoder, os.path.join(base_dir, "text_encoder"), torch.int32, ["last_hidden_state", "pooler_output"])
export_text_encoder(text_encoder_2, os.path.join(base_dir, "text_encoder_2"), torch.int64, ["text_embeds", "last_hidden_state"])
export_unet(unet, os.path.join(base_dir, "unet"), CROSS_BASE, PROJECTION, 6)
export_vae(base_dir)
write_folder(base_dir, "ORTStableDiffusionXLPipeline",
             {"scheduler": ["diffusers", "EulerDiscreteScheduler"], "text_encoder": ORT_MODEL, "text_encoder_2": ORT_MODEL,
              "tokenizer": ["transformers", "CLIPTokenizer"], "tokenizer_2": ["transformers", "CLIPTokenizer"],
              "unet": ORT_MODEL, "vae_decoder": ORT_MODEL, "vae_encoder": ORT_MODEL},
             {"force_zeros_for_empty_prompt": True})

write_tokenizer(os.path.join(refiner_dir, "tokenizer_2"), "!")
shutil.copytree(os.path.join(base_dir, "text_encoder_2"), os.path.join(refiner_dir, "text_encoder_2"))
export_unet(refiner_unet, os.path.join(refiner_dir, "unet"), CROSS_REFINER, PROJECTION, 5)
export_vae(refiner_dir)
write_folder(refiner_dir, "ORTStableDiffusionXLImg2ImgPipeline",
             {"scheduler": ["diffusers", "EulerDiscreteScheduler"], "text_encoder_2": ORT_MODEL,
              "tokenizer_2": ["transformers", "CLIPTokenizer"], "unet": ORT_MODEL, "vae_decoder": ORT_MODEL,
              "vae_encoder": ORT_MODEL},
             {"force_zeros_for_empty_prompt": False, "requires_aesthetics_score": True})

export_unet(lcm_unet, os.path.join(variants_dir, "unet-lcm"), CROSS_BASE, PROJECTION, 6)
export_unet(inpaint_unet, os.path.join(variants_dir, "unet-inpaint"), CROSS_BASE, PROJECTION, 6)


# ---------------------------------------------------------------------------------------------- the reference pipeline
def save(name, tensor):
    np.ascontiguousarray(tensor.detach().numpy().astype("<f4")).tofile(os.path.join(reference_dir, name + ".f32"))


def encode_prompt(prompt, negative_prompt, guided, encoders, force_zeros):
    """StableDiffusionXLPipeline.encode_prompt: hidden_states[-2] of each encoder, concatenated; pooled from the last."""
    def encode(text):
        embeds, pooled = [], None
        for model, pad in encoders:
            out = model(torch.tensor([tokenize(text, pad)]))
            pooled = out[0] if model.text_projection is not None else out[1]
            hidden = out[2:] if model.text_projection is not None else out[2:]
            embeds.append(hidden[-2])
        return torch.cat(embeds, dim=-1), pooled
    prompt_embeds, pooled = encode(prompt)
    if not guided:
        return prompt_embeds, pooled, None, None
    if negative_prompt is None and force_zeros:
        return prompt_embeds, pooled, torch.zeros_like(prompt_embeds), torch.zeros_like(pooled)
    negative, negative_pooled = encode(negative_prompt or "")
    return prompt_embeds, pooled, negative, negative_pooled


def guidance_embedding(w, dim):
    """LatentConsistencyModelPipeline.get_guidance_scale_embedding."""
    w = w * 1000.0
    half = dim // 2
    emb = torch.log(torch.tensor(10000.0)) / (half - 1)
    emb = torch.exp(torch.arange(half, dtype=torch.float32) * -emb)
    emb = w.to(torch.float32)[:, None] * emb[None, :]
    emb = torch.cat([torch.sin(emb), torch.cos(emb)], dim=1)
    if dim % 2 == 1:
        emb = torch.nn.functional.pad(emb, (0, 1))
    return emb


def run(case, unet_model, encoders, scheduler, prompt, guidance, steps, seed, height, width, negative_prompt=None,
        images=1, force_zeros=True, refiner=False, image=None, strength=0.3, denoising_start=None, denoising_end=None,
        output_latents=False):
    """StableDiffusionXLPipeline.__call__ (image None) or StableDiffusionXLImg2ImgPipeline.__call__ (image given)."""
    generator = torch.Generator().manual_seed(seed)
    lcm = unet_model.config.time_cond_proj_dim is not None
    guided = guidance > 1 and not lcm
    with torch.no_grad():
        prompt_embeds, pooled, negative_embeds, negative_pooled = encode_prompt(prompt, negative_prompt, guided, encoders, force_zeros)
        prompt_embeds = prompt_embeds.repeat(images, 1, 1)
        pooled = pooled.repeat(images, 1)
        if guided:
            negative_embeds, negative_pooled = negative_embeds.repeat(images, 1, 1), negative_pooled.repeat(images, 1)
        scheduler.set_timesteps(steps)
        timesteps = scheduler.timesteps
        if image is None:
            latents = randn_tensor((images, 4, height // 8, width // 8), generator=generator) * scheduler.init_noise_sigma
            if denoising_end is not None:
                cutoff = int(round(1000 - denoising_end * 1000))
                timesteps = timesteps[:len([t for t in timesteps if t >= cutoff])]
        else:
            if denoising_start is None:
                init_timestep = min(int(steps * strength), steps)
                t_start = max(steps - init_timestep, 0)
                timesteps = scheduler.timesteps[t_start * scheduler.order:]
                scheduler.set_begin_index(t_start * scheduler.order)
            else:
                cutoff = int(round(1000 - denoising_start * 1000))
                n = int((scheduler.timesteps < cutoff).sum())
                t_start = len(scheduler.timesteps) - n
                timesteps = scheduler.timesteps[t_start:]
                scheduler.set_begin_index(t_start)
            if image.shape[1] == 4:
                latents = image.repeat(images, 1, 1, 1)
            else:
                moments = VaeEncoderContract(vae)(image)
                mean, logvar = moments.chunk(2, dim=1)
                std = torch.exp(0.5 * logvar.clamp(-30.0, 20.0))
                latents = (mean + std * randn_tensor(mean.shape, generator=generator)) * SCALING_FACTOR
                latents = latents.repeat(images, 1, 1, 1)
            if denoising_start is None:
                noise = randn_tensor(latents.shape, generator=generator)
                latents = scheduler.add_noise(latents, noise, timesteps[:1].repeat(images))
            height, width = latents.shape[-2] * 8, latents.shape[-1] * 8
        if refiner:
            time_ids = torch.tensor([[height, width, 0, 0, 6.0]])
            negative_time_ids = torch.tensor([[height, width, 0, 0, 2.5]])
        else:
            time_ids = torch.tensor([[height, width, 0, 0, height, width]], dtype=torch.float32)
            negative_time_ids = time_ids
        time_ids = time_ids.repeat(images, 1)
        text_embeds = pooled
        if guided:
            prompt_embeds = torch.cat([negative_embeds, prompt_embeds])
            text_embeds = torch.cat([negative_pooled, pooled])
            time_ids = torch.cat([negative_time_ids.repeat(images, 1), time_ids])
        timestep_cond = guidance_embedding(torch.tensor(guidance - 1).repeat(images), LCM_COND_DIM) if lcm else None
        for t in timesteps:
            model_input = torch.cat([latents] * 2) if guided else latents
            model_input = scheduler.scale_model_input(model_input, t)
            noise_pred = unet_model(model_input, t, encoder_hidden_states=prompt_embeds, timestep_cond=timestep_cond,
                                    added_cond_kwargs={"text_embeds": text_embeds, "time_ids": time_ids}).sample
            if guided:
                uncond, cond = noise_pred.chunk(2)
                noise_pred = uncond + guidance * (cond - uncond)
            latents = scheduler.step(noise_pred, t, latents, generator=generator).prev_sample
        save(case + "-latents", latents)
        record = {"prompt": prompt, "negative_prompt": negative_prompt, "guidance_scale": guidance, "steps": steps,
                  "seed": seed, "height": height, "width": width, "images_per_prompt": images, "strength": strength,
                  "denoising_start": denoising_start, "denoising_end": denoising_end,
                  "timesteps": [float(t) for t in timesteps], "latents_shape": list(latents.shape)}
        if not output_latents:
            decoded = vae.decode(latents / SCALING_FACTOR).sample
            pixels = ((decoded / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1) * 255).round().to(torch.uint8)
            pixels.numpy().tofile(os.path.join(reference_dir, case + ".rgb"))
        with open(os.path.join(reference_dir, case + ".json"), "w") as f:
            json.dump(record, f, indent=1)
        return latents


base_encoders = [(text_encoder, EOS), (text_encoder_2, 0)]
refiner_encoders = [(text_encoder_2, 0)]
PROMPT = "a photo of an astronaut riding a horse on mars"


def euler():
    return EulerDiscreteScheduler.from_config(SCHEDULER_CONFIG)


# Conditioning pieces on their own, for component tests.
with torch.no_grad():
    pe, pp, ne, npool = encode_prompt(PROMPT, "blurry", True, base_encoders, True)
    save("conditioning-prompt-embeds", pe)
    save("conditioning-pooled", pp)
    save("conditioning-negative-embeds", ne)
    save("conditioning-negative-pooled", npool)
    with open(os.path.join(reference_dir, "conditioning.json"), "w") as f:
        json.dump({"prompt": PROMPT, "negative_prompt": "blurry", "prompt_ids": tokenize(PROMPT, EOS),
                   "prompt_ids_2": tokenize(PROMPT, 0), "embeds_shape": list(pe.shape), "pooled_shape": list(pp.shape)}, f)

run("txt2img", unet, base_encoders, euler(), PROMPT, 5.0, 4, 42, 64, 64)
run("txt2img-negative", unet, base_encoders, euler(), PROMPT, 6.0, 3, 7, 48, 64, negative_prompt="blurry, low quality", images=2)
handoff = run("handoff-base", unet, base_encoders, euler(), PROMPT, 5.0, 6, 42, 64, 64, denoising_end=0.7, output_latents=True)
run("handoff-refiner", refiner_unet, refiner_encoders, euler(), PROMPT, 5.0, 6, 42, 64, 64, force_zeros=False, refiner=True,
    image=handoff, denoising_start=0.7)

# image-to-image on a deterministic 64x64 picture (written as .rgb so no resampling differs)
yy, xx = np.mgrid[0:64, 0:64]
picture = np.stack([(xx * 4) % 256, (yy * 4) % 256, ((xx + yy) * 2 + 40) % 256], axis=-1).astype(np.uint8)
picture.tofile(os.path.join(reference_dir, "init-image.rgb"))
image_tensor = torch.from_numpy(picture.astype(np.float32) / 255.0 * 2 - 1).permute(2, 0, 1).unsqueeze(0)
run("img2img", unet, base_encoders, euler(), PROMPT, 5.0, 5, 3, 64, 64, image=image_tensor, strength=0.6)
run("refiner-img2img", refiner_unet, refiner_encoders, euler(), PROMPT, 5.0, 4, 9, 64, 64, negative_prompt="blurry",
    force_zeros=False, refiner=True, image=image_tensor, strength=0.5)



def run_inpaint(case, unet_model, prompt, guidance, steps, seed, image, mask, strength=0.9999):
    """StableDiffusionXLInpaintPipeline.__call__ (4- or 9-channel UNet), with diffusers' default strength 0.9999."""
    generator = torch.Generator().manual_seed(seed)
    scheduler = euler()
    nine = unet_model.config.in_channels == 9
    with torch.no_grad():
        prompt_embeds, pooled, negative_embeds, negative_pooled = encode_prompt(prompt, None, True, base_encoders, True)
        scheduler.set_timesteps(steps)
        init_timestep = min(int(steps * strength), steps)
        t_start = max(steps - init_timestep, 0)
        timesteps = scheduler.timesteps[t_start * scheduler.order:]
        scheduler.set_begin_index(t_start * scheduler.order)
        masked_image = image * (mask < 0.5)

        def encode(x):
            mean, logvar = VaeEncoderContract(vae)(x).chunk(2, dim=1)
            std = torch.exp(0.5 * logvar.clamp(-30.0, 20.0))
            return (mean + std * randn_tensor(mean.shape, generator=generator)) * SCALING_FACTOR
        image_latents = encode(image)  # strength < 1: the latents start from the image
        noise = randn_tensor(image_latents.shape, generator=generator)
        latents = scheduler.add_noise(image_latents, noise, timesteps[:1])
        latent_mask = torch.nn.functional.interpolate(mask, size=(image.shape[2] // 8, image.shape[3] // 8))
        masked_latents = encode(masked_image)
        h, w = image.shape[2], image.shape[3]
        time_ids = torch.tensor([[h, w, 0, 0, h, w]], dtype=torch.float32)
        embeds = torch.cat([negative_embeds, prompt_embeds])
        text_embeds = torch.cat([negative_pooled, pooled])
        time_ids = torch.cat([time_ids, time_ids])
        for i, t in enumerate(timesteps):
            model_input = scheduler.scale_model_input(torch.cat([latents] * 2), t)
            if nine:
                model_input = torch.cat([model_input, torch.cat([latent_mask] * 2), torch.cat([masked_latents] * 2)], dim=1)
            noise_pred = unet_model(model_input, t, encoder_hidden_states=embeds,
                                    added_cond_kwargs={"text_embeds": text_embeds, "time_ids": time_ids}).sample
            uncond, cond = noise_pred.chunk(2)
            latents = scheduler.step(uncond + guidance * (cond - uncond), t, latents, generator=generator).prev_sample
            if not nine:
                proper = image_latents
                if i < len(timesteps) - 1:
                    proper = scheduler.add_noise(proper, noise, torch.tensor([timesteps[i + 1]]))
                latents = (1 - latent_mask) * proper + latent_mask * latents
        save(case + "-latents", latents)
        decoded = vae.decode(latents / SCALING_FACTOR).sample
        pixels = ((decoded / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1) * 255).round().to(torch.uint8)
        pixels.numpy().tofile(os.path.join(reference_dir, case + ".rgb"))
        with open(os.path.join(reference_dir, case + ".json"), "w") as f:
            json.dump({"prompt": prompt, "negative_prompt": None, "guidance_scale": guidance, "steps": steps, "seed": seed,
                       "height": h, "width": w, "images_per_prompt": 1, "strength": strength, "denoising_start": None,
                       "denoising_end": None, "timesteps": [float(t) for t in timesteps]}, f, indent=1)


# a white rectangle (repaint) on black (keep), written as .rgb like the picture
mask_pixels = np.zeros((64, 64, 3), dtype=np.uint8)
mask_pixels[16:48, 8:40] = 255
mask_pixels.tofile(os.path.join(reference_dir, "inpaint-mask.rgb"))
mask_tensor = torch.from_numpy((mask_pixels[:, :, 0] >= 128).astype(np.float32))[None, None]
run_inpaint("inpaint-9ch", inpaint_unet, PROMPT, 5.0, 5, 12, image_tensor, mask_tensor)
run_inpaint("inpaint-4ch", unet, PROMPT, 5.0, 5, 13, image_tensor, mask_tensor)



# ---------------------------------------------------------------------------------------------- LoRA
def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, arr in tensors:
        raw = np.ascontiguousarray(arr.astype("<f4")).tobytes()
        header[name] = {"dtype": "F32", "shape": list(arr.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(len(h).to_bytes(8, "little") + h + b"".join(blobs))


# (component module, its module path, the prefix a diffusers/PEFT file uses, the kohya prefix)
LORA_TARGETS = [
    (unet, "down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q", "unet.", "lora_unet_"),
    (unet, "down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k", "unet.", "lora_unet_"),
    (unet, "up_blocks.0.attentions.0.proj_in", "unet.", "lora_unet_"),
    (text_encoder, "text_model.encoder.layers.0.self_attn.q_proj", "text_encoder.", "lora_te1_"),
    (text_encoder_2, "text_model.encoder.layers.1.self_attn.v_proj", "text_encoder_2.", "lora_te2_"),
    (text_encoder_2, "text_model.encoder.layers.1.mlp.fc1", "text_encoder_2.", "lora_te2_"),
]
lora_random = np.random.default_rng(20261206)
peft, kohya, factors = [], [], []
for model, path, dotted, kohya_prefix in LORA_TARGETS:
    layer = model.get_submodule(path)
    rank, alpha = 2, 1.0
    down = lora_random.normal(0, 0.3, (rank, layer.in_features)).astype(np.float32)
    up = lora_random.normal(0, 0.3, (layer.out_features, rank)).astype(np.float32)
    peft += [(dotted + path + ".lora_A.weight", down), (dotted + path + ".lora_B.weight", up)]
    key = kohya_prefix + path.replace(".", "_")
    kohya += [(key + ".lora_down.weight", down), (key + ".lora_up.weight", up), (key + ".alpha", np.array(alpha, dtype=np.float32))]
    factors.append((layer, down, up, alpha / rank))
os.makedirs(os.path.join(OUT, "tiny-sdxl-lora"), exist_ok=True)
write_safetensors(os.path.join(OUT, "tiny-sdxl-lora", "peft.safetensors"), peft)      # PEFT: no alpha, scale 1
write_safetensors(os.path.join(OUT, "tiny-sdxl-lora", "kohya.safetensors"), kohya)    # kohya: alpha/rank = 0.5
# kohya's SDXL files name UNet modules as Stability's code does (layers_per_block 1 here: input block 3 = down block 1)
SGM_NAMES = {"down_blocks_1_attentions_0": "input_blocks_3_1", "up_blocks_0_attentions_0": "output_blocks_0_1"}
sgm = []
for key, value in kohya:
    for diffusers_name, sgm_name in SGM_NAMES.items():
        key = key.replace("lora_unet_" + diffusers_name, "lora_unet_" + sgm_name)
    sgm.append((key, value))
write_safetensors(os.path.join(OUT, "tiny-sdxl-lora", "kohya-sgm.safetensors"), sgm)  # same factors: lora-kohya's output


def with_lora(scale_of, multiplier, case):
    """Merges W += multiplier * scale * up @ down into the torch modules, runs the txt2img case, restores the weights."""
    saved = [layer.weight.detach().clone() for layer, _, _, _ in factors]
    with torch.no_grad():
        for layer, down, up, kohya_scale in factors:
            layer.weight += multiplier * scale_of(kohya_scale) * torch.from_numpy(up @ down)
    run(case, unet, base_encoders, euler(), PROMPT, 5.0, 4, 42, 64, 64)
    with torch.no_grad():
        for (layer, _, _, _), weight in zip(factors, saved):
            layer.weight.copy_(weight)


with_lora(lambda kohya_scale: 1.0, 0.8, "lora-peft")
with_lora(lambda kohya_scale: kohya_scale, 1.0, "lora-kohya")

lcm_config = {"_class_name": "LCMScheduler", "beta_end": 0.012, "beta_schedule": "scaled_linear", "beta_start": 0.00085,
              "clip_sample": False, "num_train_timesteps": 1000, "original_inference_steps": 50, "prediction_type": "epsilon",
              "set_alpha_to_one": True, "steps_offset": 1, "timestep_scaling": 10.0, "timestep_spacing": "leading"}
run("lcm", lcm_unet, base_encoders, LCMScheduler.from_config(lcm_config), PROMPT, 8.0, 4, 5, 64, 64)
turbo_config = dict(SCHEDULER_CONFIG, _class_name="EulerAncestralDiscreteScheduler", timestep_spacing="trailing")
run("turbo", unet, base_encoders, EulerAncestralDiscreteScheduler.from_config(turbo_config), PROMPT, 0.0, 2, 8, 64, 64)
lightning_config = dict(SCHEDULER_CONFIG, timestep_spacing="trailing")
run("lightning", unet, base_encoders, EulerDiscreteScheduler.from_config(lightning_config), PROMPT, 0.0, 4, 10, 64, 64)
with open(os.path.join(reference_dir, "schedulers.json"), "w") as f:
    json.dump({"lcm": lcm_config, "turbo": turbo_config, "lightning": lightning_config}, f, indent=1)
print("vocab", VOCAB_SIZE, "unet parameters", sum(p.numel() for p in unet.parameters()))

# A float16 VAE decoder that overflows, as SDXL's own VAE does in float16 (NaN/inf out): latents upsampled x8 (nearest),
# three channels kept, multiplied by 60000 twice. The pipeline must refuse its output, naming the file and the fix.
import onnx  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

overflow = helper.make_graph(
    [helper.make_node("Resize", ["latent_sample", "", "scales"], ["up"], mode="nearest"),
     helper.make_node("Slice", ["up", "starts", "ends", "axes"], ["rgb"]),
     helper.make_node("Mul", ["rgb", "big"], ["large"]),
     helper.make_node("Mul", ["large", "big"], ["sample"])],
    "vae_decoder_fp16_overflow",
    [helper.make_tensor_value_info("latent_sample", TensorProto.FLOAT16, ["batch_size", 4, "height", "width"])],
    [helper.make_tensor_value_info("sample", TensorProto.FLOAT16, ["batch_size", 3, "height_out", "width_out"])],
    [numpy_helper.from_array(np.array([1, 1, 8, 8], dtype=np.float32), "scales"),
     numpy_helper.from_array(np.array([0], dtype=np.int64), "starts"),
     numpy_helper.from_array(np.array([3], dtype=np.int64), "ends"),
     numpy_helper.from_array(np.array([1], dtype=np.int64), "axes"),
     numpy_helper.from_array(np.array(60000, dtype=np.float16), "big")])
overflow_dir = os.path.join(variants_dir, "vae-decoder-fp16-overflow")
os.makedirs(overflow_dir, exist_ok=True)
onnx.save(helper.make_model(overflow, opset_imports=[helper.make_opsetid("", 17)]), os.path.join(overflow_dir, "model.onnx"))
shutil.copy(os.path.join(base_dir, "vae_decoder", "config.json"), os.path.join(overflow_dir, "config.json"))


# ---------------------------------------------------------------------------------------------- ControlNet (split form)
class UNetResidualContract(UNet2DConditionModel):
    """The SDXL UNet with ControlNet residual inputs (the split form's names, as the SD 1.x split form)."""

    def forward(self, sample, timestep, encoder_hidden_states, text_embeds, time_ids, *residuals):
        return super().forward(sample, timestep, encoder_hidden_states=encoder_hidden_states,
                               added_cond_kwargs={"text_embeds": text_embeds, "time_ids": time_ids},
                               down_block_additional_residuals=list(residuals[:-1]),
                               mid_block_additional_residual=residuals[-1]).sample


class ControlNetContract(ControlNetModel):
    """ControlNetModel with the split form's inputs and SDXL's added conditioning, residuals as separate outputs."""

    def forward(self, sample, timestep, encoder_hidden_states, controlnet_cond, conditioning_scale, text_embeds, time_ids):
        down, mid = super().forward(sample, timestep, encoder_hidden_states=encoder_hidden_states,
                                    controlnet_cond=controlnet_cond, conditioning_scale=conditioning_scale,
                                    added_cond_kwargs={"text_embeds": text_embeds, "time_ids": time_ids}, return_dict=False)
        return (*down, mid)


torch.manual_seed(21)
controlnet = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=(8, 8, 16, 16)).eval()
perturb(controlnet, 0.05)  # zero convolutions and conditioning conv_out start at zero: make the control count
RESIDUALS = len(controlnet.controlnet_down_blocks)
down_in = [f"down_block_{i}_additional_residual" for i in range(RESIDUALS)]
down_out = [f"down_block_res_sample_{i}" for i in range(RESIDUALS)]
spatial = {0: "batch_size", 2: "height", 3: "width"}
common_axes = {"sample": spatial, "timestep": {0: "batch_size"}, "encoder_hidden_states": {0: "batch_size"},
               "text_embeds": {0: "batch_size"}, "time_ids": {0: "batch_size"}}
with torch.no_grad():
    probe_down, probe_mid = controlnet(torch.randn(2, 4, 8, 8), torch.tensor([999.0, 999.0]), torch.randn(2, 77, CROSS_BASE),
                                       torch.rand(2, 3, 64, 64), added_cond_kwargs={"text_embeds": torch.randn(2, PROJECTION),
                                                                                     "time_ids": torch.randn(2, 6)},
                                       return_dict=False)
folder = os.path.join(variants_dir, "unet-controlnet")
os.makedirs(folder)
unet.__class__ = UNetResidualContract
torch.onnx.export(unet, (torch.randn(2, 4, 8, 8), torch.tensor([999.0, 999.0]), torch.randn(2, 77, CROSS_BASE),
                         torch.randn(2, PROJECTION), torch.randn(2, 6), *probe_down, probe_mid),
                  os.path.join(folder, "model.onnx"),
                  input_names=["sample", "timestep", "encoder_hidden_states", "text_embeds", "time_ids", *down_in,
                               "mid_block_additional_residual"], output_names=["out_sample"], opset_version=17,
                  do_constant_folding=True,
                  dynamic_axes=common_axes | {name: spatial for name in down_in + ["mid_block_additional_residual"]}
                  | {"out_sample": spatial})
unet.__class__ = UNet2DConditionModel
shutil.copy(os.path.join(base_dir, "unet", "config.json"), os.path.join(folder, "config.json"))
folder = os.path.join(variants_dir, "controlnet")
os.makedirs(folder)
controlnet.__class__ = ControlNetContract
torch.onnx.export(controlnet, (torch.randn(2, 4, 8, 8), torch.tensor([999.0, 999.0]), torch.randn(2, 77, CROSS_BASE),
                               torch.rand(2, 3, 64, 64), torch.tensor([1.0]), torch.randn(2, PROJECTION), torch.randn(2, 6)),
                  os.path.join(folder, "model.onnx"),
                  input_names=["sample", "timestep", "encoder_hidden_states", "controlnet_cond", "conditioning_scale",
                               "text_embeds", "time_ids"], output_names=[*down_out, "mid_block_res_sample"],
                  opset_version=17, do_constant_folding=True,
                  dynamic_axes=common_axes | {"controlnet_cond": spatial} | {name: spatial for name in down_out + ["mid_block_res_sample"]})
controlnet.__class__ = ControlNetModel
with open(os.path.join(folder, "config.json"), "w") as f:
    json.dump({k: (list(v) if isinstance(v, tuple) else v) for k, v in dict(controlnet.config).items() if not k.startswith("_")}
              | {"_class_name": "ControlNetModel"}, f, indent=1)


def run_controlnet(case, prompt, guidance, steps, seed, control, scale, guidance_end=1.0, images=1):
    """StableDiffusionXLControlNetPipeline.__call__ (one ControlNet, guess mode off, control image already at size)."""
    generator = torch.Generator().manual_seed(seed)
    scheduler = euler()
    height, width = control.shape[-2], control.shape[-1]
    with torch.no_grad():
        prompt_embeds, pooled, negative_embeds, negative_pooled = encode_prompt(prompt, None, True, base_encoders, True)
        image = torch.cat([control.repeat(images, 1, 1, 1)] * 2)
        scheduler.set_timesteps(steps)
        latents = randn_tensor((images, 4, height // 8, width // 8), generator=generator) * scheduler.init_noise_sigma
        keep = [1.0 - float(i / len(scheduler.timesteps) < 0.0 or (i + 1) / len(scheduler.timesteps) > guidance_end)
                for i in range(len(scheduler.timesteps))]
        time_ids = torch.tensor([[height, width, 0, 0, height, width]], dtype=torch.float32).repeat(2 * images, 1)
        embeds = torch.cat([negative_embeds.repeat(images, 1, 1), prompt_embeds.repeat(images, 1, 1)])
        added = {"text_embeds": torch.cat([negative_pooled.repeat(images, 1), pooled.repeat(images, 1)]), "time_ids": time_ids}
        for i, t in enumerate(scheduler.timesteps):
            model_input = scheduler.scale_model_input(torch.cat([latents] * 2), t)
            down, mid = controlnet(model_input, t, encoder_hidden_states=embeds, controlnet_cond=image,
                                   conditioning_scale=scale * keep[i], added_cond_kwargs=added, return_dict=False)
            noise_pred = unet(model_input, t, encoder_hidden_states=embeds, added_cond_kwargs=added,
                              down_block_additional_residuals=down, mid_block_additional_residual=mid).sample
            uncond, cond = noise_pred.chunk(2)
            latents = scheduler.step(uncond + guidance * (cond - uncond), t, latents, generator=generator).prev_sample
        save(case + "-latents", latents)
        with open(os.path.join(reference_dir, case + ".json"), "w") as f:
            json.dump({"prompt": prompt, "guidance_scale": guidance, "steps": steps, "seed": seed, "height": height,
                       "width": width, "images_per_prompt": images, "conditioning_scale": scale,
                       "control_guidance_end": guidance_end, "keep": keep}, f, indent=1)


# the control image: a filled circle on black, written as .rgb (diffusers' control image processor: pixels / 255)
yy, xx = np.mgrid[0:64, 0:48]
circle = (((yy - 30) ** 2 + (xx - 22) ** 2) < 15 ** 2).astype(np.uint8) * 255
control_pixels = np.stack([circle, circle // 2, 255 - circle], axis=-1).astype(np.uint8)
control_pixels.tofile(os.path.join(reference_dir, "control-image.rgb"))
control_tensor = torch.from_numpy(control_pixels.astype(np.float32) / 255.0).permute(2, 0, 1).unsqueeze(0)
run_controlnet("controlnet", PROMPT, 5.0, 4, 31, control_tensor, 0.8)
run_controlnet("controlnet-window", PROMPT, 5.0, 4, 32, control_tensor, 1.0, guidance_end=0.5, images=2)

# text_encoder_2 with its pooled output named pooler_output (as Microsoft Olive's SDXL exports name it): same graph,
# the output renamed; the pipeline must find the pooled embedding under either name.
olive = onnx.load(os.path.join(base_dir, "text_encoder_2", "model.onnx"))
for node in olive.graph.node:
    node.output[:] = ["pooler_output" if name == "text_embeds" else name for name in node.output]
for output in olive.graph.output:
    if output.name == "text_embeds":
        output.name = "pooler_output"
olive_dir = os.path.join(variants_dir, "text-encoder-2-pooler-output")
os.makedirs(olive_dir, exist_ok=True)
onnx.save(olive, os.path.join(olive_dir, "model.onnx"))
