#!/usr/bin/python3
"""Reference trajectories for the flow-matching schedulers (FlowMatchEulerDiscreteScheduler,
FlowMatchHeunDiscreteScheduler), produced by running diffusers' own scheduler files.

Usage: /usr/bin/python3 generate_reference.py <path-to-diffusers-src> [output-dir]

diffusers' package plumbing is replaced by the stubs of ../schedulers-b/generate_reference.py (imported, not
copied); the two scheduler files run unmodified. Needs torch, numpy and scipy (beta sigmas).

Writes gzip-compressed JSON to tests/Diffusion.Core.Tests/TestData/flow-match/:
- flow_match.json.gz: per case the constructor arguments (every one, defaults included), the arguments given to
  set_timesteps (steps, custom sigmas/timesteps, mu), the timesteps and sigmas it produced, the initial 1x4x2x2
  sample, per step the model output fed in and the sample that came out, every tensor randn_tensor returned (in
  call order, for a replaying random source), and scale_noise at a few begin indices (img2img).
- calculate_shift: mu of the FLUX/SD3 pipelines' calculate_shift for image sequence lengths and configs, and the
  FLUX pipeline's default custom sigmas (np.linspace(1, 1/n, n)) after set_timesteps.
"""
import importlib.util
import inspect
import math
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
DIFFUSERS_SRC = sys.argv[1] if len(sys.argv) > 1 else "/tmp/diffusers/src"
OUT_DIR = sys.argv[2] if len(sys.argv) > 2 else os.path.join(HERE, "..", "..", "..", "tests", "Diffusion.Core.Tests",
                                                              "TestData", "flow-match")

# The schedulers-b generator installs the diffusers stubs and the torch>=2 linspace on import; it reads its
# diffusers path from argv[1], which is ours too.
_spec = importlib.util.spec_from_file_location("_schedulers_b", os.path.join(HERE, "..", "schedulers-b", "generate_reference.py"))
ref = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ref)
ref.OUT_DIR = OUT_DIR

Euler = ref._load("scheduling_flow_match_euler_discrete").FlowMatchEulerDiscreteScheduler
Heun = ref._load("scheduling_flow_match_heun_discrete").FlowMatchHeunDiscreteScheduler
f32 = ref.f32


def run_case(name, cls, config, steps=None, sigmas=None, timesteps=None, mu=None, seed=0, step_kwargs=None,
             scale_noise_indices=(0, 2)):
    step_kwargs = step_kwargs or {}
    set_kwargs = {}
    if sigmas is not None:
        set_kwargs["sigmas"] = [float(s) for s in sigmas]
    if timesteps is not None:
        set_kwargs["timesteps"] = [float(t) for t in timesteps]
    if mu is not None:
        set_kwargs["mu"] = float(mu)

    def fresh():
        s = cls(**config)
        s.set_timesteps(steps, **set_kwargs) if steps is not None or not set_kwargs else s.set_timesteps(**set_kwargs)
        return s

    scheduler = fresh()
    sample = ref.initial_sample(seed)
    base = ref.pattern(seed)
    case = {
        "name": name,
        "class": cls.__name__,
        "config": {k: ref.jsonable(v) for k, v in vars(scheduler.config).items()},
        "steps": steps,
        "set_timesteps": set_kwargs,
        "step_kwargs": step_kwargs,
        "timesteps": f32(scheduler.timesteps),
        "sigmas": f32(scheduler.sigmas),
        "sample0": f32(sample),
    }
    noisy = []
    for index in scale_noise_indices:
        s = fresh()
        if index >= len(s.timesteps):
            continue
        s.set_begin_index(index)
        clean = base.clone()
        noise = ref.initial_sample(seed + 7)
        out = s.scale_noise(clean, s.timesteps[index:index + 1], noise)
        noisy.append({"index": index, "original": f32(clean), "noise": f32(noise), "result": f32(out)})
    case["add_noise"] = noisy

    ref.DRAWN_NOISE.clear()
    generator = torch.Generator().manual_seed(seed + 42)
    scheduler.set_begin_index(0)  # step by index, as the C# API does
    outputs, samples = [], []
    for t in scheduler.timesteps:
        out = ref.dummy_model(sample, t, base)
        outputs.append(f32(out))
        kwargs = dict(step_kwargs)
        kwargs["generator"] = generator
        sample = scheduler.step(out, t, sample, **kwargs).prev_sample
        samples.append(f32(sample))
    case["model_outputs"] = outputs
    case["samples"] = samples
    case["noise"] = [f32(n) for n in ref.DRAWN_NOISE]
    return case


def calculate_shift(image_seq_len, base_seq_len=256, max_seq_len=4096, base_shift=0.5, max_shift=1.15):
    # diffusers.pipelines.flux.pipeline_flux.calculate_shift (the SD3 pipelines hold the same function)
    m = (max_shift - base_shift) / (max_seq_len - base_seq_len)
    b = base_shift - m * base_seq_len
    mu = image_seq_len * m + b
    return mu


def flux_sigmas(n):
    return np.linspace(1.0, 1 / n, n)


def euler_cases():
    cases = []
    for steps in [1, 2, 4, 10, 28]:
        cases.append(run_case(f"default-{steps}", Euler, {}, steps))
    for shift in [3.0, 1.15, 0.8]:
        for steps in [4, 28]:
            cases.append(run_case(f"shift{shift}-{steps}", Euler, {"shift": shift}, steps, seed=1))
    flux_dev = {"shift": 3.0, "use_dynamic_shifting": True, "base_shift": 0.5, "max_shift": 1.15,
                "base_image_seq_len": 256, "max_image_seq_len": 4096}
    for seq in [256, 1024, 4096, 64]:
        mu = calculate_shift(seq)
        for steps in [4, 28]:
            cases.append(run_case(f"flux-dev-seq{seq}-{steps}", Euler, flux_dev, steps, sigmas=flux_sigmas(steps), mu=mu, seed=2))
    cases.append(run_case("dynamic-default-sigmas-10", Euler, flux_dev, 10, mu=calculate_shift(1024), seed=3))
    cases.append(run_case("dynamic-linear-10", Euler, dict(flux_dev, time_shift_type="linear"), 10, mu=calculate_shift(1024), seed=3))
    cases.append(run_case("dynamic-linear-flux-sigmas-10", Euler, dict(flux_dev, time_shift_type="linear"), 10,
                          sigmas=flux_sigmas(10), mu=calculate_shift(4096), seed=3))
    cases.append(run_case("flux-schnell-4", Euler, {"shift": 1.0, "use_dynamic_shifting": False}, 4, sigmas=flux_sigmas(4), mu=calculate_shift(4096), seed=4))
    cases.append(run_case("shift_terminal-10", Euler, {"shift": 3.0, "shift_terminal": 0.1}, 10, seed=5))
    cases.append(run_case("shift_terminal-dynamic-sigmas-10", Euler, dict(flux_dev, shift_terminal=0.05), 10,
                          sigmas=flux_sigmas(10), mu=calculate_shift(1024), seed=5))
    cases.append(run_case("invert_sigmas-8", Euler, {"shift": 3.0, "invert_sigmas": True}, 8, seed=6))
    for kind in ["use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas"]:
        cases.append(run_case(f"{kind}-shift3-10", Euler, {"shift": 3.0, kind: True}, 10, seed=7))
        cases.append(run_case(f"{kind}-flux-dev-10", Euler, dict(flux_dev, **{kind: True}), 10,
                              sigmas=flux_sigmas(10), mu=calculate_shift(1024), seed=7))
    cases.append(run_case("custom-sigmas-shift3", Euler, {"shift": 3.0}, None, sigmas=[1.0, 0.75, 0.5, 0.3, 0.1], seed=8))
    cases.append(run_case("custom-sigmas-steps-given", Euler, {"shift": 1.0}, 3, sigmas=[0.9, 0.6, 0.2], seed=8))
    cases.append(run_case("custom-timesteps", Euler, {"shift": 3.0}, None, timesteps=[1000.0, 800.0, 500.0, 250.0], seed=9))
    cases.append(run_case("custom-sigmas-and-timesteps", Euler, {"shift": 1.0}, None, sigmas=[1.0, 0.5, 0.25],
                          timesteps=[900.0, 400.0, 100.0], seed=9))
    cases.append(run_case("stochastic-10", Euler, {"shift": 3.0, "stochastic_sampling": True}, 10, seed=10))
    cases.append(run_case("stochastic-flux-dev-4", Euler, dict(flux_dev, stochastic_sampling=True), 4,
                          sigmas=flux_sigmas(4), mu=calculate_shift(1024), seed=10))
    cases.append(run_case("train100-shift2-6", Euler, {"num_train_timesteps": 100, "shift": 2.0}, 6, seed=11))
    return cases


def heun_cases():
    cases = []
    for steps in [1, 2, 4, 10]:
        cases.append(run_case(f"heun-default-{steps}", Heun, {}, steps))
    for shift in [3.0, 1.15]:
        cases.append(run_case(f"heun-shift{shift}-10", Heun, {"shift": shift}, 10, seed=1))
    cases.append(run_case("heun-churn-10", Heun, {"shift": 3.0}, 10, seed=2, step_kwargs={"s_churn": 1.0}))
    cases.append(run_case("heun-churn-window-10", Heun, {"shift": 3.0}, 10, seed=3,
                          step_kwargs={"s_churn": 4.0, "s_tmin": 0.3, "s_tmax": 0.9, "s_noise": 1.003}))
    return cases


def shift_cases():
    result = []
    for config in [{}, {"base_image_seq_len": 256, "max_image_seq_len": 4096, "base_shift": 0.5, "max_shift": 1.15},
                   {"base_image_seq_len": 128, "max_image_seq_len": 8192, "base_shift": 0.3, "max_shift": 1.6}]:
        for seq in [16, 64, 256, 1024, 4096, 16384]:
            result.append({"config": config, "image_seq_len": seq, "mu": calculate_shift(seq, **{
                k2: config[k1] for k1, k2 in [("base_image_seq_len", "base_seq_len"), ("max_image_seq_len", "max_seq_len"),
                                              ("base_shift", "base_shift"), ("max_shift", "max_shift")] if k1 in config})})
    sigmas = {str(n): f32(torch.from_numpy(flux_sigmas(n).astype(np.float32))) for n in [1, 2, 4, 20, 28, 50]}
    return result, sigmas


if __name__ == "__main__":
    shifts, flux_default = shift_cases()
    ref.write("flow_match.json", {
        "source": "diffusers " + os.environ.get("DIFFUSERS_COMMIT", "58eb52c") + ", torch " + torch.__version__ + ", numpy " + np.__version__,
        "cases": euler_cases() + heun_cases(),
        "calculate_shift": shifts,
        "flux_default_sigmas": flux_default,
    })
