"""Declares the demo UNet's step-cache points (DeepCache) in its ONNX metadata.

Diffusion.Core cuts a UNet graph for step caching at values the graph names in metadata_props
(`diffusion_core.deep_cache_points`, nearest the output first). Graphs the library builds name them
itself; an exported graph's value names are the exporter's, so the exporter of this model names its
two: the inputs of the UNet's two skip concatenations (u0's, then u1's).

    /usr/bin/python3 tools/train-demo-model/deep_cache_points.py models/demo-shapes/unet/model.onnx

train.py calls add_points() after exporting the UNet. Only metadata changes: the weights and nodes stay.
"""
import sys

KEY = "diffusion_core.deep_cache_points"


def skip_concat_inputs(model):
    """The deep-path input of each skip concatenation, nearest the output first."""
    producers = {out: node for node in model.graph.node for out in node.output}
    points = []
    for node in model.graph.node:
        if node.op_type != "Concat" or len(node.input) != 2 or node.name.count("/") != 1:  # top-level only
            continue
        skip = producers.get(node.input[1])
        if skip is not None and skip.name.split("/")[1] in ("d0_tr", "d1_tr"):
            points.append((skip.name.split("/")[1], node.input[0]))
    points.sort()  # d0_tr (the u0 concat, nearest the output) before d1_tr
    if [p[0] for p in points] != ["d0_tr", "d1_tr"]:
        raise SystemExit(f"expected the two skip concatenations of the demo UNet, found {points}")
    return [p[1] for p in points]


def add_points(path):
    import onnx
    model = onnx.load(path)
    points = skip_concat_inputs(model)
    del model.metadata_props[:]
    model.metadata_props.add(key=KEY, value=",".join(points))
    onnx.save(model, path)
    return points


if __name__ == "__main__":
    print(add_points(sys.argv[1]))
