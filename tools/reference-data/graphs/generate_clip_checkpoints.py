#!/usr/bin/python3
"""Tiny CLIP text-encoder checkpoints in transformers' safetensors layout, and the outputs of a torch CLIP for them.

Usage:
  /usr/bin/python3 generate_clip_checkpoints.py [out]      (out: tests/Diffusion.Core.Tests/TestData/graphs)

Writes, per checkpoint folder (config.json as transformers writes CLIPTextConfig, model.safetensors with transformers'
tensor names, e.g. text_model.encoder.layers.0.self_attn.q_proj.weight):
  clip-l/          CLIPTextModel like OpenAI ViT-L/14 (quick_gelu), float32
  clip-l-f16/      the same weights stored float16 (the references are those of the float16-rounded weights in float32)
  clip-l-bf16/     the same weights stored bfloat16 (likewise)
  clip-l-sharded/  the clip-l weights in two shards with model.safetensors.index.json (the clip-l references apply)
  clip-g/          CLIPTextModelWithProjection like OpenCLIP ViT-bigG/14 (gelu, text_projection), float32
  reference/       for ids.i32 (2 rows of 77: SD's end-token padding and SDXL's "!" padding), little-endian float32:
                   <folder>.last.f32 [2,77,W], <folder>.pooled.f32 [2,W] (text_embeds [2,P] for clip-g),
                   <folder>.hidden<i>.f32 (hidden_states.i, the embeddings and each layer's output),
                   <folder>.skip2.f32 (clip skip 2: the final LayerNorm applied to the penultimate layer's output)

The torch model is written here (transformers is not installed): transformers' CLIPTextTransformer math for these
configs (pre-LayerNorm encoder layers, causal mask filled with float32's lowest value, queries scaled by 1/sqrt(head)
before q.k^T, pooled state at each row's highest token id as transformers picks it when eos_token_id is 2, as SD's
configs have). Deterministic: fixed seeds, no downloads.
"""
import json
import math
import os
import sys

import numpy as np
import torch
from torch import nn

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "tests", "Diffusion.Core.Tests", "TestData", "graphs")
VOCAB, POSITIONS = 1000, 77
BOS, EOS = 998, 999  # the two highest ids, as CLIP's 49406/49407


class Attention(nn.Module):
    def __init__(self, width, heads):
        super().__init__()
        self.heads = heads
        self.scale = (width // heads) ** -0.5  # a Python float, as transformers' CLIPAttention.scale
        self.q_proj, self.k_proj, self.v_proj, self.out_proj = (nn.Linear(width, width) for _ in range(4))

    def forward(self, h, mask):
        b, s, w = h.shape
        d = w // self.heads
        q = (self.q_proj(h) * self.scale).view(b, s, self.heads, d).transpose(1, 2)
        k, v = (p(h).view(b, s, self.heads, d).transpose(1, 2) for p in (self.k_proj, self.v_proj))
        scores = q @ k.transpose(-1, -2) + mask
        return self.out_proj((scores.softmax(-1) @ v).transpose(1, 2).reshape(b, s, w))


class Mlp(nn.Module):
    def __init__(self, width, intermediate, activation):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(width, intermediate), nn.Linear(intermediate, width)
        self.activation = activation

    def forward(self, x):
        h = self.fc1(x)
        h = h * torch.sigmoid(1.702 * h) if self.activation == "quick_gelu" else nn.functional.gelu(h)
        return self.fc2(h)


class Layer(nn.Module):
    def __init__(self, width, heads, intermediate, activation):
        super().__init__()
        self.self_attn = Attention(width, heads)
        self.layer_norm1 = nn.LayerNorm(width)
        self.mlp = Mlp(width, intermediate, activation)
        self.layer_norm2 = nn.LayerNorm(width)

    def forward(self, x, mask):
        x = x + self.self_attn(self.layer_norm1(x), mask)
        return x + self.mlp(self.layer_norm2(x))


class Embeddings(nn.Module):
    def __init__(self, width, vocab):
        super().__init__()
        self.token_embedding = nn.Embedding(vocab, width)
        self.position_embedding = nn.Embedding(POSITIONS, width)

    def forward(self, ids):
        return self.token_embedding(ids) + self.position_embedding(torch.arange(ids.shape[1]).unsqueeze(0))


class Encoder(nn.Module):
    def __init__(self, width, layers, heads, intermediate, activation):
        super().__init__()
        self.layers = nn.ModuleList(Layer(width, heads, intermediate, activation) for _ in range(layers))

    def forward(self, x, mask):
        hidden = [x]
        for layer in self.layers:
            x = layer(x, mask)
            hidden.append(x)
        return hidden


class TextTransformer(nn.Module):
    def __init__(self, width, layers, heads, intermediate, activation, vocab):
        super().__init__()
        self.embeddings = Embeddings(width, vocab)
        self.encoder = Encoder(width, layers, heads, intermediate, activation)
        self.final_layer_norm = nn.LayerNorm(width)

    def forward(self, ids):
        s = ids.shape[1]
        mask = torch.full((s, s), torch.finfo(torch.float32).min).triu(1)
        hidden = self.encoder(self.embeddings(ids), mask)
        last = self.final_layer_norm(hidden[-1])
        return last, last[torch.arange(ids.shape[0]), ids.argmax(-1)], hidden


class ClipText(nn.Module):
    def __init__(self, width, layers, heads, intermediate, activation, projection=None, vocab=VOCAB):
        super().__init__()
        self.text_model = TextTransformer(width, layers, heads, intermediate, activation, vocab)
        self.text_projection = nn.Linear(width, projection, bias=False) if projection else None

    def forward(self, ids):
        last, pooled, hidden = self.text_model(ids)
        return last, (self.text_projection(pooled) if self.text_projection is not None else pooled), hidden


def randomise(model, seed):
    """Weights far from the init values (LayerNorm scales around 1, biases non-zero), so every tensor matters."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=g)
            if name.endswith("layer_norm1.weight") or name.endswith("layer_norm2.weight") or name.endswith("final_layer_norm.weight"):
                p.copy_(1 + 0.2 * noise)
            elif "embedding" in name:
                p.copy_(0.5 * noise)
            else:
                p.copy_(noise / math.sqrt(p.shape[-1]))


def write_safetensors(path, tensors, dtype, metadata=None):
    """The safetensors format: 8-byte little-endian header length, JSON header (padded with spaces), raw data."""
    header, blobs, offset = {"__metadata__": {"format": "pt"} | (metadata or {})}, [], 0
    for name, t in tensors.items():
        t = t.contiguous()
        if dtype == "F32":
            raw = t.float().numpy().astype("<f4").tobytes()
        elif dtype == "F16":
            raw = t.half().numpy().astype("<f2").tobytes()
        else:  # BF16: the top 16 bits of the rounded float32
            raw = t.bfloat16().view(torch.int16).numpy().astype("<i2").tobytes()
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(len(h).to_bytes(8, "little") + h + b"".join(blobs))


def write_sharded(target, state, config):
    """transformers' sharded layout: model-0000i-of-00002.safetensors and model.safetensors.index.json's weight_map."""
    os.makedirs(target, exist_ok=True)
    names = list(state)
    shards = [names[: len(names) // 2], names[len(names) // 2:]]
    weight_map = {}
    for i, shard in enumerate(shards):
        file = f"model-{i + 1:05d}-of-00002.safetensors"
        write_safetensors(os.path.join(target, file), {n: state[n] for n in shard}, "F32")
        weight_map |= {n: file for n in shard}
    with open(os.path.join(target, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": sum(v.numel() * 4 for v in state.values())}, "weight_map": weight_map}, f, indent=2)
    with open(os.path.join(target, "config.json"), "w") as f:
        json.dump(config, f, indent=2)


def config_json(name, width, layers, heads, intermediate, activation, projection, vocab=VOCAB):
    config = {
        "_name_or_path": name,
        "architectures": ["CLIPTextModelWithProjection" if projection else "CLIPTextModel"],
        "attention_dropout": 0.0, "bos_token_id": 0, "dropout": 0.0, "eos_token_id": 2, "hidden_act": activation,
        "hidden_size": width, "initializer_factor": 1.0, "initializer_range": 0.02, "intermediate_size": intermediate,
        "layer_norm_eps": 1e-05, "max_position_embeddings": POSITIONS, "model_type": "clip_text_model",
        "num_attention_heads": heads, "num_hidden_layers": layers, "pad_token_id": 1, "torch_dtype": "float32",
        "transformers_version": "4.36.2", "vocab_size": vocab,
    }
    if projection:
        config["projection_dim"] = projection
    return config


def save(path, tensor):
    np.ascontiguousarray(tensor.detach().numpy().astype("<f4")).tofile(path)


def ids():
    # Row 0: BOS, 5 tokens, EOS padding (SD 1.x); row 1: BOS, 9 tokens, EOS, then 0 ("!") padding (SDXL's tokenizer_2).
    rows = [[BOS, 17, 400, 3, 951, 62, EOS] + [EOS] * 70, [BOS, 5, 8, 300, 12, 44, 700, 2, 90, 16, EOS] + [0] * 66]
    return torch.tensor(rows, dtype=torch.int64)


def main():
    os.makedirs(os.path.join(OUT, "reference"), exist_ok=True)
    input_ids = ids()
    input_ids.numpy().astype("<i4").tofile(os.path.join(OUT, "reference", "ids.i32"))
    specs = [
        # folder, seed, width, layers, heads, intermediate, activation, projection, stored dtypes
        ("clip-l", 11, 32, 3, 4, 48, "quick_gelu", None, ["F32", "F16", "BF16"]),
        ("clip-g", 12, 40, 2, 5, 56, "gelu", 24, ["F32"]),
    ]
    for folder, seed, width, layers, heads, intermediate, activation, projection, dtypes in specs:
        torch.manual_seed(seed)
        model = ClipText(width, layers, heads, intermediate, activation, projection).eval()
        randomise(model, seed)
        state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        for dtype in dtypes:
            name = folder if dtype == "F32" else f"{folder}-{dtype.lower()}"
            target = os.path.join(OUT, name)
            os.makedirs(target, exist_ok=True)
            write_safetensors(os.path.join(target, "model.safetensors"), state, dtype)
            with open(os.path.join(target, "config.json"), "w") as f:
                json.dump(config_json(name, width, layers, heads, intermediate, activation, projection), f, indent=2)
            # The reference runs in float32 on the weights as stored (rounded to float16/bfloat16 for those folders).
            rounded = {k: (v.half().float() if dtype == "F16" else v.bfloat16().float() if dtype == "BF16" else v) for k, v in state.items()}
            model.load_state_dict(rounded)
            with torch.no_grad():
                last, pooled, hidden = model(input_ids)
            prefix = os.path.join(OUT, "reference", name)
            save(prefix + ".last.f32", last)
            save(prefix + ".pooled.f32", pooled)
            for i, h in enumerate(hidden):
                save(prefix + f".hidden{i}.f32", h)
            save(prefix + ".skip2.f32", model.text_model.final_layer_norm(hidden[-2]))
            model.load_state_dict(state)
        if folder == "clip-l":
            write_sharded(os.path.join(OUT, "clip-l-sharded"), state, config_json(folder, width, layers, heads, intermediate, activation, projection))


if __name__ == "__main__":
    main()
