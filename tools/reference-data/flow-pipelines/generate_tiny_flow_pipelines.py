#!/usr/bin/python3
"""Tiny FLUX.1 (schnell, dev) and SD3.5 pipelines as diffusers safetensors folders, and what diffusers' pipelines make
of them: the reference the library's flow-matching pipelines must reproduce.

Usage:
  /usr/bin/python3 generate_tiny_flow_pipelines.py <diffusers src> <diffusers-reference tools> [out]

  diffusers src   diffusers' src/ (checked with commit 58eb52c), run through ../shared/tools/diffusers-reference's stand-ins
  out             default tests/Diffusion.Core.Tests/TestData/flow-pipelines

The denoisers, VAEs and schedulers are diffusers' own classes (FluxTransformer2DModel, SD3Transformer2DModel,
AutoencoderKL with 16 latent channels, FlowMatchEulerDiscreteScheduler); the text encoders are the torch CLIP and T5
encoders of ../graphs/generate_clip_checkpoints.py and generate_t5_checkpoints.py (transformers' math, transformers'
tensor names). FluxPipeline.__call__ and StableDiffusion3Pipeline.__call__ need transformers to import, so their
steps are transcribed below line by line (encode_prompt, prepare_latents, the sigmas and mu, the loop, the decode).
CLIP prompts are tokenized with a transcription of CLIP's BPE over the tiny SDXL tokenizer's vocabulary (2,515 tokens,
CLIP's first 2,000 merges); T5 prompts with python3-sentencepiece over a 400-piece unigram model trained here with T5's
settings except normalization (identity, which keeps the file small; T5's own nmt_nfkc path is tested on its own)
and character coverage (0.98: rare characters of the training prompts become <unk>).

Writes:
  tiny-flux-schnell/  model_index.json (FluxPipeline), scheduler/ (schnell's: shift 1, no dynamic shifting),
                      text_encoder/ (CLIPTextModel, 16 wide), tokenizer/, text_encoder_2/ (T5 encoder, 16 wide),
                      tokenizer_2/ (spiece.model), transformer/ (1 double + 2 single blocks, 64 packed channels),
                      vae/ (16 latent channels, scaling 0.3611, shift 0.1159)
  tiny-flux-dev/      the same with a guidance-embedding transformer and dev's scheduler (dynamic shifting)
  tiny-flux-dev-onnx/ tiny-flux-dev as optimum lays out an ONNX export (ORTFluxPipeline): text_encoder/,
                      text_encoder_2/, transformer/, vae_decoder/ as model.onnx (torch.onnx.export, opset 14: torch
                      1.13 writes an invalid LayerNormalization for the transformers' affine-free norms at 17), configs
  tiny-sd3-onnx/      the same for tiny-sd3 (ORTStableDiffusion3Pipeline); SD3's position-embedding crop is traced at
                      the export size (64x64 pixels), as an export at one size is, so its case runs at 64x64
  flux-schnell-bfl.safetensors  tiny-flux-schnell's transformer alone in Black Forest Labs' single-file layout with
                      ComfyUI's model.diffusion_model. prefix (the inverse of diffusers' converter, ../graphs)
  sd3-sai.safetensors tiny-sd3's transformer alone in Stability AI's single-file layout (model.diffusion_model.)
  flux-dev-lora.safetensors  a diffusers/PEFT-keyed LoRA (rank 2, no alpha) on tiny-flux-dev's transformer (a double
                      block's to_q and to_add_out, a single block's proj_mlp, the final proj_out) and its CLIP (a q_proj
                      and an fc1); the flux-dev-lora case runs it merged at multiplier 0.8 (W + 0.8·B·A)
  tiny-sd3/           model_index.json (StableDiffusion3Pipeline), scheduler/ (shift 3), text_encoder/ and
                      text_encoder_2/ (CLIPTextModelWithProjection, 16 and 24 wide), text_encoder_3/ (T5, 48 wide, so
                      CLIP's 40 are zero-padded), tokenizer/, tokenizer_2/ (pads with "!"), tokenizer_3/,
                      transformer/ (SD3.5-medium-like: QK RMS norm, dual attention in block 0), vae/ (scaling 1.5305,
                      shift 0.0609)
  reference/<case>.json   the call (prompt, size, steps, seed, guidance, ...) and the timesteps the scheduler gave;
                          sd3-no-t5 runs tiny-sd3 as a folder without text_encoder_3/ (diffusers' zeros in T5's place)
  reference/init-<w>x<h>.rgb    the image-to-image cases' input picture (uint8 RGB), the same one diffusers was given
  reference/mask-<w>x<h>.rgb    the inpainting cases' mask (uint8 RGB, white = repaint): FluxInpaintPipeline and
                                StableDiffusion3InpaintPipeline transcribed (flux-*-inpaint, sd3-inpaint*)
  reference/<case>-latents.f32   final latents, [images, 16, h/8, w/8] (FLUX's unpacked), little-endian float32
  reference/<case>.rgb           decoded images, uint8 RGB, images × h × w × 3
"""
import json
import os
import shutil
import sys

import numpy as np

DIFFUSERS_SRC, REFERENCE_TOOLS = sys.argv[1:3]
HERE = os.path.dirname(os.path.abspath(__file__))
TEST_DATA = os.path.join(HERE, "..", "..", "..", "tests", "Diffusion.Core.Tests", "TestData")
OUT = sys.argv[3] if len(sys.argv) > 3 else os.path.join(TEST_DATA, "flow-pipelines")
sys.argv = sys.argv[:1] + [DIFFUSERS_SRC, REFERENCE_TOOLS]  # what the graph generators read at import
sys.path.insert(0, REFERENCE_TOOLS)
import stand_ins  # noqa: E402,F401  (before diffusers)
sys.path.insert(0, DIFFUSERS_SRC)
sys.path.insert(0, os.path.join(HERE, "..", "graphs"))
sys.path.insert(0, os.path.join(HERE, "..", "t5-tokenizer"))
import regex  # noqa: E402
import sentencepiece as spm  # noqa: E402
import torch  # noqa: E402
from diffusers.models.autoencoders.autoencoder_kl import AutoencoderKL  # noqa: E402
from diffusers.models.transformers.transformer_flux import FluxTransformer2DModel  # noqa: E402
from diffusers.models.transformers.transformer_sd3 import SD3Transformer2DModel  # noqa: E402
from diffusers.schedulers.scheduling_flow_match_euler_discrete import FlowMatchEulerDiscreteScheduler  # noqa: E402
from diffusers.utils.torch_utils import randn_tensor  # noqa: E402
import generate_t5_checkpoints as t5  # noqa: E402
from generate_clip_checkpoints import ClipText, write_safetensors  # noqa: E402
from generate_clip_checkpoints import config_json as clip_config  # noqa: E402
from generate_clip_checkpoints import randomise as randomise_clip  # noqa: E402
from generate_flux_transformer import to_bfl  # noqa: E402
from generate_sd3_transformer import randomise, to_sai  # noqa: E402
from train_t5_style_model import corpus_lines  # noqa: E402
from tiny_pipeline_exports import TextEncoderContract, VaeDecoderContract, as_contract  # noqa: E402


def _unflatten(self, dim, sizes):
    """Tensor.unflatten as a reshape: torch 1.13's ONNX exporter has no aten::unflatten (same values)."""
    dim = dim % self.dim()
    return self.reshape(*self.shape[:dim], *sizes, *self.shape[dim + 1:])


torch.Tensor.unflatten = _unflatten

CLIP_TOKENIZERS = os.path.join(TEST_DATA, "sdxl", "tiny-sdxl")
CLIP_VOCAB, BOS, EOS = 2515, 2513, 2514
FLUX_SCHEDULERS = {
    "schnell": {"_class_name": "FlowMatchEulerDiscreteScheduler", "_diffusers_version": "0.36.0", "base_image_seq_len": 256,
                "base_shift": 0.5, "max_image_seq_len": 4096, "max_shift": 1.15, "num_train_timesteps": 1000, "shift": 1.0,
                "use_dynamic_shifting": False},
    "dev": {"_class_name": "FlowMatchEulerDiscreteScheduler", "_diffusers_version": "0.36.0", "base_image_seq_len": 256,
            "base_shift": 0.5, "max_image_seq_len": 4096, "max_shift": 1.15, "num_train_timesteps": 1000, "shift": 3.0,
            "use_dynamic_shifting": True},
}
SD3_SCHEDULER = {"_class_name": "FlowMatchEulerDiscreteScheduler", "_diffusers_version": "0.36.0", "num_train_timesteps": 1000, "shift": 3.0}
REFERENCE = os.path.join(OUT, "reference")


# ------------------------------------------------------------------------------------------------------ tokenizers
def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


class ClipBpe:
    """CLIP's SimpleTokenizer.encode for plain prompts (no ftfy repair needed): lower-cased, whitespace collapsed, BPE."""

    def __init__(self, folder):
        with open(os.path.join(folder, "vocab.json"), encoding="utf-8") as f:
            self.vocab = json.load(f)
        with open(os.path.join(folder, "merges.txt"), encoding="utf-8") as f:
            merges = [tuple(line.split()) for line in f.read().split("\n")[1:] if line]
        self.ranks = {m: i for i, m in enumerate(merges)}
        self.bytes = bytes_to_unicode()
        self.pattern = regex.compile(r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""", regex.IGNORECASE)

    def bpe(self, token):
        word = list(token[:-1]) + [token[-1] + "</w>"]
        while len(word) > 1:
            pairs = [(self.ranks.get((a, b), 1 << 30), i) for i, (a, b) in enumerate(zip(word, word[1:]))]
            rank, i = min(pairs)
            if rank == 1 << 30:
                break
            first, second = word[i], word[i + 1]
            merged, j = [], 0
            while j < len(word):
                if j < len(word) - 1 and word[j] == first and word[j + 1] == second:
                    merged.append(first + second)
                    j += 2
                else:
                    merged.append(word[j])
                    j += 1
            word = merged
        return word

    def ids(self, text, pad):
        text = " ".join(text.split()).strip().lower()
        ids = []
        for token in regex.findall(self.pattern, text):
            ids += [self.vocab[piece] for piece in self.bpe("".join(self.bytes[b] for b in token.encode("utf-8")))]
        ids = [BOS] + ids[:75] + [EOS]
        return ids + [pad] * (77 - len(ids))


def t5_ids(sp, text, max_length):
    """T5TokenizerFast(padding="max_length", truncation=True, add_special_tokens=True): pieces, EOS, pad 0."""
    ids = sp.encode(text)[: max_length - 1] + [1]
    return ids + [0] * (max_length - len(ids))


def train_spiece(folder):
    corpus = os.path.join(folder, "corpus.tmp")
    with open(corpus, "w", encoding="utf-8") as f:
        f.write("\n".join(corpus_lines()) + "\n")
    try:
        spm.SentencePieceTrainer.train(
            input=corpus, model_prefix=os.path.join(folder, "spiece"), model_type="unigram", vocab_size=400,
            hard_vocab_limit=False, character_coverage=0.98, normalization_rule_name="identity", add_dummy_prefix=True,
            remove_extra_whitespaces=True, pad_id=0, eos_id=1, unk_id=2, bos_id=-1, pad_piece="<pad>", eos_piece="</s>",
            unk_piece="<unk>", byte_fallback=False, num_threads=1, seed_sentencepiece_size=100000,
            shuffle_input_sentence=False, max_sentence_length=100000, minloglevel=1)
    finally:
        os.remove(corpus)
        os.remove(os.path.join(folder, "spiece.vocab"))


# ------------------------------------------------------------------------------------------------------ components
def dump(path, value):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(value, f, indent=1)


def config_of(model, class_name):
    config = {k: (list(v) if isinstance(v, tuple) else v) for k, v in dict(model.config).items() if not k.startswith("_")}
    return {"_class_name": class_name, "_diffusers_version": "0.36.0"} | config


def clip_encoder(root, component, seed, width, activation, projection):
    torch.manual_seed(seed)
    model = ClipText(width, 2, 2, 2 * width, activation, projection, vocab=CLIP_VOCAB).eval()
    randomise_clip(model, seed)
    os.makedirs(os.path.join(root, component))
    write_safetensors(os.path.join(root, component, "model.safetensors"), model.state_dict(), "F32")
    dump(os.path.join(root, component, "config.json"), clip_config(component, width, 2, 2, 2 * width, activation, projection, vocab=CLIP_VOCAB))
    return model


def t5_encoder(root, component, seed, d_model, vocab):
    t5.VOCAB = vocab
    config = t5.config_json(d_model, 8, 2 * d_model, 2, 2, 32, 128, "gated-gelu")
    torch.manual_seed(seed)
    model = t5.T5Encoder(config).eval()
    t5.randomise(model, seed)
    os.makedirs(os.path.join(root, component))
    write_safetensors(os.path.join(root, component, "model.safetensors"), model.state_dict(), "F32")
    dump(os.path.join(root, component, "config.json"), config)
    return model


def t5_tokenizer(root, folder, spiece):
    os.makedirs(os.path.join(root, folder))
    shutil.copy(spiece, os.path.join(root, folder, "spiece.model"))
    dump(os.path.join(root, folder, "tokenizer_config.json"),
         {"eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>", "extra_ids": 0, "model_max_length": 512,
          "tokenizer_class": "T5Tokenizer"})


def vae16(root, seed, scaling, shift):
    torch.manual_seed(seed)
    vae = AutoencoderKL(in_channels=3, out_channels=3, latent_channels=16, block_out_channels=(8, 8, 8, 8), layers_per_block=1,
                        norm_num_groups=4, down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
                        sample_size=64, use_quant_conv=False, use_post_quant_conv=False, shift_factor=shift,
                        scaling_factor=scaling).eval()
    randomise(vae, seed)
    os.makedirs(os.path.join(root, "vae"))
    write_safetensors(os.path.join(root, "vae", "diffusion_pytorch_model.safetensors"), vae.state_dict(), "F32")
    dump(os.path.join(root, "vae", "config.json"), config_of(vae, "AutoencoderKL"))
    return vae


def transformer_folder(root, model, class_name):
    os.makedirs(os.path.join(root, "transformer"))
    write_safetensors(os.path.join(root, "transformer", "diffusion_pytorch_model.safetensors"), model.state_dict(), "F32")
    dump(os.path.join(root, "transformer", "config.json"), config_of(model, class_name))


def make_flux(variant, spiece):
    root = os.path.join(OUT, f"tiny-flux-{variant}")
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(root)
    clip = clip_encoder(root, "text_encoder", 81, 16, "quick_gelu", None)
    shutil.copytree(os.path.join(CLIP_TOKENIZERS, "tokenizer"), os.path.join(root, "tokenizer"))
    encoder = t5_encoder(root, "text_encoder_2", 82, 16, 400)
    t5_tokenizer(root, "tokenizer_2", spiece)
    seed = 83 if variant == "schnell" else 84
    torch.manual_seed(seed)
    transformer = FluxTransformer2DModel(patch_size=1, in_channels=64, num_layers=1, num_single_layers=2, attention_head_dim=8,
                                         num_attention_heads=2, joint_attention_dim=16, pooled_projection_dim=16,
                                         guidance_embeds=variant == "dev", axes_dims_rope=(2, 2, 4)).eval()
    randomise(transformer, seed)
    transformer_folder(root, transformer, "FluxTransformer2DModel")
    vae = vae16(root, 85, 0.3611, 0.1159)
    dump(os.path.join(root, "scheduler", "scheduler_config.json"), FLUX_SCHEDULERS[variant])
    dump(os.path.join(root, "model_index.json"), {
        "_class_name": "FluxPipeline", "_diffusers_version": "0.36.0",
        "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"], "text_encoder": ["transformers", "CLIPTextModel"],
        "text_encoder_2": ["transformers", "T5EncoderModel"], "tokenizer": ["transformers", "CLIPTokenizer"],
        "tokenizer_2": ["transformers", "T5TokenizerFast"], "transformer": ["diffusers", "FluxTransformer2DModel"],
        "vae": ["diffusers", "AutoencoderKL"]})
    return dict(clip=clip, t5=encoder, transformer=transformer, vae=vae, scheduler=FLUX_SCHEDULERS[variant],
                text_encoder=clip, text_encoder_2=encoder)


def make_sd3(spiece):
    root = os.path.join(OUT, "tiny-sd3")
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(root)
    clip_l = clip_encoder(root, "text_encoder", 91, 16, "quick_gelu", 8)
    clip_g = clip_encoder(root, "text_encoder_2", 92, 24, "gelu", 12)
    shutil.copytree(os.path.join(CLIP_TOKENIZERS, "tokenizer"), os.path.join(root, "tokenizer"))
    shutil.copytree(os.path.join(CLIP_TOKENIZERS, "tokenizer_2"), os.path.join(root, "tokenizer_2"))
    encoder = t5_encoder(root, "text_encoder_3", 93, 48, 400)
    t5_tokenizer(root, "tokenizer_3", spiece)
    torch.manual_seed(94)
    transformer = SD3Transformer2DModel(sample_size=8, patch_size=2, in_channels=16, num_layers=2, attention_head_dim=8,
                                        num_attention_heads=2, joint_attention_dim=48, caption_projection_dim=16,
                                        pooled_projection_dim=20, out_channels=16, pos_embed_max_size=8,
                                        dual_attention_layers=(0,), qk_norm="rms_norm").eval()
    randomise(transformer, 94)
    transformer_folder(root, transformer, "SD3Transformer2DModel")
    vae = vae16(root, 95, 1.5305, 0.0609)
    dump(os.path.join(root, "scheduler", "scheduler_config.json"), SD3_SCHEDULER)
    dump(os.path.join(root, "model_index.json"), {
        "_class_name": "StableDiffusion3Pipeline", "_diffusers_version": "0.36.0",
        "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"],
        "text_encoder": ["transformers", "CLIPTextModelWithProjection"], "text_encoder_2": ["transformers", "CLIPTextModelWithProjection"],
        "text_encoder_3": ["transformers", "T5EncoderModel"], "tokenizer": ["transformers", "CLIPTokenizer"],
        "tokenizer_2": ["transformers", "CLIPTokenizer"], "tokenizer_3": ["transformers", "T5TokenizerFast"],
        "transformer": ["diffusers", "SD3Transformer2DModel"], "vae": ["diffusers", "AutoencoderKL"]})
    return dict(clip_l=clip_l, clip_g=clip_g, t5=encoder, transformer=transformer, vae=vae, scheduler=SD3_SCHEDULER,
                text_encoder=clip_l, text_encoder_2=clip_g, text_encoder_3=encoder)


# -------------------------------------------------------------------------------------------------- ONNX folders
class T5Contract(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids):
        return self.model(input_ids)


class FluxContract(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, hidden_states, encoder_hidden_states, pooled_projections, timestep, img_ids, txt_ids, guidance=None):
        return self.model(hidden_states=hidden_states, encoder_hidden_states=encoder_hidden_states, pooled_projections=pooled_projections,
                          timestep=timestep, img_ids=img_ids, txt_ids=txt_ids, guidance=guidance).sample


class Sd3Contract(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, hidden_states, encoder_hidden_states, pooled_projections, timestep):
        return self.model(hidden_states=hidden_states, encoder_hidden_states=encoder_hidden_states,
                          pooled_projections=pooled_projections, timestep=timestep).sample


def export(module, args, path, inputs, outputs, axes):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    torch.onnx.export(module.eval(), args, path, input_names=inputs, output_names=outputs, opset_version=14,
                      do_constant_folding=True, dynamic_axes=axes)


def export_clip(model, path):
    ids = torch.tensor([[BOS] + [EOS] * 76], dtype=torch.int32)
    names = ["text_embeds", "last_hidden_state"] if model.text_projection is not None else ["last_hidden_state", "pooler_output"]
    names += [f"hidden_states.{i}" for i in range(len(model.text_model.encoder.layers) + 1)]
    axes = {"input_ids": {0: "batch_size", 1: "sequence_length"}}
    axes |= {n: ({0: "batch_size"} if n in ("text_embeds", "pooler_output") else {0: "batch_size", 1: "sequence_length"}) for n in names}
    export(as_contract(model, TextEncoderContract), (ids,), path, ["input_ids"], names, axes)
    model.__class__ = ClipText


def export_folder(source, target, class_name, parts, components):
    """An optimum-style ONNX folder of the same modules: tokenizers, scheduler and configs copied, each model exported."""
    shutil.rmtree(target, ignore_errors=True)
    os.makedirs(target)
    for folder in os.listdir(source):
        if folder.startswith("tokenizer") or folder == "scheduler":
            shutil.copytree(os.path.join(source, folder), os.path.join(target, folder))
    index = {"_class_name": class_name, "_diffusers_version": "0.36.0", "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"]}
    for component, kind in components:
        index[component] = ["optimum", "ORTModel"]
        path = os.path.join(target, component, "model.onnx")
        if kind == "clip":
            export_clip(parts[component], path)
        elif kind == "t5":
            export(T5Contract(parts[component]), (torch.zeros(1, 8, dtype=torch.int64),), path, ["input_ids"], ["last_hidden_state"],
                   {"input_ids": {0: "batch_size", 1: "sequence_length"}, "last_hidden_state": {0: "batch_size", 1: "sequence_length"}})
        elif kind == "flux":
            model = parts[component]
            args = [torch.randn(1, 12, 64), torch.randn(1, 7, 16), torch.randn(1, 16), torch.tensor([0.5]), torch.zeros(12, 3), torch.zeros(7, 3)]
            inputs = ["hidden_states", "encoder_hidden_states", "pooled_projections", "timestep", "img_ids", "txt_ids"]
            axes = {"hidden_states": {0: "batch_size", 1: "image_tokens"}, "encoder_hidden_states": {0: "batch_size", 1: "text_tokens"},
                    "pooled_projections": {0: "batch_size"}, "timestep": {0: "batch_size"}, "img_ids": {0: "image_tokens"},
                    "txt_ids": {0: "text_tokens"}, "out_hidden_states": {0: "batch_size", 1: "image_tokens"}}
            if model.config.guidance_embeds:
                args.append(torch.tensor([3.5]))
                inputs.append("guidance")
                axes["guidance"] = {0: "batch_size"}
            export(FluxContract(model), tuple(args), path, inputs, ["out_hidden_states"], axes)
            shutil.copy(os.path.join(source, component, "config.json"), os.path.join(target, component, "config.json"))
        elif kind == "sd3":
            args = (torch.randn(2, 16, 8, 8), torch.randn(2, 93, 48), torch.randn(2, 20), torch.tensor([500.0, 500.0]))
            axes = {"hidden_states": {0: "batch_size", 2: "height", 3: "width"}, "encoder_hidden_states": {0: "batch_size", 1: "text_tokens"},
                    "pooled_projections": {0: "batch_size"}, "timestep": {0: "batch_size"},
                    "out_hidden_states": {0: "batch_size", 2: "height", 3: "width"}}
            export(Sd3Contract(parts[component]), args, path, ["hidden_states", "encoder_hidden_states", "pooled_projections", "timestep"],
                   ["out_hidden_states"], axes)
            shutil.copy(os.path.join(source, component, "config.json"), os.path.join(target, component, "config.json"))
        else:  # the VAE decoder, with the VAE's config (scaling_factor, shift_factor) as optimum copies it
            export(VaeDecoderContract(parts["vae"]), (torch.randn(1, 16, 8, 8),), path, ["latent_sample"], ["sample"],
                   {"latent_sample": {0: "batch_size", 2: "height", 3: "width"}, "sample": {0: "batch_size", 2: "height_out", 3: "width_out"}})
            shutil.copy(os.path.join(source, "vae", "config.json"), os.path.join(target, component, "config.json"))
    dump(os.path.join(target, "model_index.json"), index)


# ------------------------------------------------------------------------------------------------ the pipelines
def calculate_shift(image_seq_len, base_seq_len=256, max_seq_len=4096, base_shift=0.5, max_shift=1.15):
    m = (max_shift - base_shift) / (max_seq_len - base_seq_len)
    b = base_shift - m * base_seq_len
    return image_seq_len * m + b


def pack_latents(latents, batch_size, num_channels_latents, height, width):
    latents = latents.view(batch_size, num_channels_latents, height // 2, 2, width // 2, 2)
    latents = latents.permute(0, 2, 4, 1, 3, 5)
    return latents.reshape(batch_size, (height // 2) * (width // 2), num_channels_latents * 4)


def unpack_latents(latents, height, width, vae_scale_factor):
    batch_size, num_patches, channels = latents.shape
    height = 2 * (int(height) // (vae_scale_factor * 2))
    width = 2 * (int(width) // (vae_scale_factor * 2))
    latents = latents.view(batch_size, height // 2, width // 2, channels // 4, 2, 2)
    latents = latents.permute(0, 3, 1, 4, 2, 5)
    return latents.reshape(batch_size, channels // (2 * 2), height, width)


def prepare_latent_image_ids(height, width):
    latent_image_ids = torch.zeros(height, width, 3)
    latent_image_ids[..., 1] = latent_image_ids[..., 1] + torch.arange(height)[:, None]
    latent_image_ids[..., 2] = latent_image_ids[..., 2] + torch.arange(width)[None, :]
    return latent_image_ids.reshape(height * width, 3)


def flux_encode(parts, text, images, max_sequence_length):
    """FluxPipeline.encode_prompt: T5's last hidden state and CLIP's pooler_output, repeated over the images."""
    pooled = parts["clip"](torch.tensor([clip_bpe.ids(text, EOS)]))[1].repeat(images, 1)
    prompt_embeds = parts["t5"](torch.tensor([t5_ids(sp, text, max_sequence_length)])).repeat(images, 1, 1)
    return prompt_embeds, pooled


def sd3_encode(parts, text, max_sequence_length, with_t5=True):
    """StableDiffusion3Pipeline.encode_prompt for one prompt: hidden_states[-2] of both CLIPs side by side, zero-padded to
    T5's width, T5's tokens after them (without text_encoder_3: 77 rows of zeros, as _get_t5_prompt_embeds returns);
    pooled = both projections."""
    out_l = parts["clip_l"](torch.tensor([clip_bpe.ids(text, EOS)]))
    out_g = parts["clip_g"](torch.tensor([clip_bpe.ids(text, 0)]))
    clip_embeds = torch.cat([out_l[2][-2], out_g[2][-2]], dim=-1)
    t5_embeds = (parts["t5"](torch.tensor([t5_ids(sp, text, max_sequence_length)])) if with_t5
                 else torch.zeros(1, 77, parts["transformer"].config.joint_attention_dim))
    clip_embeds = torch.nn.functional.pad(clip_embeds, (0, t5_embeds.shape[-1] - clip_embeds.shape[-1]))
    return torch.cat([clip_embeds, t5_embeds], dim=-2), torch.cat([out_l[1], out_g[1]], dim=-1)


def save_result(case, record, latents, vae, decoder_input):
    np.ascontiguousarray(latents.numpy().astype("<f4")).tofile(os.path.join(REFERENCE, case + "-latents.f32"))
    decoded = vae.decode(decoder_input).sample
    pixels = ((decoded / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1) * 255).round().to(torch.uint8)
    pixels.numpy().tofile(os.path.join(REFERENCE, case + ".rgb"))
    dump(os.path.join(REFERENCE, case + ".json"), record | {"latents_shape": list(latents.shape)})


def flux(case, folder, parts, prompt, steps, seed, height, width, images=1, guidance=3.5, max_sequence_length=512,
         negative_prompt=None, true_cfg_scale=1.0):
    """FluxPipeline.__call__: CLIP pooler_output, T5 tokens, packed latents, FLUX's sigmas and mu, timestep/1000, the
    embedded guidance (dev), with a negative prompt and true_cfg_scale > 1 a second transformer run on it and
    neg + s·(cond − neg), unpack, latents / scaling + shift, decode."""
    generator = torch.Generator().manual_seed(seed)
    transformer, vae = parts["transformer"], parts["vae"]
    with torch.no_grad():
        prompt_embeds, pooled = flux_encode(parts, prompt, images, max_sequence_length)
        text_ids = torch.zeros(prompt_embeds.shape[1], 3)
        do_true_cfg = true_cfg_scale > 1 and negative_prompt is not None
        if do_true_cfg:
            negative_embeds, negative_pooled = flux_encode(parts, negative_prompt, images, max_sequence_length)
        h, w = 2 * (height // 16), 2 * (width // 16)
        latents = randn_tensor((images, transformer.config.in_channels // 4, h, w), generator=generator)
        latents = pack_latents(latents, images, transformer.config.in_channels // 4, h, w)
        image_ids = prepare_latent_image_ids(h // 2, w // 2)
        scheduler = FlowMatchEulerDiscreteScheduler.from_config(parts["scheduler"])
        sigmas = np.linspace(1.0, 1 / steps, steps)
        mu = calculate_shift(latents.shape[1], scheduler.config.get("base_image_seq_len", 256), scheduler.config.get("max_image_seq_len", 4096),
                             scheduler.config.get("base_shift", 0.5), scheduler.config.get("max_shift", 1.15))
        scheduler.set_timesteps(sigmas=sigmas, mu=mu)
        guidance_input = torch.full([1], guidance, dtype=torch.float32).expand(images) if transformer.config.guidance_embeds else None
        scheduler.set_begin_index(0)
        for t in scheduler.timesteps:
            timestep = t.expand(images).to(latents.dtype)
            noise_pred = transformer(hidden_states=latents, timestep=timestep / 1000, guidance=guidance_input,
                                     pooled_projections=pooled, encoder_hidden_states=prompt_embeds, txt_ids=text_ids,
                                     img_ids=image_ids, return_dict=False)[0]
            if do_true_cfg:
                neg_noise_pred = transformer(hidden_states=latents, timestep=timestep / 1000, guidance=guidance_input,
                                             pooled_projections=negative_pooled, encoder_hidden_states=negative_embeds,
                                             txt_ids=text_ids, img_ids=image_ids, return_dict=False)[0]
                noise_pred = neg_noise_pred + true_cfg_scale * (noise_pred - neg_noise_pred)
            latents = scheduler.step(noise_pred, t, latents, return_dict=False)[0]
        latents = unpack_latents(latents, height, width, 8)
        record = {"model": folder, "prompt": prompt, "steps": steps, "seed": seed, "height": height, "width": width,
                  "images_per_prompt": images, "guidance_scale": guidance, "max_sequence_length": max_sequence_length,
                  "mu": mu, "timesteps": [float(t) for t in scheduler.timesteps]}
        if do_true_cfg:
            record |= {"negative_prompt": negative_prompt, "true_cfg_scale": true_cfg_scale}
        save_result(case, record, latents, vae, latents / vae.config.scaling_factor + vae.config.shift_factor)


def init_image(height, width):
    """A deterministic test picture, uint8 RGB [height, width, 3], saved beside the references as init-<w>x<h>.rgb."""
    y, x = np.mgrid[0:height, 0:width]
    pixels = np.stack([(x * 255 // max(width - 1, 1)), (y * 255 // max(height - 1, 1)), ((x // 8 + y // 8) % 2) * 200 + 20], axis=-1)
    pixels = pixels.astype(np.uint8)
    pixels.tofile(os.path.join(REFERENCE, f"init-{width}x{height}.rgb"))
    # VaeImageProcessor.preprocess: [0, 1] then 2x - 1, NCHW float32
    return torch.from_numpy(pixels.astype(np.float32) / 255.0).permute(2, 0, 1).unsqueeze(0) * 2.0 - 1.0


def encode_image(vae, image, generator):
    """retrieve_latents(vae.encode(image), generator) (sample mode), then (x − shift) · scaling."""
    moments = vae.encoder(image)
    mean, logvar = moments.chunk(2, dim=1)
    std = torch.exp(0.5 * logvar.clamp(-30.0, 20.0))
    latents = mean + std * randn_tensor(mean.shape, generator=generator)
    return (latents - vae.config.shift_factor) * vae.config.scaling_factor


def first_step(steps, strength):
    """get_timesteps of the SD3/FLUX img2img pipelines: init = min(steps·strength, steps), t_start = int(max(steps − init, 0))."""
    return int(max(steps - min(steps * strength, steps), 0))


def mask_image(height, width):
    """A deterministic inpainting mask, uint8 RGB, white = repaint (an off-centre block whose edges miss the 8-pixel latent
    grid), saved as mask-<w>x<h>.rgb; returned as the inpainting pipelines' mask_processor makes it from pure black and
    white pixels (grayscale, [0, 1], binarised at 0.5): [1, 1, H, W]."""
    pixels = np.zeros((height, width, 3), np.uint8)
    pixels[height // 4: height * 3 // 4 + 3, width // 3: width - 5] = 255
    pixels.tofile(os.path.join(REFERENCE, f"mask-{width}x{height}.rgb"))
    return torch.from_numpy((pixels[:, :, 0] >= 128).astype(np.float32))[None, None]


def inpainting_mask(vae, image, mask, generator, latent_height, latent_width):
    """prepare_mask_latents of the SD3/FLUX inpainting pipelines for a 16-channel transformer: the masked image is encoded
    (sampled, one more draw of the generator; its latents feed only inpainting transformers) and the mask resized to the
    latents (interpolate, mode nearest)."""
    encode_image(vae, image * (mask < 0.5), generator)
    return torch.nn.functional.interpolate(mask, size=(latent_height, latent_width))


def blend_known(scheduler, latents, image_latents, noise, mask, timesteps, i):
    """After step i: latents = (1 − mask)·init_latents_proper + mask·latents, the known region re-noised to the next
    timestep (scale_noise; the clean image latents after the last step)."""
    proper = image_latents
    if i < len(timesteps) - 1:
        proper = scheduler.scale_noise(proper, torch.tensor([timesteps[i + 1]]), noise)
    return (1 - mask) * proper + mask * latents


def flux_img2img(case, folder, parts, prompt, steps, seed, height, width, strength, images=1, guidance=3.5, max_sequence_length=512,
                 inpaint=False):
    """FluxImg2ImgPipeline.__call__: FLUX's schedule, cut at get_timesteps; the image encoded (sampled), shifted and
    scaled, repeated, noised with scale_noise at the first kept timestep, packed; then FluxPipeline's loop and decode.
    With inpaint, FluxInpaintPipeline.__call__: the same, plus the mask (prepare_mask_latents, repeated over the channels
    and packed) and the known region blended back after every step."""
    generator = torch.Generator().manual_seed(seed)
    transformer, vae = parts["transformer"], parts["vae"]
    image = init_image(height, width)
    with torch.no_grad():
        prompt_embeds, pooled = flux_encode(parts, prompt, images, max_sequence_length)
        text_ids = torch.zeros(prompt_embeds.shape[1], 3)
        scheduler = FlowMatchEulerDiscreteScheduler.from_config(parts["scheduler"])
        sigmas = np.linspace(1.0, 1 / steps, steps)
        image_seq_len = (height // 8 // 2) * (width // 8 // 2)
        mu = calculate_shift(image_seq_len, scheduler.config.get("base_image_seq_len", 256), scheduler.config.get("max_image_seq_len", 4096),
                             scheduler.config.get("base_shift", 0.5), scheduler.config.get("max_shift", 1.15))
        scheduler.set_timesteps(sigmas=sigmas, mu=mu)
        t_start = first_step(steps, strength)
        timesteps = scheduler.timesteps[t_start:]
        scheduler.set_begin_index(t_start)
        latent_timestep = timesteps[:1].repeat(images)
        channels, h, w = transformer.config.in_channels // 4, 2 * (height // 16), 2 * (width // 16)
        image_latents = encode_image(vae, image, generator).repeat(images, 1, 1, 1)
        noise = randn_tensor((images, channels, h, w), generator=generator)
        latents = pack_latents(scheduler.scale_noise(image_latents, latent_timestep, noise), images, channels, h, w)
        if inpaint:
            mask = inpainting_mask(vae, image, mask_image(height, width), generator, h, w)
            mask = pack_latents(mask.repeat(images, channels, 1, 1), images, channels, h, w)
            packed_image, packed_noise = pack_latents(image_latents, images, channels, h, w), pack_latents(noise, images, channels, h, w)
        image_ids = prepare_latent_image_ids(h // 2, w // 2)
        guidance_input = torch.full([1], guidance, dtype=torch.float32).expand(images) if transformer.config.guidance_embeds else None
        for i, t in enumerate(timesteps):
            timestep = t.expand(images).to(latents.dtype)
            noise_pred = transformer(hidden_states=latents, timestep=timestep / 1000, guidance=guidance_input,
                                     pooled_projections=pooled, encoder_hidden_states=prompt_embeds, txt_ids=text_ids,
                                     img_ids=image_ids, return_dict=False)[0]
            latents = scheduler.step(noise_pred, t, latents, return_dict=False)[0]
            if inpaint:
                latents = blend_known(scheduler, latents, packed_image, packed_noise, mask, timesteps, i)
        latents = unpack_latents(latents, height, width, 8)
        record = {"model": folder, "prompt": prompt, "steps": steps, "seed": seed, "height": height, "width": width,
                  "images_per_prompt": images, "guidance_scale": guidance, "max_sequence_length": max_sequence_length,
                  "strength": strength, "init_image": f"init-{width}x{height}", "mu": mu,
                  "timesteps": [float(t) for t in timesteps]}
        if inpaint:
            record["mask_image"] = f"mask-{width}x{height}"
        save_result(case, record, latents, vae, latents / vae.config.scaling_factor + vae.config.shift_factor)


def sd3(case, parts, prompt, negative_prompt, steps, seed, height, width, images=1, guidance=7.0, max_sequence_length=256, with_t5=True,
        skip_layers=None, slg_scale=2.8, slg_start=0.01, slg_stop=0.2):
    """StableDiffusion3Pipeline.__call__: sd3_encode's conditioning, classifier-free guidance over [negative, prompt],
    decode with shift; with skip_layers, its skip-layer guidance (skip_guidance_layers, skip_layer_guidance_scale, _start,
    _stop): between the window's steps, one more transformer run on the prompt rows with those blocks skipped."""
    generator = torch.Generator().manual_seed(seed)
    transformer, vae = parts["transformer"], parts["vae"]

    def encode(text):
        return sd3_encode(parts, text, max_sequence_length, with_t5)

    with torch.no_grad():
        prompt_embeds, pooled = encode(prompt)
        prompt_embeds, pooled = prompt_embeds.repeat(images, 1, 1), pooled.repeat(images, 1)
        guided = guidance > 1
        if guided:
            negative_embeds, negative_pooled = encode(negative_prompt or "")
            prompt_embeds = torch.cat([negative_embeds.repeat(images, 1, 1), prompt_embeds])
            pooled = torch.cat([negative_pooled.repeat(images, 1), pooled])
        latents = randn_tensor((images, transformer.config.in_channels, height // 8, width // 8), generator=generator)
        scheduler = FlowMatchEulerDiscreteScheduler.from_config(parts["scheduler"])
        scheduler.set_timesteps(steps)
        for i, t in enumerate(scheduler.timesteps):
            model_input = torch.cat([latents] * 2) if guided else latents
            noise_pred = transformer(hidden_states=model_input, timestep=t.expand(model_input.shape[0]), encoder_hidden_states=prompt_embeds,
                                     pooled_projections=pooled, return_dict=False)[0]
            if guided:
                uncond, cond = noise_pred.chunk(2)
                noise_pred = uncond + guidance * (cond - uncond)
                num_inference_steps = len(scheduler.timesteps)
                if skip_layers is not None and num_inference_steps * slg_start < i < num_inference_steps * slg_stop:
                    skipped = transformer(hidden_states=latents, timestep=t.expand(latents.shape[0]), encoder_hidden_states=prompt_embeds[images:],
                                          pooled_projections=pooled[images:], return_dict=False, skip_layers=skip_layers)[0]
                    noise_pred = noise_pred + (cond - skipped) * slg_scale
            latents = scheduler.step(noise_pred, t, latents, return_dict=False)[0]
        record = {"model": "tiny-sd3", "prompt": prompt, "negative_prompt": negative_prompt, "steps": steps, "seed": seed,
                  "height": height, "width": width, "images_per_prompt": images, "guidance_scale": guidance,
                  "max_sequence_length": max_sequence_length, "text_encoder_3": with_t5,
                  "timesteps": [float(t) for t in scheduler.timesteps]}
        if skip_layers is not None:
            record["skip_layer_guidance"] = {"layers": skip_layers, "scale": slg_scale, "start": slg_start, "stop": slg_stop}
        save_result(case, record, latents, vae, latents / vae.config.scaling_factor + vae.config.shift_factor)


def sd3_img2img(case, parts, prompt, negative_prompt, steps, seed, height, width, strength, images=1, guidance=7.0, max_sequence_length=256,
                inpaint=False):
    """StableDiffusion3Img2ImgPipeline.__call__: set_timesteps(steps), cut at get_timesteps; prepare_latents encodes the
    image (sampled), shifts and scales it, repeats it and noises it with scale_noise; then SD3's guided loop and decode.
    With inpaint, StableDiffusion3InpaintPipeline.__call__ for a 16-channel transformer: the same (at strength 1 the
    latents are the noise itself, which scale_noise at sigma 1 also gives), plus the mask and the blend after every step."""
    generator = torch.Generator().manual_seed(seed)
    transformer, vae = parts["transformer"], parts["vae"]
    image = init_image(height, width)

    def encode(text):
        return sd3_encode(parts, text, max_sequence_length)

    with torch.no_grad():
        prompt_embeds, pooled = encode(prompt)
        negative_embeds, negative_pooled = encode(negative_prompt or "")
        prompt_embeds = torch.cat([negative_embeds.repeat(images, 1, 1), prompt_embeds.repeat(images, 1, 1)])
        pooled = torch.cat([negative_pooled.repeat(images, 1), pooled.repeat(images, 1)])
        scheduler = FlowMatchEulerDiscreteScheduler.from_config(parts["scheduler"])
        scheduler.set_timesteps(steps)
        t_start = first_step(steps, strength)
        timesteps = scheduler.timesteps[t_start:]
        scheduler.set_begin_index(t_start)
        latent_timestep = timesteps[:1].repeat(images)
        init_latents = encode_image(vae, image, generator).repeat(images, 1, 1, 1)
        noise = randn_tensor(init_latents.shape, generator=generator)
        latents = noise if inpaint and strength == 1.0 else scheduler.scale_noise(init_latents, latent_timestep, noise)
        if inpaint:
            mask = inpainting_mask(vae, image, mask_image(height, width), generator, height // 8, width // 8)
        for i, t in enumerate(timesteps):
            model_input = torch.cat([latents] * 2)
            noise_pred = transformer(hidden_states=model_input, timestep=t.expand(model_input.shape[0]), encoder_hidden_states=prompt_embeds,
                                     pooled_projections=pooled, return_dict=False)[0]
            uncond, cond = noise_pred.chunk(2)
            latents = scheduler.step(uncond + guidance * (cond - uncond), t, latents, return_dict=False)[0]
            if inpaint:
                latents = blend_known(scheduler, latents, init_latents, noise, mask, timesteps, i)
        record = {"model": "tiny-sd3", "prompt": prompt, "negative_prompt": negative_prompt, "steps": steps, "seed": seed,
                  "height": height, "width": width, "images_per_prompt": images, "guidance_scale": guidance,
                  "max_sequence_length": max_sequence_length, "strength": strength, "init_image": f"init-{width}x{height}",
                  "timesteps": [float(t) for t in timesteps]}
        if inpaint:
            record["mask_image"] = f"mask-{width}x{height}"
        save_result(case, record, latents, vae, latents / vae.config.scaling_factor + vae.config.shift_factor)


def flux_lora(parts, multiplier):
    """A PEFT-keyed LoRA file for parts' transformer and CLIP, and copies of both with it merged (W + m·B·A)."""
    import copy
    g = torch.Generator().manual_seed(41)
    merged = dict(parts, transformer=copy.deepcopy(parts["transformer"]), clip=copy.deepcopy(parts["clip"]))
    tensors = {}
    for prefix, model, path in (("transformer", merged["transformer"], "transformer_blocks.0.attn.to_q"),
                                ("transformer", merged["transformer"], "transformer_blocks.0.attn.to_add_out"),
                                ("transformer", merged["transformer"], "single_transformer_blocks.0.proj_mlp"),
                                ("transformer", merged["transformer"], "proj_out"),
                                ("text_encoder", merged["clip"], "text_model.encoder.layers.0.self_attn.q_proj"),
                                ("text_encoder", merged["clip"], "text_model.encoder.layers.1.mlp.fc1")):
        layer = model.get_submodule(path)
        down = torch.randn(2, layer.in_features, generator=g) * 0.3
        up = torch.randn(layer.out_features, 2, generator=g) * 0.3
        tensors[f"{prefix}.{path}.lora_A.weight"] = down
        tensors[f"{prefix}.{path}.lora_B.weight"] = up
        with torch.no_grad():
            layer.weight += multiplier * (up @ down)
    write_safetensors(os.path.join(OUT, "flux-dev-lora.safetensors"), tensors, "F32")
    return merged


def main():
    global clip_bpe, sp
    shutil.rmtree(REFERENCE, ignore_errors=True)
    os.makedirs(REFERENCE)
    train_spiece(REFERENCE)
    spiece = os.path.join(REFERENCE, "spiece.model")
    clip_bpe = ClipBpe(os.path.join(CLIP_TOKENIZERS, "tokenizer"))
    sp = spm.SentencePieceProcessor(model_file=spiece)
    schnell = make_flux("schnell", spiece)
    dev = make_flux("dev", spiece)
    sd3_parts = make_sd3(spiece)
    os.remove(spiece)
    write_safetensors(os.path.join(OUT, "flux-schnell-bfl.safetensors"), to_bfl(schnell["transformer"].state_dict(), "model.diffusion_model."), "F32")
    write_safetensors(os.path.join(OUT, "sd3-sai.safetensors"), to_sai(sd3_parts["transformer"].state_dict(), 2), "F32")
    export_folder(os.path.join(OUT, "tiny-flux-dev"), os.path.join(OUT, "tiny-flux-dev-onnx"), "ORTFluxPipeline", dev,
                  [("text_encoder", "clip"), ("text_encoder_2", "t5"), ("transformer", "flux"), ("vae_decoder", "vae")])
    export_folder(os.path.join(OUT, "tiny-sd3"), os.path.join(OUT, "tiny-sd3-onnx"), "ORTStableDiffusion3Pipeline", sd3_parts,
                  [("text_encoder", "clip"), ("text_encoder_2", "clip"), ("text_encoder_3", "t5"), ("transformer", "sd3"), ("vae_decoder", "vae")])

    prompt = "a photo of an astronaut riding a horse on mars"
    flux("flux-schnell", "tiny-flux-schnell", schnell, prompt, steps=4, seed=42, height=64, width=64)
    flux("flux-schnell-wide", "tiny-flux-schnell", schnell, "a red fox in the snow, oil painting", steps=2, seed=7, height=48,
         width=80, images=2, max_sequence_length=24)
    flux("flux-dev", "tiny-flux-dev", dev, prompt, steps=5, seed=3, height=64, width=48, guidance=3.5)
    flux("flux-dev-guidance", "tiny-flux-dev", dev, "a lighthouse at dusk", steps=3, seed=11, height=32, width=32, images=2,
         guidance=6.0, max_sequence_length=16)
    sd3("sd3", sd3_parts, prompt, "blurry, low quality", steps=4, seed=5, height=64, width=64)
    sd3("sd3-batch", sd3_parts, "a watercolor of a city street", None, steps=3, seed=9, height=48, width=64, images=2,
        guidance=4.5, max_sequence_length=16)
    sd3("sd3-unguided", sd3_parts, "a bowl of fruit", None, steps=2, seed=13, height=32, width=32, guidance=1.0)
    sd3("sd3-slg", sd3_parts, "a castle on a hill", "blurry", steps=6, seed=28, height=48, width=48, images=2, guidance=5.0,
        max_sequence_length=16, skip_layers=[0], slg_scale=2.8, slg_start=0.01, slg_stop=0.6)
    sd3("sd3-no-t5", sd3_parts, "a bowl of fruit", "dark", steps=2, seed=17, height=32, width=48, with_t5=False)
    flux("flux-dev-true-cfg", "tiny-flux-dev", dev, prompt, steps=3, seed=31, height=32, width=48, images=2, guidance=3.5,
         max_sequence_length=20, negative_prompt="blurry, low quality", true_cfg_scale=4.0)
    flux("flux-schnell-true-cfg", "tiny-flux-schnell", schnell, "a cat", steps=2, seed=32, height=32, width=32,
         max_sequence_length=12, negative_prompt="", true_cfg_scale=2.5)
    flux("flux-dev-lora", "tiny-flux-dev", flux_lora(dev, 0.8), prompt, steps=3, seed=33, height=32, width=32,
         max_sequence_length=16)
    flux_img2img("flux-dev-img2img", "tiny-flux-dev", dev, "an oil painting", steps=5, seed=21, height=64, width=48, strength=0.6)
    flux_img2img("flux-schnell-img2img", "tiny-flux-schnell", schnell, "a watercolor", steps=4, seed=22, height=32, width=32,
                 strength=0.9, images=2, max_sequence_length=16)
    sd3_img2img("sd3-img2img", sd3_parts, "an oil painting", "blurry", steps=4, seed=23, height=64, width=48, strength=0.6, images=2,
                max_sequence_length=16)
    flux_img2img("flux-dev-inpaint", "tiny-flux-dev", dev, "a red door", steps=5, seed=24, height=64, width=48, strength=0.8, images=2,
                 max_sequence_length=16, inpaint=True)
    flux_img2img("flux-schnell-inpaint", "tiny-flux-schnell", schnell, "a blue window", steps=4, seed=25, height=48, width=64,
                 strength=1.0, max_sequence_length=16, inpaint=True)
    sd3_img2img("sd3-inpaint", sd3_parts, "a green tree", "blurry", steps=4, seed=26, height=48, width=64, strength=1.0,
                max_sequence_length=16, inpaint=True)
    sd3_img2img("sd3-inpaint-strength", sd3_parts, "a stone wall", None, steps=5, seed=27, height=64, width=48, strength=0.7, images=2,
                max_sequence_length=16, inpaint=True)


if __name__ == "__main__":
    main()
