#!/usr/bin/python3
"""Export helpers for the tiny pipelines (see generate_tiny_pipelines.py, which writes them): the same torch modules as
a diffusers folder of safetensors (or only its configs) and as an ONNX folder exported by torch.onnx.export (diffusers'
own UNet2DConditionModel and AutoencoderKL; the CLIP text encoders are generate_clip_checkpoints.py's torch CLIP).
Exports are made on the modules themselves (their class swapped for the contract's forward), so node names are
optimum's (/text_model/…, /down_blocks.N/…). The tokenizers are the tiny ones of TestData/sdxl/tiny-sdxl (2,515 ids).
"""
import json
import os
import shutil
import sys

DIFFUSERS_SRC, REFERENCE_TOOLS = sys.argv[1:3]
HERE = os.path.dirname(os.path.abspath(__file__))
TEST_DATA = os.path.join(HERE, "..", "..", "..", "tests", "Diffusion.Core.Tests", "TestData")
OUT = sys.argv[3] if len(sys.argv) > 3 else os.path.join(TEST_DATA, "graphs")
sys.path.insert(0, REFERENCE_TOOLS)
import stand_ins  # noqa: E402,F401  (before diffusers)
sys.path.insert(0, DIFFUSERS_SRC)
sys.path.insert(0, HERE)
import torch  # noqa: E402
from torch import nn  # noqa: E402
from diffusers.models.unets.unet_2d_condition import UNet2DConditionModel  # noqa: E402
from diffusers.models.autoencoders.autoencoder_kl import AutoencoderKL  # noqa: E402
from generate_clip_checkpoints import ClipText, config_json, write_safetensors  # noqa: E402
from generate_clip_checkpoints import randomise as randomise_clip  # noqa: E402
from generate_vae_checkpoints import randomise  # noqa: E402

VOCAB = 2515
TOKENIZERS = os.path.join(TEST_DATA, "sdxl", "tiny-sdxl")
SCHEDULER = {
    "_class_name": "EulerDiscreteScheduler", "_diffusers_version": "0.36.0", "beta_end": 0.012, "beta_schedule": "scaled_linear",
    "beta_start": 0.00085, "clip_sample": False, "interpolation_type": "linear", "num_train_timesteps": 1000,
    "prediction_type": "epsilon", "sample_max_value": 1.0, "set_alpha_to_one": False, "skip_prk_steps": True, "steps_offset": 1,
    "timestep_spacing": "leading", "trained_betas": None, "use_karras_sigmas": False,
}


class TextEncoderContract(ClipText):
    """optimum's outputs (last_hidden_state, pooler_output, or text_embeds first; hidden_states.0..N) on the model
    itself, so node names start at /text_model/… as optimum's do (LoRA keys resolve the same way)."""

    def forward(self, input_ids):
        last, pooled, hidden = super().forward(input_ids.long())
        first = (pooled, last) if self.text_projection is not None else (last, pooled)
        return (*first, *hidden)


class UNetContract(UNet2DConditionModel):
    """optimum's UNet contract on the UNet itself, so node names start at /down_blocks.N (as optimum's do)."""

    def forward(self, sample, timestep, encoder_hidden_states, text_embeds=None, time_ids=None):
        added = None if text_embeds is None else {"text_embeds": text_embeds, "time_ids": time_ids}
        return super().forward(sample, timestep, encoder_hidden_states=encoder_hidden_states, added_cond_kwargs=added).sample


def as_contract(model, contract):
    """The same module and weights, with the contract's forward (the class swapped, as for export)."""
    model.__class__ = contract
    return model


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
        return self.vae.quant_conv(self.vae.encoder(sample))


def diffusers_config(model, class_name, extra=None):
    config = {k: (list(v) if isinstance(v, tuple) else v) for k, v in dict(model.config).items() if not k.startswith("_")}
    return {"_class_name": class_name, "_diffusers_version": "0.36.0"} | config | (extra or {})


def dump(path, value):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(value, f, indent=2)


def export(module, args, path, inputs, outputs, axes):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    torch.onnx.export(module.eval(), args, path, input_names=inputs, output_names=outputs, opset_version=17,
                      do_constant_folding=True, dynamic_axes=axes)


def round_to_float16(*modules):
    """Rounds every weight to float16 precision (kept float32), so a float16 file and a float32 export hold equal values."""
    with torch.no_grad():
        for module in modules:
            for p in module.parameters():
                p.copy_(p.half().float())


def make_pair(name, encoders, unet_kwargs, vae_kwargs, vae_extra, index_class, onnx_class, pooled, weights=True,
              encoder_configs=True, float16=False):
    """Writes <name>-safetensors/ (with weights) or, with weights=False, <name>-config/ (configs, tokenizers, scheduler
    only: what a single-file checkpoint needs beside it; text encoder configs only with encoder_configs), and
    <name>-onnx/. float16 rounds every weight to float16 first. Returns the UNet and VAE modules."""
    st_dir = os.path.join(OUT, f"{name}-safetensors" if weights else f"{name}-config")
    onnx_dir = os.path.join(OUT, f"{name}-onnx")
    dtype = "F32"  # the folder stays float32 (weights rounded when float16): LoRA merges then match the export exactly
    write = (lambda path, state, _: write_safetensors(path, state, dtype)) if weights else (lambda *args: None)
    for d in (st_dir, onnx_dir):
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(os.path.join(d, "scheduler"))
        dump(os.path.join(d, "scheduler", "scheduler_config.json"), SCHEDULER)
    st_index = {"_class_name": index_class, "_diffusers_version": "0.36.0", "scheduler": ["diffusers", "EulerDiscreteScheduler"]}
    onnx_index = {"_class_name": onnx_class, "_diffusers_version": "0.36.0", "scheduler": ["diffusers", "EulerDiscreteScheduler"]}
    ids = torch.tensor([[2513] + [2514] * 76], dtype=torch.int32)
    for component, tokenizer, model, spec in encoders:
        for d in (st_dir, onnx_dir):
            shutil.copytree(os.path.join(TOKENIZERS, tokenizer), os.path.join(d, tokenizer))
        if float16:
            round_to_float16(model)
        os.makedirs(os.path.join(st_dir, component))
        write(os.path.join(st_dir, component, "model.safetensors"), model.state_dict(), "F32")
        if encoder_configs:  # else a single file's text encoder config comes from its shapes (docs/single-file.md)
            dump(os.path.join(st_dir, component, "config.json"), config_json(component, *spec, vocab=VOCAB))
        layers = len(model.text_model.encoder.layers)
        names = (["text_embeds", "last_hidden_state"] if model.text_projection is not None else ["last_hidden_state", "pooler_output"])
        names += [f"hidden_states.{i}" for i in range(layers + 1)]
        axes = {"input_ids": {0: "batch_size", 1: "sequence_length"}}
        axes |= {n: ({0: "batch_size"} if n in ("text_embeds", "pooler_output") else {0: "batch_size", 1: "sequence_length"}) for n in names}
        export(as_contract(model, TextEncoderContract), (ids,), os.path.join(onnx_dir, component, "model.onnx"), ["input_ids"], names, axes)
        model.__class__ = ClipText
        st_index[component] = ["transformers", "CLIPTextModelWithProjection" if model.text_projection is not None else "CLIPTextModel"]
        st_index[tokenizer] = onnx_index[tokenizer] = ["transformers", "CLIPTokenizer"]
        onnx_index[component] = ["optimum", "ORTModel"]

    unet = UNet2DConditionModel(**unet_kwargs).eval()
    randomise(unet, 7)
    if float16:
        round_to_float16(unet)
    os.makedirs(os.path.join(st_dir, "unet"))
    write(os.path.join(st_dir, "unet", "diffusion_pytorch_model.safetensors"), unet.state_dict(), "F32")
    dump(os.path.join(st_dir, "unet", "config.json"), diffusers_config(unet, "UNet2DConditionModel"))
    dump(os.path.join(onnx_dir, "unet", "config.json"), diffusers_config(unet, "UNet2DConditionModel"))
    cross = unet_kwargs["cross_attention_dim"]
    args = [torch.randn(2, 4, 8, 8), torch.tensor([999.0]), torch.randn(2, 77, cross)]
    inputs = ["sample", "timestep", "encoder_hidden_states"]
    axes = {"sample": {0: "batch_size", 2: "height", 3: "width"}, "encoder_hidden_states": {0: "batch_size", 1: "sequence_length"},
            "out_sample": {0: "batch_size", 2: "height", 3: "width"}}
    if pooled:
        args += [torch.randn(2, pooled), torch.randn(2, 6)]
        inputs += ["text_embeds", "time_ids"]
        axes |= {"text_embeds": {0: "batch_size"}, "time_ids": {0: "batch_size"}}
    export(as_contract(unet, UNetContract), tuple(args), os.path.join(onnx_dir, "unet", "model.onnx"), inputs, ["out_sample"], axes)
    unet.__class__ = UNet2DConditionModel
    if name == "sd1":
        write_adapters(os.path.join(OUT, "sd1-adapters"), encoders[0][2], unet)
    st_index["unet"], onnx_index["unet"] = ["diffusers", "UNet2DConditionModel"], ["optimum", "ORTModel"]

    vae = AutoencoderKL(**vae_kwargs).eval()
    randomise(vae, 8)
    if float16:
        round_to_float16(vae)
    os.makedirs(os.path.join(st_dir, "vae"))
    write(os.path.join(st_dir, "vae", "diffusion_pytorch_model.safetensors"), vae.state_dict(), "F32")
    dump(os.path.join(st_dir, "vae", "config.json"), diffusers_config(vae, "AutoencoderKL", vae_extra))
    for half, contract, arg, inp, out in (("vae_decoder", VaeDecoderContract, torch.randn(1, 4, 8, 8), "latent_sample", "sample"),
                                          ("vae_encoder", VaeEncoderContract, torch.randn(1, 3, 64, 64), "sample", "latent_parameters")):
        export(contract(vae), (arg,), os.path.join(onnx_dir, half, "model.onnx"), [inp], [out],
               {inp: {0: "batch_size", 2: "height", 3: "width"}, out: {0: "batch_size", 2: "height_out", 3: "width_out"}})
        dump(os.path.join(onnx_dir, half, "config.json"), diffusers_config(vae, "AutoencoderKL", vae_extra))
        onnx_index[half] = ["optimum", "ORTModel"]
    st_index["vae"] = ["diffusers", "AutoencoderKL"]
    if pooled:
        st_index["force_zeros_for_empty_prompt"] = onnx_index["force_zeros_for_empty_prompt"] = True
    dump(os.path.join(st_dir, "model_index.json"), st_index)
    dump(os.path.join(onnx_dir, "model_index.json"), onnx_index)
    return unet, vae


def write_adapters(folder, text_encoder, unet):
    """A kohya LoRA on both components' linear layers (rank 2, alpha 1) and an A1111 textual-inversion embedding."""
    import numpy as np
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    g = torch.Generator().manual_seed(61)
    lora = {}
    for model, prefix, path in ((text_encoder, "lora_te_", "text_model.encoder.layers.0.self_attn.q_proj"),
                                (text_encoder, "lora_te_", "text_model.encoder.layers.1.mlp.fc1"),
                                (unet, "lora_unet_", "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q"),
                                (unet, "lora_unet_", "down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k"),
                                (unet, "lora_unet_", "up_blocks.1.attentions.0.transformer_blocks.0.ff.net.2")):
        layer = model.get_submodule(path)
        key = prefix + path.replace(".", "_")
        lora[key + ".lora_down.weight"] = torch.randn(2, layer.in_features, generator=g) * 0.5
        lora[key + ".lora_up.weight"] = torch.randn(layer.out_features, 2, generator=g) * 0.5
        lora[key + ".alpha"] = torch.tensor(1.0)
    write_safetensors(os.path.join(folder, "lora.safetensors"), lora, "F32")
    width = text_encoder.text_model.embeddings.token_embedding.weight.shape[1]
    write_safetensors(os.path.join(folder, "cat-toy.safetensors"), {"emb_params": torch.randn(2, width, generator=g) * 0.5}, "F32")


def clip(seed, spec, projection=None):
    width, layers, heads, intermediate, activation = spec[:5]
    torch.manual_seed(seed)
    model = ClipText(width, layers, heads, intermediate, activation, projection, vocab=VOCAB).eval()
    randomise_clip(model, seed)
    return model


if __name__ == "__main__":
    sys.exit("This module holds the export helpers; run generate_tiny_pipelines.py, which writes every tiny pipeline.")
