#!/usr/bin/python3
"""Tiny SD 1.x, SD 2.x and SDXL pipelines, each as the same torch modules in up to three forms: a single-file
checkpoint in the original LDM / SGM layout (written by diffusers' own conversion functions,
scripts/convert_diffusers_to_original_stable_diffusion.py and convert_diffusers_to_original_sdxl.py), a diffusers folder
of safetensors (or only the configs a single file needs beside it), and an ONNX folder made by torch.onnx.export of
diffusers' classes (tiny_pipeline_exports.py), which the library's built graphs must equal.

Usage:
  /usr/bin/python3 generate_tiny_pipelines.py <diffusers src> <diffusers-reference tools> [out]

  diffusers src   a diffusers checkout's src/ (checked with commit 58eb52c); its scripts/ folder sits beside it
  out             default tests/Diffusion.Core.Tests/TestData/graphs

The UNets and VAEs have the real block structure the conversion scripts hard-code (SD 1.x/2.x: 4 levels of 2 ResNets,
attention on the first 3; SDXL: 3 levels, attention on the last 2; VAE: 4 levels of 2 ResNets) at tiny widths.
Writes, per family (sd1, sd2, xl for SDXL), plus sd1-adapters/ (a kohya LoRA on sd1's text encoder and UNet, an A1111
embedding) and xl-adapters/cat-toy.safetensors (an SDXL embedding: clip_l and clip_g):
  <family>.safetensors  the single file (model.diffusion_model.*, first_stage_model.*, cond_stage_model.* or
                        conditioner.embedders.*), float16 for sd1 and sd2 (all weights rounded to float16 before the
                        export too), float32 for xl; sd2's OpenCLIP holds one layer more than is used (as SD 2.x's 24 of
                        which diffusers keeps 23); xl's __metadata__ says modelspec.prediction_type epsilon
  <family>-safetensors/ the diffusers folder of the same weights, float32 (it also serves as the single file's
                        config folder)
  sd2-config/           model_index.json, scheduler/, tokenizer/, unet/ and vae/ config.json, no weights and no text
                        encoder config: that comes from the file's shapes (and the SD 2.x rule of one layer fewer)
  <family>-onnx/        the same modules exported (optimum's layout), for the pipeline comparison
  vae-ldm.safetensors   sd1's VAE alone with other weights, under LDM names without prefix (a separate VAE file)
  vae-ldm-onnx/         that VAE exported (vae_decoder/, vae_encoder/)
"""
import json
import os
import sys

DIFFUSERS_SRC, REFERENCE_TOOLS = sys.argv[1:3]
HERE = os.path.dirname(os.path.abspath(__file__))
OUT = sys.argv[3] if len(sys.argv) > 3 else os.path.join(HERE, "..", "..", "..", "tests", "Diffusion.Core.Tests", "TestData", "graphs")
sys.argv = sys.argv[:1] + [DIFFUSERS_SRC, REFERENCE_TOOLS, OUT]
import tiny_pipeline_exports as pipelines  # noqa: E402  (imports stand_ins and diffusers)
sys.path.insert(0, os.path.join(DIFFUSERS_SRC, "..", "scripts"))
import torch  # noqa: E402
from diffusers.models.autoencoders.autoencoder_kl import AutoencoderKL  # noqa: E402
import convert_diffusers_to_original_stable_diffusion as sd_script  # noqa: E402
import convert_diffusers_to_original_sdxl as sdxl_script  # noqa: E402
from generate_clip_checkpoints import ClipText, write_safetensors  # noqa: E402
from generate_clip_checkpoints import randomise as randomise_clip  # noqa: E402
from generate_vae_checkpoints import randomise  # noqa: E402

VAE = dict(block_out_channels=(8, 8, 16, 16), layers_per_block=2, norm_num_groups=4, sample_size=64,
           down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4)
SD_UNET = dict(sample_size=8, block_out_channels=(8, 8, 16, 16), layers_per_block=2, norm_num_groups=4,
               down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
               up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3)


def clip(seed, width, layers, heads, activation, projection=None):
    torch.manual_seed(seed)
    model = ClipText(width, layers, heads, 2 * width, activation, projection, vocab=pipelines.VOCAB).eval()
    randomise_clip(model, seed)
    return model


def spec(model, activation, projection=None):
    t = model.text_model
    width = t.embeddings.token_embedding.weight.shape[1]
    return (width, len(t.encoder.layers), t.encoder.layers[0].self_attn.heads, t.encoder.layers[0].mlp.fc1.out_features, activation, projection)


def unet_and_vae(unet, vae):
    unet_sd = {"model.diffusion_model." + k: v for k, v in sd_script.convert_unet_state_dict(unet.state_dict()).items()}
    vae_sd = {"first_stage_model." + k: v for k, v in sd_script.convert_vae_state_dict(vae.state_dict()).items()}
    return unet_sd | vae_sd


def main():
    # SD 1.x: OpenAI CLIP (64 wide: one 64-wide head, as shapes infer it), 8 heads per UNet level, cross 64.
    te = clip(71, 64, 2, 1, "quick_gelu")
    unet, vae = pipelines.make_pair("sd1", [("text_encoder", "tokenizer", te, spec(te, "quick_gelu"))],
                                    SD_UNET | dict(cross_attention_dim=64, attention_head_dim=8), VAE, {"scaling_factor": 0.18215},
                                    "StableDiffusionPipeline", "OnnxStableDiffusionPipeline", 0, float16=True)
    text = {"cond_stage_model.transformer." + k: v for k, v in sd_script.convert_text_enc_state_dict(te.state_dict()).items()}
    write_safetensors(os.path.join(OUT, "sd1.safetensors"), unet_and_vae(unet, vae) | text, "F16")

    # SD 2.x: OpenCLIP (gelu) stored with one layer more than the pipeline uses; linear projections; heads per level.
    stored = clip(72, 64, 3, 1, "gelu")
    pipelines.round_to_float16(stored)
    used = clip(72, 64, 2, 1, "gelu")
    used.load_state_dict({k: v for k, v in stored.state_dict().items() if k in used.state_dict()})
    unet, vae = pipelines.make_pair("sd2", [("text_encoder", "tokenizer", used, spec(used, "gelu"))],
                                    SD_UNET | dict(cross_attention_dim=64, attention_head_dim=(2, 2, 4, 4), use_linear_projection=True),
                                    VAE, {"scaling_factor": 0.18215}, "StableDiffusionPipeline", "OnnxStableDiffusionPipeline", 0, weights=False,
                                    encoder_configs=False, float16=True)
    text = {"transformer." + k: v for k, v in stored.state_dict().items()}
    text = {"cond_stage_model.model." + k: v for k, v in sd_script.convert_text_enc_state_dict_v20(text).items()}
    write_safetensors(os.path.join(OUT, "sd2.safetensors"), unet_and_vae(unet, vae) | text, "F16")

    # SDXL: CLIP-L-like (32) + bigG-like (48, projection 32), their configs given (heads not 64 wide); the SDXL
    # script's UNet map (3 levels, attention on the last 2). Stored float32.
    te1, te2 = clip(73, 32, 2, 2, "quick_gelu"), clip(74, 48, 2, 2, "gelu", projection=32)
    unet, vae = pipelines.make_pair(
        "xl", [("text_encoder", "tokenizer", te1, spec(te1, "quick_gelu")), ("text_encoder_2", "tokenizer_2", te2, spec(te2, "gelu", 32))],
        dict(sample_size=8, block_out_channels=(8, 16, 16), layers_per_block=2, norm_num_groups=4, cross_attention_dim=80,
             down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
             up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"), attention_head_dim=(2, 2, 4),
             transformer_layers_per_block=(1, 1, 2), use_linear_projection=True, addition_embed_type="text_time",
             addition_time_embed_dim=8, projection_class_embeddings_input_dim=32 + 6 * 8),
        VAE, {"scaling_factor": 0.13025, "force_upcast": True}, "StableDiffusionXLPipeline", "ORTStableDiffusionXLPipeline", 32)
    state = {"model.diffusion_model." + k: v for k, v in sdxl_script.convert_unet_state_dict(unet.state_dict()).items()}
    state |= {"first_stage_model." + k: v for k, v in sdxl_script.convert_vae_state_dict(vae.state_dict()).items()}
    state |= {"conditioner.embedders.0.transformer." + k: v for k, v in sdxl_script.convert_openai_text_enc_state_dict(te1.state_dict()).items()}
    second = {"conditioner.embedders.1.model." + k: v for k, v in sdxl_script.convert_openclip_text_enc_state_dict(te2.state_dict()).items()}
    second["conditioner.embedders.1.model.text_projection"] = second.pop("conditioner.embedders.1.model.text_projection.weight").T.contiguous()
    write_safetensors(os.path.join(OUT, "xl.safetensors"), state | second, "F32", metadata={"modelspec.prediction_type": "epsilon"})
    # An SDXL textual-inversion embedding: clip_l for text_encoder, clip_g for text_encoder_2 (2 vectors each).
    g = torch.Generator().manual_seed(76)
    os.makedirs(os.path.join(OUT, "xl-adapters"), exist_ok=True)
    write_safetensors(os.path.join(OUT, "xl-adapters", "cat-toy.safetensors"),
                      {"clip_l": torch.randn(2, 32, generator=g) * 0.5, "clip_g": torch.randn(2, 48, generator=g) * 0.5}, "F32")

    # A separate VAE (other weights) under bare LDM names, and its export.
    separate = AutoencoderKL(**VAE).eval()
    randomise(separate, 75)
    write_safetensors(os.path.join(OUT, "vae-ldm.safetensors"), sd_script.convert_vae_state_dict(separate.state_dict()), "F32")
    for half, contract, arg, inp, out in (("vae_decoder", pipelines.VaeDecoderContract, torch.randn(1, 4, 8, 8), "latent_sample", "sample"),
                                          ("vae_encoder", pipelines.VaeEncoderContract, torch.randn(1, 3, 64, 64), "sample", "latent_parameters")):
        pipelines.export(contract(separate), (arg,), os.path.join(OUT, "vae-ldm-onnx", half, "model.onnx"), [inp], [out],
                         {inp: {0: "batch_size", 2: "height", 3: "width"}, out: {0: "batch_size", 2: "height_out", 3: "width_out"}})


if __name__ == "__main__":
    main()
