#!/usr/bin/python3
"""Tiny T5 encoder checkpoints in transformers' safetensors layout, and the outputs of a torch T5 encoder for them.

Usage:
  /usr/bin/python3 generate_t5_checkpoints.py [out]      (out: tests/Diffusion.Core.Tests/TestData/graphs)

Writes (config.json as transformers writes T5Config, model.safetensors with transformers' T5EncoderModel names, e.g.
encoder.block.0.layer.0.SelfAttention.q.weight, shared.weight):
  t5/          a T5 v1.1-style encoder (gated-gelu with gelu_new, RMS norm, 32 buckets up to distance 128), float32
  t5-bf16/     the same weights stored bfloat16, as FLUX.1's and SD3's T5 checkpoints are (references: the rounded weights)
  t5-relu/     an original-T5-style encoder (relu feed-forward), 16 buckets up to distance 20, with its embedding stored
               as encoder.embed_tokens.weight instead of shared.weight
  reference/   t5.ids.i64 (2 rows of 40: a prompt's ids from TestData/t5-tokenizer/spiece.model then </s> and <pad>s,
               and random ids), <folder>.t5.f32 = last_hidden_state [2, 40, 32] (little-endian float32), and
               t5.buckets.json: transformers' _relative_position_bucket for relative positions -300..300 for the
               (num_buckets, max_distance) pairs (32, 128), (16, 20), (8, 7).

The torch model is written here (transformers is not installed): transformers' T5 encoder math — T5LayerNorm (RMS in
float32, no mean subtraction, no bias), unscaled attention scores plus the relative position bias computed by layer 0
and shared by every layer, no attention mask (diffusers' FLUX and SD3 pipelines pass none), gated-gelu feed-forward
(NewGELUActivation) or relu. Deterministic: fixed seeds.
"""
import json
import math
import os
import sys

import numpy as np
import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from generate_clip_checkpoints import write_safetensors, save  # noqa: E402  (the fixture writers, shared)

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "..", "..", "tests", "Diffusion.Core.Tests", "TestData", "graphs")
VOCAB, SEQUENCE = 1000, 40


def relative_position_bucket(relative_position, num_buckets, max_distance):
    """transformers' T5Attention._relative_position_bucket, bidirectional (the encoder)."""
    relative_buckets = 0
    num_buckets //= 2
    relative_buckets += (relative_position > 0).to(torch.long) * num_buckets
    relative_position = torch.abs(relative_position)
    max_exact = num_buckets // 2
    is_small = relative_position < max_exact
    relative_position_if_large = max_exact + (
        torch.log(relative_position.float() / max_exact) / math.log(max_distance / max_exact) * (num_buckets - max_exact)
    ).to(torch.long)
    relative_position_if_large = torch.min(relative_position_if_large, torch.full_like(relative_position_if_large, num_buckets - 1))
    relative_buckets += torch.where(is_small, relative_position, relative_position_if_large)
    return relative_buckets


class RmsNorm(nn.Module):
    def __init__(self, width, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(width))
        self.eps = eps

    def forward(self, x):
        variance = x.to(torch.float32).pow(2).mean(-1, keepdim=True)
        return self.weight * (x * torch.rsqrt(variance + self.eps))


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


class Attention(nn.Module):
    def __init__(self, c, has_bias):
        super().__init__()
        inner = c["num_heads"] * c["d_kv"]
        self.heads, self.d_kv = c["num_heads"], c["d_kv"]
        self.buckets, self.max_distance = c["relative_attention_num_buckets"], c["relative_attention_max_distance"]
        self.q, self.k, self.v = (nn.Linear(c["d_model"], inner, bias=False) for _ in range(3))
        self.o = nn.Linear(inner, c["d_model"], bias=False)
        if has_bias:
            self.relative_attention_bias = nn.Embedding(self.buckets, self.heads)

    def compute_bias(self, length):
        context = torch.arange(length, dtype=torch.long)[:, None]
        memory = torch.arange(length, dtype=torch.long)[None, :]
        buckets = relative_position_bucket(memory - context, self.buckets, self.max_distance)
        return self.relative_attention_bias(buckets).permute([2, 0, 1]).unsqueeze(0)

    def forward(self, h, bias):
        b, s, _ = h.shape
        q, k, v = (p(h).view(b, s, self.heads, self.d_kv).transpose(1, 2) for p in (self.q, self.k, self.v))
        scores = torch.matmul(q, k.transpose(3, 2)) + bias  # T5 does not scale the scores
        weights = nn.functional.softmax(scores.float(), dim=-1).type_as(scores)
        return self.o(torch.matmul(weights, v).transpose(1, 2).reshape(b, s, -1))


class FeedForward(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.gated = c["feed_forward_proj"] == "gated-gelu"
        if self.gated:
            self.wi_0 = nn.Linear(c["d_model"], c["d_ff"], bias=False)
            self.wi_1 = nn.Linear(c["d_model"], c["d_ff"], bias=False)
        else:
            self.wi = nn.Linear(c["d_model"], c["d_ff"], bias=False)
        self.wo = nn.Linear(c["d_ff"], c["d_model"], bias=False)

    def forward(self, h):
        if self.gated:
            return self.wo(gelu_new(self.wi_0(h)) * self.wi_1(h))
        return self.wo(torch.relu(self.wi(h)))


class AttentionLayer(nn.Module):
    def __init__(self, c, has_bias):
        super().__init__()
        self.SelfAttention = Attention(c, has_bias)
        self.layer_norm = RmsNorm(c["d_model"], c["layer_norm_epsilon"])


class FeedForwardLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.DenseReluDense = FeedForward(c)
        self.layer_norm = RmsNorm(c["d_model"], c["layer_norm_epsilon"])


class Block(nn.Module):
    def __init__(self, c, has_bias):
        super().__init__()
        self.layer = nn.ModuleList([AttentionLayer(c, has_bias), FeedForwardLayer(c)])

    def forward(self, h, bias):
        h = h + self.layer[0].SelfAttention(self.layer[0].layer_norm(h), bias)
        return h + self.layer[1].DenseReluDense(self.layer[1].layer_norm(h))


class Stack(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.block = nn.ModuleList([Block(c, i == 0) for i in range(c["num_layers"])])
        self.final_layer_norm = RmsNorm(c["d_model"], c["layer_norm_epsilon"])


class T5Encoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.shared = nn.Embedding(c["vocab_size"], c["d_model"])
        self.encoder = Stack(c)

    def forward(self, ids):
        h = self.shared(ids)
        bias = self.encoder.block[0].layer[0].SelfAttention.compute_bias(ids.shape[1])
        for block in self.encoder.block:
            h = block(h, bias)
        return self.encoder.final_layer_norm(h)


def config_json(d_model, d_kv, d_ff, layers, heads, buckets, max_distance, ff):
    return {
        "architectures": ["T5EncoderModel"], "classifier_dropout": 0.0, "d_ff": d_ff, "d_kv": d_kv, "d_model": d_model,
        "decoder_start_token_id": 0, "dense_act_fn": "gelu_new" if ff == "gated-gelu" else "relu", "dropout_rate": 0.1,
        "eos_token_id": 1, "feed_forward_proj": ff, "initializer_factor": 1.0, "is_encoder_decoder": True,
        "is_gated_act": ff == "gated-gelu", "layer_norm_epsilon": 1e-06, "model_type": "t5", "num_decoder_layers": layers,
        "num_heads": heads, "num_layers": layers, "output_past": True, "pad_token_id": 0,
        "relative_attention_max_distance": max_distance, "relative_attention_num_buckets": buckets,
        "tie_word_embeddings": False, "torch_dtype": "float32", "transformers_version": "4.43.3", "use_cache": True,
        "vocab_size": VOCAB,
    }


def randomise(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=g)
            if name.endswith("layer_norm.weight"):
                p.copy_(1 + 0.2 * noise)
            elif name == "shared.weight":
                p.copy_(noise)
            elif "relative_attention_bias" in name:
                p.copy_(0.5 * noise)
            else:
                p.copy_(noise / math.sqrt(p.shape[-1]))


def ids():
    import sentencepiece as spm
    sp = spm.SentencePieceProcessor(model_file=os.path.join(OUT, "..", "t5-tokenizer", "spiece.model"))
    prompt = sp.encode("a photo of an astronaut riding a horse on Mars, highly detailed")[: SEQUENCE - 1] + [1]
    row0 = prompt + [0] * (SEQUENCE - len(prompt))
    g = torch.Generator().manual_seed(5)
    row1 = torch.randint(3, VOCAB, (SEQUENCE,), generator=g).tolist()
    return torch.tensor([row0, row1], dtype=torch.int64)


def main():
    os.makedirs(os.path.join(OUT, "reference"), exist_ok=True)
    input_ids = ids()
    input_ids.numpy().astype("<i8").tofile(os.path.join(OUT, "reference", "t5.ids.i64"))
    specs = [
        # folder, seed, d_model, d_kv, d_ff, layers, heads, buckets, max_distance, feed-forward, stored dtypes, embedding name
        ("t5", 21, 32, 8, 48, 3, 4, 32, 128, "gated-gelu", ["F32", "BF16"], "shared.weight"),
        ("t5-relu", 22, 32, 16, 40, 2, 2, 16, 20, "relu", ["F32"], "encoder.embed_tokens.weight"),
    ]
    for folder, seed, d_model, d_kv, d_ff, layers, heads, buckets, max_distance, ff, dtypes, embedding in specs:
        c = config_json(d_model, d_kv, d_ff, layers, heads, buckets, max_distance, ff)
        torch.manual_seed(seed)
        model = T5Encoder(c).eval()
        randomise(model, seed)
        state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        stored = {(embedding if k == "shared.weight" else k): v for k, v in state.items()}
        for dtype in dtypes:
            name = folder if dtype == "F32" else f"{folder}-{dtype.lower()}"
            target = os.path.join(OUT, name)
            os.makedirs(target, exist_ok=True)
            write_safetensors(os.path.join(target, "model.safetensors"), stored, dtype)
            with open(os.path.join(target, "config.json"), "w") as f:
                json.dump(c, f, indent=2)
            rounded = {k: (v.bfloat16().float() if dtype == "BF16" else v) for k, v in state.items()}
            model.load_state_dict(rounded)
            with torch.no_grad():
                save(os.path.join(OUT, "reference", name + ".t5.f32"), model(input_ids))
            model.load_state_dict(state)
    tables = {}
    positions = torch.arange(-300, 301, dtype=torch.long)
    for buckets, max_distance in [(32, 128), (16, 20), (8, 7)]:
        tables[f"{buckets},{max_distance}"] = relative_position_bucket(positions, buckets, max_distance).tolist()
    with open(os.path.join(OUT, "reference", "t5.buckets.json"), "w") as f:
        json.dump({"relative_positions": [-300, 300], "tables": tables}, f)


if __name__ == "__main__":
    main()
