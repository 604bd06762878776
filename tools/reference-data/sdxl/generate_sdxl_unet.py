#!/usr/bin/python3
"""A tiny SDXL-contract UNet fixture: diffusers' own UNet2DConditionModel with addition_embed_type="text_time" (the
SDXL conditioning: pooled text embeddings + six time ids), exported with torch.onnx to optimum's SDXL UNet contract
(inputs sample, timestep, encoder_hidden_states, text_embeds, time_ids; output out_sample), plus one reference
forward pass of the torch module for fixed inputs.

Usage: /usr/bin/python3 generate_sdxl_unet.py <diffusers src folder> <diffusers-reference folder> [output folder]
(diffusers 58eb52c run through ../shared/tools/diffusers-reference's stand-ins on Debian's torch 1.13.)

Writes to the output folder (default tests/Diffusion.Core.Tests/TestData/sdxl): unet/model.onnx and
reference/{sample,timestep,encoder_hidden_states,text_embeds,time_ids,out_sample}.f32 (little-endian float32, the
shapes in reference/shapes.json).
"""
import json
import os
import sys

DIFFUSERS_SRC = sys.argv[1]
REFERENCE_TOOLS = sys.argv[2]
OUT = sys.argv[3] if len(sys.argv) > 3 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "tests", "Diffusion.Core.Tests", "TestData", "sdxl")
sys.path.insert(0, REFERENCE_TOOLS)
import stand_ins  # noqa: E402,F401  (before diffusers)
sys.path.insert(0, DIFFUSERS_SRC)
import numpy as np  # noqa: E402
import torch  # noqa: E402
from diffusers.models.unets.unet_2d_condition import UNet2DConditionModel  # noqa: E402

TEXT_WIDTH = 32       # encoder_hidden_states width (SDXL: 768 + 1280 = 2048)
POOLED_WIDTH = 24     # text_embeds width (SDXL: 1280)
TIME_EMBED_DIM = 8    # addition_time_embed_dim (SDXL: 256)

torch.manual_seed(20261204)
unet = UNet2DConditionModel(
    sample_size=8, in_channels=4, out_channels=4, layers_per_block=1,
    block_out_channels=(16, 32), down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
    up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=TEXT_WIDTH,
    attention_head_dim=(2, 4), norm_num_groups=8, transformer_layers_per_block=(1, 1),
    addition_embed_type="text_time", addition_time_embed_dim=TIME_EMBED_DIM,
    projection_class_embeddings_input_dim=POOLED_WIDTH + 6 * TIME_EMBED_DIM, use_linear_projection=True,
).eval()
# Random init leaves some layers at zero (diffusers zero-initialises output convolutions): perturb every weight so
# the whole graph, the text_time path included, affects the output.
with torch.no_grad():
    for p in unet.parameters():
        p.add_(torch.randn_like(p) * 0.05)


class Contract(torch.nn.Module):
    """optimum's SDXL UNet contract: positional inputs by name, one output."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, sample, timestep, encoder_hidden_states, text_embeds, time_ids):
        return self.model(sample, timestep, encoder_hidden_states=encoder_hidden_states,
                          added_cond_kwargs={"text_embeds": text_embeds, "time_ids": time_ids}).sample


g = torch.Generator().manual_seed(7)
inputs = {
    "sample": torch.randn(2, 4, 8, 8, generator=g),
    "timestep": torch.tensor([631.0, 631.0]),
    "encoder_hidden_states": torch.randn(2, 7, TEXT_WIDTH, generator=g),
    "text_embeds": torch.randn(2, POOLED_WIDTH, generator=g),
    "time_ids": torch.tensor([[64.0, 64.0, 0.0, 0.0, 64.0, 64.0], [96.0, 80.0, 8.0, 16.0, 64.0, 64.0]]),
}
model = Contract(unet).eval()
with torch.no_grad():
    out = model(*inputs.values())

os.makedirs(os.path.join(OUT, "unet"), exist_ok=True)
os.makedirs(os.path.join(OUT, "reference"), exist_ok=True)
torch.onnx.export(
    model, tuple(inputs.values()), os.path.join(OUT, "unet", "model.onnx"),
    input_names=list(inputs), output_names=["out_sample"], opset_version=17, do_constant_folding=True,
    dynamic_axes={"sample": {0: "batch", 2: "height", 3: "width"}, "timestep": {0: "batch"},
                  "encoder_hidden_states": {0: "batch", 1: "sequence"}, "text_embeds": {0: "batch"},
                  "time_ids": {0: "batch"}, "out_sample": {0: "batch", 2: "height", 3: "width"}})
shapes = {}
for name, tensor in list(inputs.items()) + [("out_sample", out)]:
    tensor.detach().numpy().astype("<f4").tofile(os.path.join(OUT, "reference", name + ".f32"))
    shapes[name] = list(tensor.shape)
with open(os.path.join(OUT, "reference", "shapes.json"), "w") as f:
    json.dump(shapes, f, indent=1)
print("parameters", sum(p.numel() for p in unet.parameters()), "mean |out|", float(out.abs().mean()))

# A UNet-shaped graph that declares time_ids but not text_embeds (out_sample = sample): an SDXL export with a missing
# input, which the loader must refuse naming text_embeds.
import onnx  # noqa: E402
from onnx import TensorProto, helper  # noqa: E402

graph = helper.make_graph(
    [helper.make_node("Identity", ["sample"], ["out_sample"])], "unet_missing_text_embeds",
    [helper.make_tensor_value_info("sample", TensorProto.FLOAT, ["batch", 4, "height", "width"]),
     helper.make_tensor_value_info("timestep", TensorProto.FLOAT, ["batch"]),
     helper.make_tensor_value_info("encoder_hidden_states", TensorProto.FLOAT, ["batch", "sequence", TEXT_WIDTH]),
     helper.make_tensor_value_info("time_ids", TensorProto.FLOAT, ["batch", 6])],
    [helper.make_tensor_value_info("out_sample", TensorProto.FLOAT, ["batch", 4, "height", "width"])])
os.makedirs(os.path.join(OUT, "unet-missing-text-embeds"), exist_ok=True)
onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]),
          os.path.join(OUT, "unet-missing-text-embeds", "model.onnx"))
