#!/usr/bin/python3
"""Reference fixtures for Diffusion.Core's LoRA / textual-inversion / weight-reading tests.

Builds two tiny torch models that use the real module names of diffusers' UNet2DConditionModel and
transformers' CLIPTextModel (to_q/to_k/to_v/to_out.0, proj_in/proj_out 1x1 convs, conv_in/conv_out 3x3
convs, time_embedding.linear_1 exported as Gemm, ff.net.0.proj / ff.net.2, q_proj/k_proj/v_proj/out_proj,
mlp.fc1/fc2, token_embedding), exports them with torch.onnx (opset 17), writes LoRA files in the kohya and
the diffusers/PEFT key styles, merges them in torch (W' = W + multiplier * alpha / rank * up @ down) and
records the merged models' outputs. Also an external-data copy and a float16 copy of the UNet, and a
textual-inversion embedding.

Usage: generate_lora_fixtures.py <output dir> [<tiny-sd unet model.onnx>]
Output: small .onnx / .safetensors / raw little-endian float32 (.f32) and int32 (.i32) files; see README.md next to
this script.

The safetensors writer is our own (the format is an 8-byte little-endian header length, a JSON header and
the raw data): no safetensors package needed.
"""
import json
import math
import os
import struct
import sys

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
from onnx import numpy_helper, TensorProto

OUT = sys.argv[1]
TINY_SD_UNET = sys.argv[2] if len(sys.argv) > 2 else None
os.makedirs(OUT, exist_ok=True)
torch.manual_seed(1234)
rng = np.random.default_rng(1234)

C = 8          # UNet channels
CTX = 16       # cross-attention (text) width
VOCAB = 1000   # text encoder vocabulary
WIDTH = 16     # text encoder width
SEQ = 6


# ---------------------------------------------------------------- models (diffusers / CLIP names)
class Attention(nn.Module):
    def __init__(self, dim, ctx_dim):
        super().__init__()
        self.to_q = nn.Linear(dim, dim, bias=False)
        self.to_k = nn.Linear(ctx_dim, dim, bias=False)
        self.to_v = nn.Linear(ctx_dim, dim, bias=False)
        self.to_out = nn.ModuleList([nn.Linear(dim, dim), nn.Dropout(0.0)])

    def forward(self, x, ctx=None):
        ctx = x if ctx is None else ctx
        q, k, v = self.to_q(x), self.to_k(ctx), self.to_v(ctx)
        w = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]), dim=-1)
        return self.to_out[0](w @ v)


class GeluProj(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.proj = nn.Linear(dim, hidden)

    def forward(self, x):
        return F.gelu(self.proj(x))


class FeedForward(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.net = nn.ModuleList([GeluProj(dim, 2 * dim), nn.Dropout(0.0), nn.Linear(2 * dim, dim)])

    def forward(self, x):
        for m in self.net:
            x = m(x)
        return x


class TransformerBlock(nn.Module):
    def __init__(self, dim, ctx_dim):
        super().__init__()
        self.attn1 = Attention(dim, dim)
        self.attn2 = Attention(dim, ctx_dim)
        self.ff = FeedForward(dim)

    def forward(self, x, ctx):
        x = self.attn1(x) + x
        x = self.attn2(x, ctx) + x
        return self.ff(x) + x


class Transformer2D(nn.Module):
    def __init__(self, ch, ctx_dim):
        super().__init__()
        self.proj_in = nn.Conv2d(ch, ch, 1)
        self.transformer_blocks = nn.ModuleList([TransformerBlock(ch, ctx_dim)])
        self.proj_out = nn.Conv2d(ch, ch, 1)

    def forward(self, h, ctx):
        b, c, hh, ww = h.shape
        x = self.proj_in(h).permute(0, 2, 3, 1).reshape(b, hh * ww, c)
        for blk in self.transformer_blocks:
            x = blk(x, ctx)
        x = x.reshape(b, hh, ww, c).permute(0, 3, 1, 2)
        return self.proj_out(x) + h


class DownBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.attentions = nn.ModuleList([Transformer2D(C, CTX)])

    def forward(self, h, ctx):
        for a in self.attentions:
            h = a(h, ctx)
        return h


class TimeEmbedding(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear_1 = nn.Linear(8, C)

    def forward(self, t):
        return self.linear_1(t)


class TinyUNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv_in = nn.Conv2d(4, C, 3, padding=1)
        self.time_embedding = TimeEmbedding()
        self.down_blocks = nn.ModuleList([DownBlock()])
        self.conv_out = nn.Conv2d(C, 4, 3, padding=1)

    def forward(self, sample, temb, encoder_hidden_states):
        # modules are called through their parents, as in diffusers: the exporter's node names are the
        # call-scope paths (/down_blocks.0/attentions.0/...), so they equal the module paths only then.
        h = self.conv_in(sample) + self.time_embedding(temb)[:, :, None, None]
        for block in self.down_blocks:
            h = block(h, encoder_hidden_states)
        return self.conv_out(F.silu(h))


class ClipAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.q_proj = nn.Linear(WIDTH, WIDTH)
        self.k_proj = nn.Linear(WIDTH, WIDTH)
        self.v_proj = nn.Linear(WIDTH, WIDTH)
        self.out_proj = nn.Linear(WIDTH, WIDTH)

    def forward(self, x):
        q, k, v = self.q_proj(x), self.k_proj(x), self.v_proj(x)
        w = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(WIDTH), dim=-1)
        return self.out_proj(w @ v)


class ClipMlp(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(WIDTH, 2 * WIDTH)
        self.fc2 = nn.Linear(2 * WIDTH, WIDTH)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class ClipLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer_norm1 = nn.LayerNorm(WIDTH)
        self.self_attn = ClipAttention()
        self.layer_norm2 = nn.LayerNorm(WIDTH)
        self.mlp = ClipMlp()

    def forward(self, x):
        x = x + self.self_attn(self.layer_norm1(x))
        return x + self.mlp(self.layer_norm2(x))


class ClipEmbeddings(nn.Module):
    def __init__(self):
        super().__init__()
        self.token_embedding = nn.Embedding(VOCAB, WIDTH)
        self.position_embedding = nn.Embedding(SEQ, WIDTH)

    def forward(self, input_ids):
        return self.token_embedding(input_ids.long()) + self.position_embedding.weight[None]


class ClipEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList([ClipLayer()])

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


class ClipTextTransformer(nn.Module):
    def __init__(self):
        super().__init__()
        self.embeddings = ClipEmbeddings()
        self.encoder = ClipEncoder()
        self.final_layer_norm = nn.LayerNorm(WIDTH)

    def forward(self, input_ids):
        return self.final_layer_norm(self.encoder(self.embeddings(input_ids)))


class TinyTextEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.text_model = ClipTextTransformer()

    def forward(self, input_ids):
        return self.text_model(input_ids)


# ---------------------------------------------------------------- helpers
def write_safetensors(path, tensors, metadata=None):
    """tensors: list of (name, np.ndarray) with dtype float32 / float16, or (name, ('BF16', uint16 array))."""
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name, arr in tensors:
        if isinstance(arr, tuple):
            dtype, data = arr
            shape = list(data.shape)
            raw = data.astype("<u2").tobytes()
        else:
            dtype = {np.dtype("float32"): "F32", np.dtype("float16"): "F16"}[arr.dtype]
            shape = list(arr.shape)
            raw = arr.astype(arr.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def to_bf16(a):
    """float32 -> bfloat16 bits (round to nearest even), and the float32 value those bits mean."""
    bits = a.astype(np.float32).view(np.uint32)
    rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)
    return rounded, (rounded.astype(np.uint32) << 16).view(np.float32)


def save_f32(name, t):
    np.ascontiguousarray(t.detach().numpy() if torch.is_tensor(t) else t, dtype="<f4").tofile(os.path.join(OUT, name))


def module(root, path):
    m = root
    for part in path.split("."):
        m = m[int(part)] if part.isdigit() else getattr(m, part)
    return m


def make_lora(model, paths, rank, seed, dtype=np.float16):
    """Random LoRA factors for each module path: {path: (down [r, in(, kh, kw)], up [out, r(, 1, 1)])} as float32
    arrays holding exactly the values stored in the file (after the dtype round trip)."""
    g = np.random.default_rng(seed)
    out = {}
    for p in paths:
        m = module(model, p)
        if isinstance(m, nn.Conv2d):
            down = g.normal(0, 0.3, (rank, m.in_channels) + tuple(m.kernel_size))
            up = g.normal(0, 0.3, (m.out_channels, rank, 1, 1))
        else:
            down = g.normal(0, 0.3, (rank, m.in_features))
            up = g.normal(0, 0.3, (m.out_features, rank))
        out[p] = (down.astype(dtype).astype(np.float32), up.astype(dtype).astype(np.float32))
    return out


def merge(model, lora, scale):
    """W += scale * up @ down, computed in float32 like kohya's / diffusers' fuse."""
    with torch.no_grad():
        for p, (down, up) in lora.items():
            m = module(model, p)
            d = torch.from_numpy(down).reshape(down.shape[0], -1)
            u = torch.from_numpy(up).reshape(up.shape[0], -1)
            m.weight += (scale * (u @ d)).reshape(m.weight.shape)


def kohya_tensors(prefix, lora, alpha, dtype=np.float16):
    t = []
    for p, (down, up) in lora.items():
        key = prefix + p.replace(".", "_")
        t.append((key + ".lora_down.weight", down.astype(dtype)))
        t.append((key + ".lora_up.weight", up.astype(dtype)))
        t.append((key + ".alpha", np.array(alpha, dtype=dtype)))
    return t


def peft_tensors(prefix, lora):
    t = []
    for p, (down, up) in lora.items():
        t.append((prefix + p + ".lora_A.weight", down.astype(np.float32)))
        t.append((prefix + p + ".lora_B.weight", up.astype(np.float32)))
    return t


def export(model, args, names, outputs, path, dynamic=None):
    torch.onnx.export(model, args, path, input_names=names, output_names=outputs, opset_version=17,
                      do_constant_folding=True, dynamic_axes=dynamic)


# ---------------------------------------------------------------- UNet
unet = TinyUNet().eval()
sample = torch.randn(1, 4, 6, 6)
temb = torch.randn(1, 8)
ehs = torch.randn(1, 5, CTX)
export(unet, (sample, temb, ehs), ["sample", "temb", "encoder_hidden_states"], ["out_sample"],
       os.path.join(OUT, "unet.onnx"))
save_f32("unet_sample.f32", sample)
save_f32("unet_temb.f32", temb)
save_f32("unet_ehs.f32", ehs)
base_state = {k: v.clone() for k, v in unet.state_dict().items()}
with torch.no_grad():
    save_f32("unet_base_out.f32", unet(sample, temb, ehs))

blk = "down_blocks.0.attentions.0.transformer_blocks.0."
linear_paths = [blk + n for n in ("attn1.to_q", "attn1.to_k", "attn1.to_v", "attn1.to_out.0",
                                  "attn2.to_q", "attn2.to_k", "attn2.to_v", "attn2.to_out.0",
                                  "ff.net.0.proj", "ff.net.2")]
conv_paths = ["down_blocks.0.attentions.0.proj_in", "down_blocks.0.attentions.0.proj_out", "conv_in", "conv_out"]
gemm_paths = ["time_embedding.linear_1"]

# kohya style (fp16 factors, alpha 2, rank 4) on linears, Gemm, 1x1 and 3x3 convs (LoCon)
kohya = make_lora(unet, linear_paths + gemm_paths + conv_paths, rank=4, seed=1)
write_safetensors(os.path.join(OUT, "unet_kohya.safetensors"), kohya_tensors("lora_unet_", kohya, 2.0),
                  {"ss_network_module": "networks.lora", "ss_network_dim": "4", "ss_network_alpha": "2.0"})
KOHYA_MULT = 0.8
merge(unet, kohya, KOHYA_MULT * 2.0 / 4)
with torch.no_grad():
    save_f32("unet_kohya_0.8_out.f32", unet(sample, temb, ehs))

# diffusers / PEFT style (fp32 factors, no alpha: scale 1, rank 2) on linears + proj_in
unet.load_state_dict(base_state)
peft = make_lora(unet, linear_paths + ["down_blocks.0.attentions.0.proj_in"], rank=2, seed=2, dtype=np.float32)
write_safetensors(os.path.join(OUT, "unet_peft.safetensors"), peft_tensors("unet.", peft))
merge(unet, peft, 1.0)
with torch.no_grad():
    save_f32("unet_peft_1.0_out.f32", unet(sample, temb, ehs))

# both together: kohya at 0.8 plus peft at -0.5 compose additively
unet.load_state_dict(base_state)
merge(unet, kohya, KOHYA_MULT * 2.0 / 4)
merge(unet, peft, -0.5)
with torch.no_grad():
    save_f32("unet_kohya_0.8_peft_-0.5_out.f32", unet(sample, temb, ehs))

# convolutions only (proj_in 1x1, conv_in 3x3): proves Conv overrides are not silently ignored
unet.load_state_dict(base_state)
conv_only = {p: kohya[p] for p in ["down_blocks.0.attentions.0.proj_in", "conv_in"]}
write_safetensors(os.path.join(OUT, "unet_conv_only.safetensors"), kohya_tensors("lora_unet_", conv_only, 4.0))
merge(unet, conv_only, 1.0 * 4.0 / 4)
with torch.no_grad():
    save_f32("unet_conv_only_1.0_out.f32", unet(sample, temb, ehs))

# the kohya LoRA plus keys that match nothing in this UNet (reported, not dropped)
extra = kohya_tensors("lora_unet_", {"mid_block.attentions.0.transformer_blocks.0.attn1.to_q": kohya[blk + "attn1.to_q"],
                                     "up_blocks.1.attentions.2.proj_out": kohya["down_blocks.0.attentions.0.proj_out"]}, 2.0)
write_safetensors(os.path.join(OUT, "unet_kohya_with_unmatched.safetensors"), kohya_tensors("lora_unet_", kohya, 2.0) + extra)

# a LoRA for another architecture (SD-XL-like module names only)
other = {"down_blocks.2.attentions.1.transformer_blocks.9.attn1.to_q": kohya[blk + "attn1.to_q"],
         "down_blocks.2.attentions.1.transformer_blocks.9.attn2.to_k": kohya[blk + "attn2.to_k"]}
write_safetensors(os.path.join(OUT, "unet_other_arch.safetensors"), kohya_tensors("lora_unet_", other, 4.0))

# right module names, wrong shapes (rank-4 factors of a 12-wide layer for the 8-wide to_q)
g = np.random.default_rng(3)
write_safetensors(os.path.join(OUT, "unet_wrong_shape.safetensors"), [
    ("lora_unet_" + (blk + "attn1.to_q").replace(".", "_") + ".lora_down.weight", g.normal(size=(4, 12)).astype(np.float32)),
    ("lora_unet_" + (blk + "attn1.to_q").replace(".", "_") + ".lora_up.weight", g.normal(size=(12, 4)).astype(np.float32)),
])

# external-data copy of the base UNet (all initializers in weights.pb, like diffusers' convert script)
ext_dir = os.path.join(OUT, "unet_external")
os.makedirs(ext_dir, exist_ok=True)
m = onnx.load(os.path.join(OUT, "unet.onnx"))
onnx.save_model(m, os.path.join(ext_dir, "model.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
                location="weights.pb", size_threshold=0)

# float16 copy: every float tensor (initializers, inputs, outputs, constants, casts) becomes float16
m = onnx.load(os.path.join(OUT, "unet.onnx"))
for init in m.graph.initializer:
    if init.data_type == TensorProto.FLOAT:
        init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float16), init.name))
for vi in list(m.graph.input) + list(m.graph.output):
    if vi.type.tensor_type.elem_type == TensorProto.FLOAT:
        vi.type.tensor_type.elem_type = TensorProto.FLOAT16
del m.graph.value_info[:]
for node in m.graph.node:
    for a in node.attribute:
        if a.name == "value" and a.t.data_type == TensorProto.FLOAT:
            a.t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(a.t).astype(np.float16), a.t.name))
        if node.op_type == "Cast" and a.name == "to" and a.i == TensorProto.FLOAT:
            a.i = TensorProto.FLOAT16
onnx.checker.check_model(m)
onnx.save_model(m, os.path.join(OUT, "unet_fp16.onnx"))

# ---------------------------------------------------------------- text encoder
te = TinyTextEncoder().eval()
ids = torch.tensor([[0, 17, 250, 999, 3, 1]], dtype=torch.int32)
export(te, (ids,), ["input_ids"], ["last_hidden_state"], os.path.join(OUT, "text_encoder.onnx"))
ids.numpy().astype("<i4").tofile(os.path.join(OUT, "te_ids.i32"))
te_state = {k: v.clone() for k, v in te.state_dict().items()}
with torch.no_grad():
    save_f32("te_base_out.f32", te(ids))

te_paths = ["text_model.encoder.layers.0." + n for n in ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                                                         "self_attn.out_proj", "mlp.fc1", "mlp.fc2")]
te_lora = make_lora(te, te_paths, rank=4, seed=4)
unet_part = kohya_tensors("lora_unet_", {p: kohya[p] for p in linear_paths[:2]}, 2.0)
# kohya text-encoder LoRA; bf16 alpha/factors for q_proj exercise the BF16 reader
tensors = kohya_tensors("lora_te_", te_lora, 1.0)
q_key = "lora_te_text_model_encoder_layers_0_self_attn_q_proj"
bf_down, te_lora_q_down = to_bf16(te_lora[te_paths[0]][0])
bf_up, te_lora_q_up = to_bf16(te_lora[te_paths[0]][1])
te_lora[te_paths[0]] = (te_lora_q_down, te_lora_q_up)
tensors = [(k, ("BF16", bf_down) if k == q_key + ".lora_down.weight" else ("BF16", bf_up) if k == q_key + ".lora_up.weight" else v)
           for k, v in tensors]
write_safetensors(os.path.join(OUT, "te_kohya.safetensors"), tensors + unet_part)
merge(te, te_lora, 1.0 * 1.0 / 4)
with torch.no_grad():
    save_f32("te_kohya_1.0_out.f32", te(ids))

# textual inversion: two vectors appended as ids VOCAB and VOCAB + 1 (A1111 emb_params layout)
te.load_state_dict(te_state)
emb = rng.normal(0, 1, (2, WIDTH)).astype(np.float32)
write_safetensors(os.path.join(OUT, "ti_two_vectors.safetensors"), [("emb_params", emb)], {"name": "mytoken"})
save_f32("ti_two_vectors.f32", emb)
with torch.no_grad():
    big = nn.Embedding(VOCAB + 2, WIDTH)
    big.weight[:VOCAB] = te.text_model.embeddings.token_embedding.weight
    big.weight[VOCAB:] = torch.from_numpy(emb)
    te.text_model.embeddings.token_embedding = big
    ti_ids = torch.tensor([[0, VOCAB, VOCAB + 1, 999, 3, 1]], dtype=torch.int32)
    ti_ids.numpy().astype("<i4").tofile(os.path.join(OUT, "te_ti_ids.i32"))
    save_f32("te_ti_out.f32", te(ti_ids))
# diffusers layout: a single key naming the token
write_safetensors(os.path.join(OUT, "ti_diffusers.safetensors"), [("<cat-toy>", emb[:1].reshape(WIDTH))])

# ---------------------------------------------------------------- a LoRA for tiny-sd's UNet (timing, smoke test)
if TINY_SD_UNET:
    g = onnx.load(TINY_SD_UNET).graph
    inits = {i.name: i for i in g.initializer}
    tensors = []
    r = np.random.default_rng(5)
    for n in g.node:
        if n.op_type not in ("MatMul", "Gemm", "Conv") or len(n.input) < 2 or n.input[1] not in inits:
            continue
        w = inits[n.input[1]]
        path = ".".join(n.name.strip("/").split("/")[:-1])
        if n.op_type == "MatMul":
            fin, fout, k = w.dims[0], w.dims[1], ()
        else:
            fout, fin, k = w.dims[0], w.dims[1], tuple(w.dims[2:])
        key = "lora_unet_" + path.replace(".", "_")
        tensors.append((key + ".lora_down.weight", r.normal(0, 0.1, (4, fin) + k).astype(np.float16)))
        tensors.append((key + ".lora_up.weight", r.normal(0, 0.1, (fout, 4) + ((1, 1) if k else ())).astype(np.float16)))
        tensors.append((key + ".alpha", np.array(4.0, dtype=np.float16)))
    write_safetensors(os.path.join(OUT, "tinysd_unet_kohya.safetensors"), tensors)

print("fixtures written to", OUT)
