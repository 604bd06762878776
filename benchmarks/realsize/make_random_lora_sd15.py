#!/usr/bin/python3
"""A real-size kohya-style SD 1.5 LoRA with random factors (memory and load-time anchor only; the values mean nothing).

Covers what kohya-ss' sd-scripts train by default (networks/lora.py): every Linear and 1x1 Conv of the UNet's
Transformer2DModel blocks (proj_in/out, attn1/attn2 to_q/k/v/out.0, ff.net.0.proj, ff.net.2) and every Linear of the
CLIP text encoder's layers (self_attn q/k/v/out_proj, mlp fc1/fc2), at rank $LORA_RANK (default 32), alpha = rank / 2,
float16. The module list comes from the shapes of the SD 1.5 architecture, so no model is built.

Writes $REALSIZE_OUT (default /tmp/realsize)/lora_sd15_random.safetensors. Never commit the output.
Run: /usr/bin/python3 benchmarks/realsize/make_random_lora_sd15.py   (needs numpy only)
"""
import json, os, struct
import numpy as np

OUT = os.environ.get("REALSIZE_OUT", "/tmp/realsize")
RANK = int(os.environ.get("LORA_RANK", "32"))
rng = np.random.default_rng(1234)


def unet_modules():
    """(kohya module name, in features, out features, is 1x1 conv) for SD 1.5's transformer blocks."""
    channels = (320, 640, 1280)
    blocks = []
    for level, c in enumerate(channels):               # down_blocks 0-2: two attentions each
        blocks += [(f"down_blocks_{level}_attentions_{i}", c) for i in range(2)]
    blocks.append(("mid_block_attentions_0", 1280))
    for level, c in zip((1, 2, 3), (1280, 640, 320)):  # up_blocks 1-3: three attentions each
        blocks += [(f"up_blocks_{level}_attentions_{i}", c) for i in range(3)]
    for prefix, c in blocks:
        yield f"{prefix}_proj_in", c, c, False         # SD 1.5 (use_linear_projection false): 1x1 convs
        yield f"{prefix}_proj_out", c, c, False
        t = f"{prefix}_transformer_blocks_0"
        for attn, context in (("attn1", c), ("attn2", 768)):
            yield f"{t}_{attn}_to_q", c, c, True
            yield f"{t}_{attn}_to_k", context, c, True
            yield f"{t}_{attn}_to_v", context, c, True
            yield f"{t}_{attn}_to_out_0", c, c, True
        yield f"{t}_ff_net_0_proj", c, 8 * c, True     # GEGLU: 2 x 4c
        yield f"{t}_ff_net_2", 4 * c, c, True


def text_encoder_modules():
    for layer in range(12):
        p = f"text_model_encoder_layers_{layer}"
        for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
            yield f"{p}_self_attn_{proj}", 768, 768, True
        yield f"{p}_mlp_fc1", 768, 3072, True
        yield f"{p}_mlp_fc2", 3072, 768, True


def main():
    tensors = {}
    for prefix, modules in (("lora_unet_", unet_modules()), ("lora_te_", text_encoder_modules())):
        for name, fan_in, fan_out, linear in modules:
            kernel = () if linear else (1, 1)
            tensors[f"{prefix}{name}.lora_down.weight"] = (rng.standard_normal((RANK, fan_in) + kernel, dtype=np.float32) * 0.02).astype(np.float16)
            tensors[f"{prefix}{name}.lora_up.weight"] = (rng.standard_normal((fan_out, RANK) + kernel, dtype=np.float32) * 0.02).astype(np.float16)
            tensors[f"{prefix}{name}.alpha"] = np.array(RANK / 2, dtype=np.float16)
    header, offset = {}, 0
    for key in sorted(tensors):
        t = tensors[key]
        header[key] = {"dtype": "F16", "shape": list(t.shape), "data_offsets": [offset, offset + t.nbytes]}
        offset += t.nbytes
    header["__metadata__"] = {"ss_network_module": "networks.lora", "ss_network_dim": str(RANK), "ss_network_alpha": str(RANK / 2)}
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * ((8 - len(raw) % 8) % 8)
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, "lora_sd15_random.safetensors")
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for key in sorted(tensors):
            f.write(tensors[key].tobytes())
    modules = sum(1 for k in tensors if k.endswith(".alpha"))
    print(f"{path}: {modules} modules, rank {RANK}, {os.path.getsize(path) / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
