#!/usr/bin/python3
"""Writes the reference fixtures for Diffusion.Core's random sources.

Usage: /usr/bin/python3 tools/reference-data/randomness/generate_random_reference.py [output_dir]
(default output: tests/Diffusion.Core.Tests/TestData/randomness/ next to this repository's tools/).

What it records, per generator and seed, for a sequence of successive draws from one generator:
  torch: torch.manual_seed(seed); torch.randn(shape, dtype=torch.float32) on CPU, repeated per draw
  numpy: rs = np.random.RandomState(seed); rs.randn(*shape).astype(np.float32), repeated per draw
Each draw stores its shape, element count, sum and mean (float64 over the float32 values) and either
every value (draws of at most 128 elements) or the first/last 64 values and every 257th value.
Values are float32 widened to float64 and written as decimals that round-trip that float64, so parsing
them as double and narrowing to float gives the float32 back exactly.
Two full 1x4x64x64 draws (torch and numpy, seed 0) are written as raw little-endian float32 files.

torch's fp32 randn for >= 16 elements runs normal_fill_16_AVX2 on any x86-64 CPU with AVX2 (AVX-512
machines included: normal_stub is not dispatched to AVX-512); the script pins ATEN_CPU_CAPABILITY=avx2
so the fixtures do not depend on the machine that generates them, and records the capability.
"""
import json
import os
import sys

os.environ["ATEN_CPU_CAPABILITY"] = "avx2"

import numpy as np  # noqa: E402
import torch  # noqa: E402

SEEDS_TORCH = [0, 42, 4294967295, 8589934597]
SEEDS_NUMPY = [0, 42, 4294967295, 8589934597]

# Each sequence is drawn from one freshly seeded generator, draw after draw.
SEQUENCES = {
    "latents_then_noise": [(1, 4, 64, 64), (1, 4, 64, 64)],
    "batch2_8x8": [(2, 4, 8, 8)],
    "odd_1x4x3x5": [(1, 4, 3, 5)],
    "three": [(3,)],
    "fifteen": [(15,)],
    "sixteen": [(16,)],
    "seventeen": [(17,)],
    # Small draws use (torch) a cached Box-Muller partner or (numpy) the cached gauss across calls.
    "mixed": [(3,), (16,), (3,), (1,), (17,), (1, 4, 3, 5), (5,), (2, 4, 8, 8)],
}

FULL_VALUES_MAX = 128
EDGE = 64
STRIDE = 257


def summarize(values):
    flat = values.reshape(-1)
    as_list = lambda a: [float(v) for v in a]  # float32 -> exact float64
    draw = {
        "shape": list(values.shape),
        "count": int(flat.size),
        "sum": float(flat.astype(np.float64).sum()),
        "mean": float(flat.astype(np.float64).mean()),
    }
    if flat.size <= FULL_VALUES_MAX:
        draw["values"] = as_list(flat)
    else:
        draw["first"] = as_list(flat[:EDGE])
        draw["last"] = as_list(flat[-EDGE:])
        draw["stride"] = STRIDE
        draw["strided"] = as_list(flat[::STRIDE])
    return draw


def torch_sequence(seed, shapes):
    torch.manual_seed(seed)
    return [torch.randn(shape, dtype=torch.float32).numpy() for shape in shapes]


def numpy_sequence(seed, shapes):
    rs = np.random.RandomState(seed)
    return [rs.randn(*shape).astype(np.float32) for shape in shapes]


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    default_out = os.path.join(here, "..", "..", "..", "tests", "Diffusion.Core.Tests", "TestData", "randomness")
    out = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else default_out)
    os.makedirs(out, exist_ok=True)

    cases = []
    for seed in SEEDS_TORCH:
        for name, shapes in SEQUENCES.items():
            draws = torch_sequence(seed, shapes)
            cases.append({"generator": "torch", "seed": seed, "sequence": name,
                          "draws": [summarize(d) for d in draws]})
    for seed in SEEDS_NUMPY:
        try:
            np.random.RandomState(seed)
        except ValueError as error:
            cases.append({"generator": "numpy", "seed": seed, "error": f"ValueError: {error}"})
            continue
        for name, shapes in SEQUENCES.items():
            draws = numpy_sequence(seed, shapes)
            cases.append({"generator": "numpy", "seed": seed, "sequence": name,
                          "draws": [summarize(d) for d in draws]})

    document = {
        "generated_by": "tools/reference-data/randomness/generate_random_reference.py",
        "torch_version": torch.__version__,
        "torch_cpu_capability": os.environ["ATEN_CPU_CAPABILITY"],
        "numpy_version": np.__version__,
        "cases": cases,
    }
    with open(os.path.join(out, "random_reference.json"), "w") as f:
        json.dump(document, f, separators=(",", ":"))
        f.write("\n")

    torch_sequence(0, [(1, 4, 64, 64)])[0].astype("<f4").tofile(os.path.join(out, "torch_seed0_1x4x64x64.f32"))
    numpy_sequence(0, [(1, 4, 64, 64)])[0].astype("<f4").tofile(os.path.join(out, "numpy_seed0_1x4x64x64.f32"))
    print("wrote", out)


if __name__ == "__main__":
    main()
