#!/usr/bin/env python3
"""Writes the clip-skip fixture: a tiny CLIP-like text encoder exported with per-layer hidden states, and the torch
reference for AUTOMATIC1111's clip skip 2 on one row of ids.

The model follows transformers' CLIPTextTransformer in shape (token + position embeddings, pre-LayerNorm layers with
causal self-attention and a quick-GELU MLP, a final LayerNorm, pooler = the hidden state at each row's highest id),
but is tiny: vocab 600, width 16, 3 layers, 4 heads, weights from torch.manual_seed(0), the final LayerNorm's scale
and bias random so that it is not the identity. Ids are taken modulo 600 inside the model, so CLIP's start/end ids
(49406/49407) from a real tokenizer are valid input too.

Outputs, like an Optimum export with output_hidden_states: last_hidden_state, pooler_output, hidden_states.0 (the
embeddings) .. hidden_states.3 (the last layer's output, before the final LayerNorm). Exported at opset 17, where
torch.onnx writes nn.LayerNorm as one LayerNormalization node.

Files (in the output folder):
  text-encoder-hidden-states.onnx
  text-encoder-hidden-states-opset16.onnx   the same model at opset 16, where torch.onnx decomposes every
                            LayerNorm into ReduceMean/Sub/Pow/Sqrt/Div/Mul/Add (clip skip must refuse it)
  clip_skip_ids.i32         int32 [1,77]  the input row
  clip_skip_last.f32        float32 [1,77,16]  torch last_hidden_state (= clip skip 1)
  clip_skip_2.f32           float32 [1,77,16]  torch final_layer_norm(hidden_states[-2]), as the web UI's
                            sd_hijack_clip.FrozenCLIPEmbedderWithCustomWords.encode_with_transformers does for
                            CLIP_stop_at_last_layers = 2

usage: /usr/bin/python3 make_clip_skip_text_encoder.py <output folder>
"""
import os
import sys

import numpy as np
import torch
from torch import nn

VOCAB, WIDTH, LAYERS, HEADS, POSITIONS = 600, 16, 3, 4, 77


class Layer(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer_norm1 = nn.LayerNorm(WIDTH)
        self.qkv = nn.Linear(WIDTH, 3 * WIDTH)
        self.out_proj = nn.Linear(WIDTH, WIDTH)
        self.layer_norm2 = nn.LayerNorm(WIDTH)
        self.fc1 = nn.Linear(WIDTH, 4 * WIDTH)
        self.fc2 = nn.Linear(4 * WIDTH, WIDTH)

    def forward(self, x, mask):
        b, s, _ = x.shape
        h = self.layer_norm1(x)
        q, k, v = self.qkv(h).reshape(b, s, 3, HEADS, WIDTH // HEADS).permute(2, 0, 3, 1, 4)
        attention = (q @ k.transpose(-1, -2)) / (WIDTH // HEADS) ** 0.5 + mask
        h = (attention.softmax(-1) @ v).transpose(1, 2).reshape(b, s, WIDTH)
        x = x + self.out_proj(h)
        h = self.fc1(self.layer_norm2(x))
        h = h * torch.sigmoid(1.702 * h)
        return x + self.fc2(h)


class TinyClipText(nn.Module):
    def __init__(self):
        super().__init__()
        self.token_embedding = nn.Embedding(VOCAB, WIDTH)
        self.position_embedding = nn.Embedding(POSITIONS, WIDTH)
        self.layers = nn.ModuleList([Layer() for _ in range(LAYERS)])
        self.final_layer_norm = nn.LayerNorm(WIDTH)
        with torch.no_grad():
            self.final_layer_norm.weight.copy_(1 + 0.5 * torch.randn(WIDTH))
            self.final_layer_norm.bias.copy_(0.3 * torch.randn(WIDTH))

    def forward(self, input_ids):
        ids = torch.remainder(input_ids, VOCAB)
        s = ids.shape[1]
        x = self.token_embedding(ids) + self.position_embedding.weight[:s]
        mask = torch.full((s, s), -1e9).triu(1)
        hidden_states = [x]
        for layer in self.layers:
            x = layer(x, mask)
            hidden_states.append(x)
        last = self.final_layer_norm(x)
        pooled = last[torch.arange(last.shape[0]), input_ids.argmax(-1)]
        return (last, pooled, *hidden_states)


def main():
    out = sys.argv[1]
    torch.manual_seed(0)
    model = TinyClipText().eval()
    ids = torch.tensor([[49406, 320, 1125, 539, 550, 599, 0, 12, 411, 49407] + [49407] * 67], dtype=torch.int64)
    names = ["last_hidden_state", "pooler_output"] + [f"hidden_states.{i}" for i in range(LAYERS + 1)]
    path = os.path.join(out, "text-encoder-hidden-states.onnx")
    torch.onnx.export(model, (ids,), path, input_names=["input_ids"], output_names=names,
                      dynamic_axes={"input_ids": {0: "batch", 1: "sequence"}}, opset_version=17)
    torch.onnx.export(model, (ids,), os.path.join(out, "text-encoder-hidden-states-opset16.onnx"), input_names=["input_ids"],
                      output_names=names, dynamic_axes={"input_ids": {0: "batch", 1: "sequence"}}, opset_version=16)
    with torch.no_grad():
        outputs = model(ids)
        last, hidden_states = outputs[0], outputs[2:]
        clip_skip_2 = model.final_layer_norm(hidden_states[-2])
    ids.numpy().astype("<i4").tofile(os.path.join(out, "clip_skip_ids.i32"))
    last.numpy().astype("<f4").tofile(os.path.join(out, "clip_skip_last.f32"))
    clip_skip_2.numpy().astype("<f4").tofile(os.path.join(out, "clip_skip_2.f32"))
    import onnx
    graph = onnx.load(path).graph
    producer = [n for n in graph.node if "last_hidden_state" in n.output][0]
    print("wrote", path, os.path.getsize(path), "bytes; last_hidden_state from", producer.op_type)
    print("torch", torch.__version__, "onnx", onnx.__version__)


if __name__ == "__main__":
    main()
