"""Writes a tiny 9-channel "inpainting UNet" for the pipeline tests: contracts, not quality.

Inputs and output follow diffusers' ONNX inpainting export (and tiny-sd's UNet):
  sample                float32 [batch, 9, height, width]  (latents 4 | mask 1 | masked-image latents 4)
  timestep              float32 [batch]
  encoder_hidden_states float32 [batch, sequence, 32]
  out_sample            float32 [batch, 4, height, width]

out_sample = Conv1x1(sample; W[4,9]) + mean(encoder_hidden_states over sequence and width)[b]
             + timestep[b] / 1000, so every input, and each of the 9 channels, reaches the output.
Also writes nan_unet_4ch.onnx next to it: the same contract with 4 input channels whose out_sample is
sample * NaN, so the pipeline's NaN detection can be tested against a real model.
Usage: /usr/bin/python3 make_inpaint_unet.py <output.onnx>
"""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def main(path):
    rng = np.random.RandomState(2024)
    weight = (rng.standard_normal((4, 9, 1, 1)) * 0.3).astype(np.float32)
    # Keep the latent channels dominant so the "denoising" stays bounded.
    for c in range(4):
        weight[c, c, 0, 0] = 0.5
    inputs = [
        helper.make_tensor_value_info("sample", TensorProto.FLOAT, ["batch", 9, "height", "width"]),
        helper.make_tensor_value_info("timestep", TensorProto.FLOAT, ["batch"]),
        helper.make_tensor_value_info("encoder_hidden_states", TensorProto.FLOAT, ["batch", "sequence", 32]),
    ]
    outputs = [helper.make_tensor_value_info("out_sample", TensorProto.FLOAT, ["batch", 4, "height", "width"])]
    initializers = [
        numpy_helper.from_array(weight, "conv.weight"),
        numpy_helper.from_array(np.array([-1, 1, 1, 1], dtype=np.int64), "shape_b111"),
        numpy_helper.from_array(np.array(1000.0, dtype=np.float32), "thousand"),
    ]
    nodes = [
        helper.make_node("Conv", ["sample", "conv.weight"], ["mixed"]),
        helper.make_node("ReduceMean", ["encoder_hidden_states"], ["text_mean"], axes=[1, 2], keepdims=0),
        helper.make_node("Reshape", ["text_mean", "shape_b111"], ["text_b111"]),
        helper.make_node("Div", ["timestep", "thousand"], ["time_scaled"]),
        helper.make_node("Reshape", ["time_scaled", "shape_b111"], ["time_b111"]),
        helper.make_node("Add", ["mixed", "text_b111"], ["with_text"]),
        helper.make_node("Add", ["with_text", "time_b111"], ["out_sample"]),
    ]
    graph = helper.make_graph(nodes, "tiny_inpaint_unet", inputs, outputs, initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="diffusion-core-tests")
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)


def nan_unet(path):
    inputs = [
        helper.make_tensor_value_info("sample", TensorProto.FLOAT, ["batch", 4, "height", "width"]),
        helper.make_tensor_value_info("timestep", TensorProto.FLOAT, ["batch"]),
        helper.make_tensor_value_info("encoder_hidden_states", TensorProto.FLOAT, ["batch", "sequence", 32]),
    ]
    outputs = [helper.make_tensor_value_info("out_sample", TensorProto.FLOAT, ["batch", 4, "height", "width"])]
    initializers = [numpy_helper.from_array(np.array(np.nan, dtype=np.float32), "nan")]
    nodes = [helper.make_node("Mul", ["sample", "nan"], ["out_sample"])]
    graph = helper.make_graph(nodes, "nan_unet", inputs, outputs, initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="diffusion-core-tests")
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)


if __name__ == "__main__":
    import os
    main(sys.argv[1])
    nan_unet(os.path.join(os.path.dirname(sys.argv[1]), "nan_unet_4ch.onnx"))
