#!/usr/bin/python3
"""Writes the tiny ONNX models the model-wrapper tests use to check contract discovery and errors.

Usage: /usr/bin/python3 tools/reference-data/models/make_contract_test_models.py [output_dir]
(default output: tests/Diffusion.Core.Tests/TestData/models). Needs only the `onnx` package (1.12).

- unet-misnamed-inputs.onnx: a "UNet" whose inputs are called noisy_input / time_value / text_context
  instead of sample / timestep / encoder_hidden_states (out_sample = noisy_input).
- unet-timestep-float64.onnx: correct names, but a float64 timestep (no exporter makes that).
- unet-static-shape.onnx: every axis fixed, as static-shape exports do: sample float32 [2,4,8,8],
  timestep float32 [1], encoder_hidden_states float32 [2,77,32] -> out_sample = sample + timestep.
- text-encoder-dynamic-hidden.onnx: input_ids int32 [batch,sequence] -> last_hidden_state float32
  [batch,sequence,hidden] with the hidden axis left symbolic; the embedding table is 16 x 6 with
  table[i, j] = i + j / 10, so the hidden size (6) is only known after a run.
- vae-encoder-parameters.onnx: the Optimum form of the VAE encoder. sample float32 [batch,3,H,W] ->
  latent_parameters float32 [batch,8,H/8,W/8]: channels 0-3 are the 8x8 average of image channel
  c % 3 (the "mean"), channels 4-6 are the constant ln 4 (std 2) and channel 7 is 50 (clamped to 20
  by diffusers' DiagonalGaussianDistribution, std e^10).
"""
import math
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = [helper.make_opsetid("", 17)]


def save(model, directory, name):
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = os.path.join(directory, name)
    onnx.save(model, path)
    print("wrote", path)


def misnamed_unet():
    inputs = [
        helper.make_tensor_value_info("noisy_input", TensorProto.FLOAT, ["batch", 4, "height", "width"]),
        helper.make_tensor_value_info("time_value", TensorProto.FLOAT, ["batch"]),
        helper.make_tensor_value_info("text_context", TensorProto.FLOAT, ["batch", "sequence", 32]),
    ]
    output = helper.make_tensor_value_info("out_sample", TensorProto.FLOAT, ["batch", 4, "height", "width"])
    node = helper.make_node("Identity", ["noisy_input"], ["out_sample"])
    graph = helper.make_graph([node], "unet_misnamed_inputs", inputs, [output])
    return helper.make_model(graph, opset_imports=OPSET, producer_name="diffusion-core-tests")


def float64_timestep_unet():
    inputs = [
        helper.make_tensor_value_info("sample", TensorProto.FLOAT, ["batch", 4, "height", "width"]),
        helper.make_tensor_value_info("timestep", TensorProto.DOUBLE, ["batch"]),
        helper.make_tensor_value_info("encoder_hidden_states", TensorProto.FLOAT, ["batch", "sequence", 32]),
    ]
    output = helper.make_tensor_value_info("out_sample", TensorProto.FLOAT, ["batch", 4, "height", "width"])
    node = helper.make_node("Identity", ["sample"], ["out_sample"])
    graph = helper.make_graph([node], "unet_timestep_float64", inputs, [output])
    return helper.make_model(graph, opset_imports=OPSET, producer_name="diffusion-core-tests")


def static_shape_unet():
    inputs = [
        helper.make_tensor_value_info("sample", TensorProto.FLOAT, [2, 4, 8, 8]),
        helper.make_tensor_value_info("timestep", TensorProto.FLOAT, [1]),
        helper.make_tensor_value_info("encoder_hidden_states", TensorProto.FLOAT, [2, 77, 32]),
    ]
    output = helper.make_tensor_value_info("out_sample", TensorProto.FLOAT, [2, 4, 8, 8])
    node = helper.make_node("Add", ["sample", "timestep"], ["out_sample"])
    graph = helper.make_graph([node], "unet_static_shape", inputs, [output])
    return helper.make_model(graph, opset_imports=OPSET, producer_name="diffusion-core-tests")


def dynamic_hidden_text_encoder():
    table = np.array([[i + j / 10.0 for j in range(6)] for i in range(16)], dtype=np.float32)
    inputs = [helper.make_tensor_value_info("input_ids", TensorProto.INT32, ["batch", "sequence"])]
    output = helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", "sequence", "hidden"])
    # Reshape to Concat(Shape(input_ids), [-1]) hides the width from shape inference (ORT would
    # otherwise fill in the 6 a plain Gather makes known).
    nodes = [
        helper.make_node("Gather", ["embedding_table", "input_ids"], ["gathered"], axis=0),
        helper.make_node("Shape", ["input_ids"], ["ids_shape"]),
        helper.make_node("Concat", ["ids_shape", "minus_one"], ["target_shape"], axis=0),
        helper.make_node("Reshape", ["gathered", "target_shape"], ["last_hidden_state"]),
    ]
    graph = helper.make_graph(nodes, "text_encoder_dynamic_hidden", inputs, [output],
                              initializer=[numpy_helper.from_array(table, "embedding_table"),
                                           numpy_helper.from_array(np.array([-1], dtype=np.int64), "minus_one")])
    return helper.make_model(graph, opset_imports=OPSET, producer_name="diffusion-core-tests")


def parameters_vae_encoder():
    weight = np.zeros((8, 3, 1, 1), dtype=np.float32)
    for c in range(4):
        weight[c, c % 3, 0, 0] = 1.0
    bias = np.array([0, 0, 0, 0, math.log(4.0), math.log(4.0), math.log(4.0), 50.0], dtype=np.float32)
    inputs = [helper.make_tensor_value_info("sample", TensorProto.FLOAT, ["batch", 3, "height", "width"])]
    output = helper.make_tensor_value_info("latent_parameters", TensorProto.FLOAT, ["batch", 8, "height_div_8", "width_div_8"])
    nodes = [
        helper.make_node("AveragePool", ["sample"], ["pooled"], kernel_shape=[8, 8], strides=[8, 8]),
        helper.make_node("Conv", ["pooled", "projection_weight", "projection_bias"], ["latent_parameters"]),
    ]
    graph = helper.make_graph(nodes, "vae_encoder_parameters", inputs, [output],
                              initializer=[numpy_helper.from_array(weight, "projection_weight"),
                                           numpy_helper.from_array(bias, "projection_bias")])
    return helper.make_model(graph, opset_imports=OPSET, producer_name="diffusion-core-tests")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    default = os.path.join(here, "..", "..", "..", "tests", "Diffusion.Core.Tests", "TestData", "models")
    directory = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else default)
    os.makedirs(directory, exist_ok=True)
    save(misnamed_unet(), directory, "unet-misnamed-inputs.onnx")
    save(float64_timestep_unet(), directory, "unet-timestep-float64.onnx")
    save(static_shape_unet(), directory, "unet-static-shape.onnx")
    save(dynamic_hidden_text_encoder(), directory, "text-encoder-dynamic-hidden.onnx")
    save(parameters_vae_encoder(), directory, "vae-encoder-parameters.onnx")


if __name__ == "__main__":
    main()
