#!/usr/bin/env python3
"""Writes tests/Diffusion.Core.Tests/TestData/prompts/text-encoder-fixed-batch-2.onnx, a stand-in text encoder whose
batch axis is fixed: input_ids int32 [2,77] -> last_hidden_state float32 [2,77,4], the row (id mod 16) of a 16 x 4
table with table[i, j] = i + j / 10. PromptEmbedder must run a prompt's chunks through it two at a time.

usage: /usr/bin/python3 make_fixed_batch_text_encoder.py <output folder>
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def main():
    table = np.array([[i + j / 10 for j in range(4)] for i in range(16)], dtype=np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Mod", ["input_ids", "sixteen"], ["row"]),
            helper.make_node("Gather", ["table", "row"], ["last_hidden_state"], axis=0),
        ],
        "fixed_batch_text_encoder",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT32, [2, 77])],
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, [2, 77, 4])],
        [numpy_helper.from_array(table, "table"), numpy_helper.from_array(np.array(16, dtype=np.int32), "sixteen")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = os.path.join(sys.argv[1], "text-encoder-fixed-batch-2.onnx")
    onnx.save(model, path)
    print("wrote", path)


if __name__ == "__main__":
    main()
