#!/usr/bin/env python3
"""Reference numbers for Diffusion.Core's schedulers, produced by running diffusers' own scheduler code.

Usage:
    python3 generate_scheduler_reference.py <diffusers checkout> [output dir]

<diffusers checkout> is a diffusers source tree (the folder holding src/diffusers/schedulers, or that folder's
parent 'diffusers' package folder). Only the scheduler modules are imported; diffusers' configuration, hub and
logging plumbing is replaced by small stubs below, so only torch, numpy and scipy are needed.

Output (default: tests/Diffusion.Core.Tests/TestData/schedulers next to this repository):
  <SchedulerClass>.json  per scheduler: a deterministic sample, a model bias, and for each config case and
                         step count the timesteps, sigmas, init_noise_sigma, the scaled model input at step 0,
                         sum(|x|) after every step, the final sample, and add_noise at the middle step.
  official.json          the full loops of diffusers' tests/schedulers/test_scheduler_*.py, with the numbers
                         those tests assert and the torch.manual_seed(0) noise they draw.

The dummy model is model(x, t) = x * t / (t + 1) + bias (float32 torch ops, t as float32), which the C# tests
recompute exactly. Stochastic schedulers in the per-case fixtures draw "noise" from a deterministic formula
(see formula_noise) that the C# tests reproduce bit for bit, so the fixtures need not store noise; the official
loops use torch's generator and store the noise they drew.
Float arrays are stored as base64 of little-endian float32.
"""
import base64
import dataclasses
import functools
import importlib.util
import inspect
import json
import math
import os
import sys
import types
from fractions import Fraction

import numpy as np
import torch

SCHEDULER_FILES = {
    "DDIMScheduler": "scheduling_ddim",
    "DDPMScheduler": "scheduling_ddpm",
    "PNDMScheduler": "scheduling_pndm",
    "LMSDiscreteScheduler": "scheduling_lms_discrete",
    "EulerDiscreteScheduler": "scheduling_euler_discrete",
    "EulerAncestralDiscreteScheduler": "scheduling_euler_ancestral_discrete",
    "HeunDiscreteScheduler": "scheduling_heun_discrete",
    "KDPM2DiscreteScheduler": "scheduling_k_dpm_2_discrete",
    "KDPM2AncestralDiscreteScheduler": "scheduling_k_dpm_2_ancestral_discrete",
}

# ----------------------------------------------------------------------------------------------------------
# Stubs for the parts of diffusers the scheduler modules import.


class _Config(dict):
    """diffusers' FrozenDict-like config: attribute and item access."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError as e:
            raise AttributeError(name) from e


def register_to_config(init):
    @functools.wraps(init)
    def inner(self, *args, **kwargs):
        bound = inspect.signature(init).bind(self, *args, **kwargs)
        bound.apply_defaults()
        config = dict(bound.arguments)
        config.pop("self")
        self._internal_dict = _Config(config)
        init(self, *args, **kwargs)

    return inner


class ConfigMixin:
    config_name = "scheduler_config.json"

    @property
    def config(self):
        return self._internal_dict

    def register_to_config(self, **kwargs):
        self._internal_dict.update(kwargs)


class BaseOutput:
    def __getitem__(self, index):
        return [getattr(self, f.name) for f in dataclasses.fields(self)][index]


class _Logger:
    def warning(self, *args, **kwargs):
        pass

    info = debug = warn = warning


class _Logging:
    @staticmethod
    def get_logger(name):
        return _Logger()


def _deprecate(*args, **kwargs):
    pass


# randn_tensor is swapped per run: see NoiseSource.
_current_noise = None


def randn_tensor(shape, generator=None, device=None, dtype=None, layout=None):
    return _current_noise.draw(shape, generator, dtype)


def load_schedulers(root):
    candidates = [os.path.join(root, "src", "diffusers", "schedulers"), os.path.join(root, "schedulers"), root]
    schedulers_dir = next(c for c in candidates if os.path.isfile(os.path.join(c, "scheduling_ddim.py")))

    def package(name, path=None):
        module = types.ModuleType(name)
        module.__path__ = [path] if path else []
        sys.modules[name] = module
        return module

    package("diffusers")
    config_utils = types.ModuleType("diffusers.configuration_utils")
    config_utils.ConfigMixin = ConfigMixin
    config_utils.register_to_config = register_to_config
    sys.modules["diffusers.configuration_utils"] = config_utils
    utils = package("diffusers.utils")
    utils.BaseOutput = BaseOutput
    utils.logging = _Logging
    utils.deprecate = _deprecate
    utils.is_scipy_available = lambda: True
    torch_utils = types.ModuleType("diffusers.utils.torch_utils")
    torch_utils.randn_tensor = randn_tensor
    sys.modules["diffusers.utils.torch_utils"] = torch_utils
    package("diffusers.schedulers", schedulers_dir)
    scheduling_utils = types.ModuleType("diffusers.schedulers.scheduling_utils")

    import enum

    class KarrasDiffusionSchedulers(enum.Enum):
        DDIMScheduler = 1

    class SchedulerMixin:
        pass

    @dataclasses.dataclass
    class SchedulerOutput(BaseOutput):
        prev_sample: torch.Tensor

    scheduling_utils.KarrasDiffusionSchedulers = KarrasDiffusionSchedulers
    scheduling_utils.SchedulerMixin = SchedulerMixin
    scheduling_utils.SchedulerOutput = SchedulerOutput
    sys.modules["diffusers.schedulers.scheduling_utils"] = scheduling_utils

    classes = {}
    for class_name, module_name in SCHEDULER_FILES.items():
        full_name = "diffusers.schedulers." + module_name
        spec = importlib.util.spec_from_file_location(full_name, os.path.join(schedulers_dir, module_name + ".py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[full_name] = module
        spec.loader.exec_module(module)
        classes[class_name] = getattr(module, class_name)
    return classes


# ----------------------------------------------------------------------------------------------------------
# torch.linspace as torch >= 2.0 computes it on CPU.
#
# torch 1.13 (the Debian build this was first run with) still has the vectorised linspace kernel; torch 2.0
# (pytorch PR #89048) replaced it by the scalar one: step = (end - start) / (steps - 1) in float32, then
# start + step*i for the first half and end - step*(steps-1-i) for the second, each contracted to a fused
# multiply-add by the compiler (ATen's CPU kernels are built with -mfma). The two differ by one float32 ulp in a
# few hundred of SD's 1000 betas, which moves some full loops by ~1e-5, so the reference follows current torch.
# Set SCHEDULER_REFERENCE_NATIVE_LINSPACE=1 to keep the installed torch's own kernel.

_torch_linspace = torch.linspace


def _fma32(a, b, c):
    """float32 fused multiply-add, rounded once (exact rational arithmetic, ties to even)."""
    exact = Fraction(float(a)) * Fraction(float(b)) + Fraction(float(c))
    guess = np.float32(float(exact))
    candidates = [np.nextafter(guess, np.float32(-np.inf)), guess, np.nextafter(guess, np.float32(np.inf))]
    return min(candidates, key=lambda v: (abs(Fraction(float(v)) - exact), int(np.array(v, dtype=np.float32).view(np.uint32)) & 1))


def torch2_linspace(start, end, steps, *args, dtype=None, **kwargs):
    if dtype not in (None, torch.float32) or args or isinstance(start, torch.Tensor) or isinstance(end, torch.Tensor):
        return _torch_linspace(start, end, steps, *args, dtype=dtype, **kwargs)
    start32, end32 = np.float32(start), np.float32(end)
    if steps == 1:
        return torch.tensor([start32], dtype=torch.float32)
    step = np.float32(np.float32(end32 - start32) / np.float32(steps - 1))
    halfway = steps // 2
    values = [_fma32(step, np.float32(i), start32) if i < halfway else _fma32(-step, np.float32(steps - 1 - i), end32) for i in range(steps)]
    return torch.tensor(np.array(values, dtype=np.float32))


if os.environ.get("SCHEDULER_REFERENCE_NATIVE_LINSPACE") != "1":
    torch.linspace = torch2_linspace


# ----------------------------------------------------------------------------------------------------------
# Deterministic inputs shared with the C# tests.


def formula_noise(draw_index, count):
    """Draw number draw_index of the fake noise source: ((i*7919 + k*104729) mod 2000)/500 - 2, exact in float32."""
    i = np.arange(count, dtype=np.int64)
    values = ((i * 7919 + draw_index * 104729) % 2000).astype(np.float64) / 500.0 - 2.0
    return values.astype(np.float32)


class NoiseSource:
    """Replaces randn_tensor: either the formula above, or torch.randn with the caller's generator (recorded)."""

    def __init__(self, use_torch):
        self.use_torch = use_torch
        self.draws = []

    def draw(self, shape, generator, dtype):
        count = int(np.prod(shape))
        if self.use_torch:
            noise = torch.randn(shape, generator=generator, dtype=dtype or torch.float32)
        else:
            noise = torch.from_numpy(formula_noise(len(self.draws), count)).reshape(shape)
        self.draws.append(noise.detach().clone())
        return noise


SAMPLE_SHAPE = (2, 2, 4, 4)


def fixture_sample():
    n = int(np.prod(SAMPLE_SHAPE))
    i = np.arange(n, dtype=np.int64)
    # values in [-3, 3): large enough that clip_sample and dynamic thresholding act.
    return (((i * 37) % n).astype(np.float64) / n * 6.0 - 3.0).astype(np.float32).reshape(SAMPLE_SHAPE)


def fixture_bias():
    n = int(np.prod(SAMPLE_SHAPE))
    i = np.arange(n, dtype=np.int64)
    return (((i * 53) % 17).astype(np.float64) / 40.0 - 0.2).astype(np.float32).reshape(SAMPLE_SHAPE)


def fixture_add_noise_noise():
    n = int(np.prod(SAMPLE_SHAPE))
    return formula_noise(9999, n).reshape(SAMPLE_SHAPE)


def b64(tensor, dtype="<f4"):
    array = tensor.detach().cpu().double().numpy() if isinstance(tensor, torch.Tensor) else np.asarray(tensor, dtype=np.float64)
    return base64.b64encode(np.ascontiguousarray(array, dtype=dtype).tobytes()).decode("ascii")


def model(sample, t, bias):
    t = torch.as_tensor(t).reshape(-1, *(1,) * (sample.dim() - 1)).to(sample.dtype)
    out = sample * t / (t + 1)
    return out if bias is None else out + bias


# ----------------------------------------------------------------------------------------------------------
# Per-scheduler config cases.

BASE_CONFIG = {
    "num_train_timesteps": 1000,
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "prediction_type": "epsilon",
    "timestep_spacing": "leading",
    "steps_offset": 1,
    "set_alpha_to_one": False,
    "skip_prk_steps": True,
    "clip_sample": False,
    "clip_sample_range": 1.0,
    "thresholding": False,
    "dynamic_thresholding_ratio": 0.995,
    "sample_max_value": 1.0,
    "use_karras_sigmas": False,
    "use_exponential_sigmas": False,
    "use_beta_sigmas": False,
    "timestep_type": "discrete",
    "interpolation_type": "linear",
    "final_sigmas_type": "zero",
    "rescale_betas_zero_snr": False,
    "variance_type": "fixed_small",
}

COMMON_CASES = [
    ("sd15", {}),
    ("v_prediction", {"prediction_type": "v_prediction"}),
    ("sample_prediction", {"prediction_type": "sample"}),
    ("trailing", {"timestep_spacing": "trailing", "steps_offset": 0}),
    ("linspace", {"timestep_spacing": "linspace", "steps_offset": 0}),
    ("leading_offset0", {"steps_offset": 0}),
    ("linear_betas", {"beta_schedule": "linear", "beta_start": 0.0001, "beta_end": 0.02}),
    ("squaredcos", {"beta_schedule": "squaredcos_cap_v2"}),
    ("zero_snr_trailing", {"rescale_betas_zero_snr": True, "timestep_spacing": "trailing", "steps_offset": 0, "prediction_type": "v_prediction"}),
    ("trained_betas_100", {"num_train_timesteps": 100, "trained_betas": [round(0.0005 + 0.0025 * i, 6) for i in range(100)], "steps_offset": 0}),
]

SIGMA_CASES = [
    ("karras", {"use_karras_sigmas": True}),
    ("exponential", {"use_exponential_sigmas": True}),
    ("beta", {"use_beta_sigmas": True}),
    ("karras_linspace", {"use_karras_sigmas": True, "timestep_spacing": "linspace", "steps_offset": 0}),
]

EXTRA_CASES = {
    "DDIMScheduler": [
        ("set_alpha_to_one", {"set_alpha_to_one": True}),
        ("clip_sample", {"clip_sample": True, "prediction_type": "sample"}),
        ("clip_sample_range", {"clip_sample": True, "clip_sample_range": 1.5}),
        ("thresholding", {"thresholding": True, "dynamic_thresholding_ratio": 0.9, "sample_max_value": 2.0, "prediction_type": "sample"}),
        ("thresholding_eps", {"thresholding": True, "sample_max_value": 1.5}),
        ("eta_0_5", {"eta": 0.5}),
        ("eta_1_v", {"eta": 1.0, "prediction_type": "v_prediction"}),
    ],
    "DDPMScheduler": [
        ("clip_sample", {"clip_sample": True}),
        ("thresholding", {"thresholding": True, "dynamic_thresholding_ratio": 0.9, "sample_max_value": 2.0}),
        ("fixed_small_log", {"variance_type": "fixed_small_log"}),
        ("fixed_large", {"variance_type": "fixed_large"}),
    ],
    "PNDMScheduler": [
        ("prk", {"skip_prk_steps": False}),
        ("prk_linspace", {"skip_prk_steps": False, "timestep_spacing": "linspace", "steps_offset": 0}),
        ("set_alpha_to_one", {"set_alpha_to_one": True}),
    ],
    "EulerDiscreteScheduler": SIGMA_CASES + [
        ("karras_sigma_min_final", {"use_karras_sigmas": True, "final_sigmas_type": "sigma_min"}),
        ("final_sigma_min", {"final_sigmas_type": "sigma_min"}),
        ("karras_bounds", {"use_karras_sigmas": True, "sigma_min": 0.05, "sigma_max": 10.0}),
        ("log_linear", {"interpolation_type": "log_linear"}),
        ("continuous_v", {"timestep_type": "continuous", "prediction_type": "v_prediction", "timestep_spacing": "linspace", "steps_offset": 0}),
    ],
    "EulerAncestralDiscreteScheduler": [],
    "HeunDiscreteScheduler": SIGMA_CASES + [("clip_sample", {"clip_sample": True, "clip_sample_range": 2.0})],
    "LMSDiscreteScheduler": SIGMA_CASES,
    "KDPM2DiscreteScheduler": SIGMA_CASES,
    "KDPM2AncestralDiscreteScheduler": [("karras", {"use_karras_sigmas": True}), ("exponential", {"use_exponential_sigmas": True})],
}

# Cases a scheduler rejects (diffusers raises), so they are not generated.
UNSUPPORTED = {
    "PNDMScheduler": {"sample_prediction"},
    "EulerAncestralDiscreteScheduler": {"sample_prediction"},
    "KDPM2DiscreteScheduler": {"sample_prediction"},
    "KDPM2AncestralDiscreteScheduler": {"sample_prediction"},
    "LMSDiscreteScheduler": {"zero_snr_trailing"},
    "HeunDiscreteScheduler": {"zero_snr_trailing"},
    "KDPM2DiscreteScheduler_": set(),
}

STEP_COUNTS = [1, 4, 10]
BASE_STEP_COUNTS = [1, 4, 10, 25]
SIGMA_SCHEDULERS = {"EulerDiscreteScheduler", "EulerAncestralDiscreteScheduler", "HeunDiscreteScheduler", "LMSDiscreteScheduler", "KDPM2DiscreteScheduler", "KDPM2AncestralDiscreteScheduler"}


def class_config(cls, overrides):
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self"}
    merged = dict(BASE_CONFIG)
    merged.update(overrides)
    config = {k: v for k, v in merged.items() if k in accepted}
    # Keys the scheduler has no parameter for would be ignored by diffusers; the C# side must not see them either.
    unsupported_keys = [k for k in overrides if k not in accepted and k != "eta"]
    return config, unsupported_keys


def run_case(cls, class_name, config, eta, steps, with_trajectory, with_details):
    global _current_noise
    _current_noise = NoiseSource(use_torch=False)
    scheduler = cls(**config)
    scheduler.set_timesteps(steps)
    sample_np = fixture_sample()
    bias = torch.from_numpy(fixture_bias())
    init_sigma = scheduler.init_noise_sigma
    init_sigma = float(init_sigma) if not isinstance(init_sigma, torch.Tensor) else float(init_sigma.item())
    sample = torch.from_numpy(sample_np.copy())
    record = {
        "steps": steps,
        "timesteps": b64(scheduler.timesteps),
        "init_noise_sigma": init_sigma,
        "order": int(getattr(scheduler, "order", 1)),
    }
    if class_name in SIGMA_SCHEDULERS:
        record["sigmas"] = b64(scheduler.sigmas)
    sums = []
    trajectory = []
    for i, t in enumerate(scheduler.timesteps):
        model_input = scheduler.scale_model_input(sample, t)
        if i == 0 and with_details:
            record["model_input_0"] = b64(model_input)
        output = model(model_input, t, bias)
        if class_name == "DDIMScheduler":
            result = scheduler.step(output, t, sample, eta=eta)
        else:
            result = scheduler.step(output, t, sample)
        sample = result.prev_sample
        sums.append(float(sample.double().abs().sum().item()))
        if with_trajectory:
            trajectory.append(b64(sample))
    record["abs_sums"] = b64(np.array(sums), "<f8")
    record["final"] = b64(sample)
    if with_trajectory:
        record["trajectory"] = trajectory
    record["noise_draws"] = len(_current_noise.draws)
    if not with_details:
        return record

    # add_noise at the middle step index, as an img2img pipeline does it.
    index = len(scheduler.timesteps) // 2
    fresh = cls(**config)
    fresh.set_timesteps(steps)
    original = torch.from_numpy(sample_np.copy())
    noise = torch.from_numpy(fixture_add_noise_noise())
    if hasattr(fresh, "set_begin_index"):
        fresh.set_begin_index(index)
    t = fresh.timesteps[index : index + 1]
    record["add_noise"] = {"index": index, "result": b64(fresh.add_noise(original, noise, t))}
    return record


def run_img2img(cls, class_name, config, eta, steps=10):
    """An img2img run as diffusers' pipelines do it: set_begin_index(t_start * order), add_noise at that timestep,
    then the loop from there (t_start = 4 of 10 steps, i.e. strength 0.6)."""
    global _current_noise
    _current_noise = NoiseSource(use_torch=False)
    scheduler = cls(**config)
    scheduler.set_timesteps(steps)
    begin = 4 * int(getattr(scheduler, "order", 1))
    if hasattr(scheduler, "set_begin_index"):
        scheduler.set_begin_index(begin)
    bias = torch.from_numpy(fixture_bias())
    original = torch.from_numpy(fixture_sample())
    noise = torch.from_numpy(fixture_add_noise_noise())
    sample = scheduler.add_noise(original, noise, scheduler.timesteps[begin : begin + 1])
    sums = []
    for t in scheduler.timesteps[begin:]:
        model_input = scheduler.scale_model_input(sample, t)
        output = model(model_input, t, bias)
        if class_name == "DDIMScheduler":
            sample = scheduler.step(output, t, sample, eta=eta).prev_sample
        else:
            sample = scheduler.step(output, t, sample).prev_sample
        sums.append(float(sample.double().abs().sum().item()))
    return {"steps": steps, "begin": begin, "abs_sums": b64(np.array(sums), "<f8"), "final": b64(sample), "noise_draws": len(_current_noise.draws)}


def generate_cases(classes, out_dir):
    sizes = {}
    for class_name, cls in classes.items():
        cases = []
        all_cases = COMMON_CASES + EXTRA_CASES[class_name]
        for case_name, overrides in all_cases:
            if case_name in UNSUPPORTED.get(class_name, set()):
                continue
            config, unsupported_keys = class_config(cls, overrides)
            if unsupported_keys:
                continue  # e.g. rescale_betas_zero_snr for a scheduler without it
            eta = float(overrides.get("eta", 0.0))
            step_counts = BASE_STEP_COUNTS if case_name == "sd15" else STEP_COUNTS
            if class_name == "PNDMScheduler" and not config["skip_prk_steps"]:
                step_counts = [4, 10]  # PRK warm-up needs at least 4 steps (diffusers fails below)
            runs = [run_case(cls, class_name, config, eta, s, with_trajectory=(case_name == "sd15" and s == 10), with_details=(s == 4)) for s in step_counts]
            json_config = {"_class_name": class_name}
            json_config.update({k: v for k, v in config.items() if v is not None})
            if "eta" in overrides:
                json_config["eta"] = eta
            entry = {"name": case_name, "config": json_config, "runs": runs}
            if case_name in ("sd15", "v_prediction", "karras") and not (class_name == "PNDMScheduler" and not config["skip_prk_steps"]):
                entry["img2img"] = run_img2img(cls, class_name, config, eta)
            cases.append(entry)
        document = {
            "scheduler": class_name,
            "generator": "tools/reference-data/schedulers/generate_scheduler_reference.py",
            "torch": torch.__version__,
            "numpy": np.__version__,
            "sample_shape": list(SAMPLE_SHAPE),
            "sample": b64(fixture_sample()),
            "bias": b64(fixture_bias()),
            "add_noise_noise": b64(fixture_add_noise_noise()),
            "cases": cases,
        }
        path = os.path.join(out_dir, class_name + ".json")
        with open(path, "w") as f:
            json.dump(document, f, separators=(",", ":"))
        sizes[class_name] = os.path.getsize(path)
    return sizes


# ----------------------------------------------------------------------------------------------------------
# The full loops of diffusers' tests/schedulers, with the sums/means those tests assert.

TEST_CONFIG_1000 = {"num_train_timesteps": 1000, "beta_start": 0.0001, "beta_end": 0.02, "beta_schedule": "linear"}
TEST_CONFIG_1100 = {"num_train_timesteps": 1100, "beta_start": 0.0001, "beta_end": 0.02, "beta_schedule": "linear"}

# (name, class, config, steps, seeded, expected_sum, expected_mean, source)
OFFICIAL = [
    ("ddim_no_noise", "DDIMScheduler", dict(TEST_CONFIG_1000, clip_sample=True), 10, False, 172.0067, 0.223967, "test_scheduler_ddim.py::test_full_loop_no_noise"),
    ("ddim_v_prediction", "DDIMScheduler", dict(TEST_CONFIG_1000, clip_sample=True, prediction_type="v_prediction"), 10, False, 52.5302, 0.0684, "test_scheduler_ddim.py::test_full_loop_with_v_prediction"),
    ("ddim_set_alpha_to_one", "DDIMScheduler", dict(TEST_CONFIG_1000, clip_sample=True, set_alpha_to_one=True, beta_start=0.01), 10, False, 149.8295, 0.1951, "test_scheduler_ddim.py::test_full_loop_with_set_alpha_to_one"),
    ("ddim_no_set_alpha_to_one", "DDIMScheduler", dict(TEST_CONFIG_1000, clip_sample=True, set_alpha_to_one=False, beta_start=0.01), 10, False, 149.0784, 0.1941, "test_scheduler_ddim.py::test_full_loop_with_no_set_alpha_to_one"),
    ("pndm_prk", "PNDMScheduler", dict(TEST_CONFIG_1000), 10, False, 198.1318, 0.2580, "test_scheduler_pndm.py::test_full_loop_no_noise"),
    ("pndm_v_prediction", "PNDMScheduler", dict(TEST_CONFIG_1000, prediction_type="v_prediction"), 10, False, 67.3986, 0.0878, "test_scheduler_pndm.py::test_full_loop_with_v_prediction"),
    ("pndm_set_alpha_to_one", "PNDMScheduler", dict(TEST_CONFIG_1000, set_alpha_to_one=True, beta_start=0.01), 10, False, 230.0399, 0.2995, "test_scheduler_pndm.py::test_full_loop_with_set_alpha_to_one"),
    ("pndm_no_set_alpha_to_one", "PNDMScheduler", dict(TEST_CONFIG_1000, set_alpha_to_one=False, beta_start=0.01), 10, False, 186.9482, 0.2434, "test_scheduler_pndm.py::test_full_loop_with_no_set_alpha_to_one"),
    ("euler_no_noise", "EulerDiscreteScheduler", dict(TEST_CONFIG_1100), 10, True, 10.0807, 0.0131, "test_scheduler_euler.py::test_full_loop_no_noise"),
    ("euler_v_prediction", "EulerDiscreteScheduler", dict(TEST_CONFIG_1100, prediction_type="v_prediction"), 10, True, 0.0002, 2.2676e-06, "test_scheduler_euler.py::test_full_loop_with_v_prediction"),
    ("euler_karras", "EulerDiscreteScheduler", dict(TEST_CONFIG_1100, use_karras_sigmas=True), 10, True, 124.52299499511719, 0.16213932633399963, "test_scheduler_euler.py::test_full_loop_device_karras_sigmas"),
    ("euler_ancestral_no_noise", "EulerAncestralDiscreteScheduler", dict(TEST_CONFIG_1100), 10, True, 152.3192, 0.1983, "test_scheduler_euler_ancestral.py::test_full_loop_no_noise"),
    ("euler_ancestral_v_prediction", "EulerAncestralDiscreteScheduler", dict(TEST_CONFIG_1100, prediction_type="v_prediction"), 10, True, 108.4439, 0.1412, "test_scheduler_euler_ancestral.py::test_full_loop_with_v_prediction"),
    ("heun_no_noise", "HeunDiscreteScheduler", dict(TEST_CONFIG_1100), 10, False, 0.1233, 0.0002, "test_scheduler_heun.py::test_full_loop_no_noise"),
    ("heun_karras", "HeunDiscreteScheduler", dict(TEST_CONFIG_1100, use_karras_sigmas=True), 10, False, 0.00015, 1.9869554535034695e-07, "test_scheduler_heun.py::test_full_loop_device_karras_sigmas"),
    ("lms_no_noise", "LMSDiscreteScheduler", dict(TEST_CONFIG_1100), 10, False, 1006.388, 1.31, "test_scheduler_lms.py::test_full_loop_no_noise"),
    ("lms_v_prediction", "LMSDiscreteScheduler", dict(TEST_CONFIG_1100, prediction_type="v_prediction"), 10, False, 0.0017, 2.2676e-06, "test_scheduler_lms.py::test_full_loop_with_v_prediction"),
    ("lms_karras", "LMSDiscreteScheduler", dict(TEST_CONFIG_1100, use_karras_sigmas=True), 10, False, 3812.9927, 4.9648, "test_scheduler_lms.py::test_full_loop_device_karras_sigmas"),
    ("kdpm2_no_noise", "KDPM2DiscreteScheduler", dict(TEST_CONFIG_1100), 10, False, 20.4125, 0.0266, "test_scheduler_kdpm2_discrete.py::test_full_loop_no_noise"),
    ("kdpm2_v_prediction", "KDPM2DiscreteScheduler", dict(TEST_CONFIG_1100, prediction_type="v_prediction"), 10, False, 4.6934e-07, 6.1112e-10, "test_scheduler_kdpm2_discrete.py::test_full_loop_with_v_prediction"),
    ("kdpm2_ancestral_no_noise", "KDPM2AncestralDiscreteScheduler", dict(TEST_CONFIG_1100), 10, True, 13979.9433, 18.2030, "test_scheduler_kdpm2_ancestral.py::test_full_loop_no_noise"),
    ("kdpm2_ancestral_v_prediction", "KDPM2AncestralDiscreteScheduler", dict(TEST_CONFIG_1100, prediction_type="v_prediction"), 10, True, 331.8133, 0.4320, "test_scheduler_kdpm2_ancestral.py::test_full_loop_with_v_prediction"),
]


def dummy_sample_deter():
    batch_size, num_channels, height, width = 4, 3, 8, 8
    num_elems = batch_size * num_channels * height * width
    sample = torch.arange(num_elems)
    sample = sample.reshape(num_channels, height, width, batch_size)
    sample = sample / num_elems
    return sample.permute(3, 0, 1, 2)


def generate_official(classes, out_dir):
    global _current_noise
    entries = []
    stored_noise_for = set()
    for name, class_name, config, steps, seeded, expected_sum, expected_mean, source in OFFICIAL:
        cls = classes[class_name]
        # torch's noise is stored for the first seeded loop of each scheduler only (fixture size).
        store_noise = seeded and class_name not in stored_noise_for
        if store_noise:
            stored_noise_for.add(class_name)
        _current_noise = NoiseSource(use_torch=True)
        scheduler = cls(**config)
        scheduler.set_timesteps(steps)
        generator = torch.manual_seed(0) if seeded else None
        init_sigma = scheduler.init_noise_sigma
        sample = dummy_sample_deter() * (init_sigma.cpu() if isinstance(init_sigma, torch.Tensor) else init_sigma)
        if class_name == "PNDMScheduler":
            for t in scheduler.prk_timesteps:
                sample = scheduler.step_prk(model(sample, t, None), t, sample).prev_sample
            for t in scheduler.plms_timesteps:
                sample = scheduler.step_plms(model(sample, t, None), t, sample).prev_sample
        else:
            for t in scheduler.timesteps:
                # diffusers' tests overwrite the sample with the scaled model input and step from it.
                sample = scheduler.scale_model_input(sample, t)
                output = model(sample, t, None)
                if class_name == "DDIMScheduler":
                    sample = scheduler.step(output, t, sample, 0.0).prev_sample
                elif seeded:
                    sample = scheduler.step(output, t, sample, generator=generator).prev_sample
                else:
                    sample = scheduler.step(output, t, sample).prev_sample
        json_config = {"_class_name": class_name}
        json_config.update(config)
        entries.append({
            "name": name,
            "source": "diffusers tests/schedulers/" + source,
            "config": json_config,
            "steps": steps,
            "expected_sum": expected_sum,
            "expected_mean": expected_mean,
            "local_sum": float(sample.abs().sum().item()),
            "local_mean": float(sample.abs().mean().item()),
            "noise": [b64(n) for n in _current_noise.draws] if store_noise else [],
        })
    path = os.path.join(out_dir, "official.json")
    with open(path, "w") as f:
        json.dump({"generator": "tools/reference-data/schedulers/generate_scheduler_reference.py", "torch": torch.__version__, "loops": entries}, f, separators=(",", ":"))
    return entries, os.path.getsize(path)


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        sys.exit(2)
    here = os.path.dirname(os.path.abspath(__file__))
    default_out = os.path.normpath(os.path.join(here, "..", "..", "..", "tests", "Diffusion.Core.Tests", "TestData", "schedulers"))
    out_dir = sys.argv[2] if len(sys.argv) > 2 else default_out
    os.makedirs(out_dir, exist_ok=True)
    torch.set_num_threads(1)
    classes = load_schedulers(sys.argv[1])
    sizes = generate_cases(classes, out_dir)
    entries, official_size = generate_official(classes, out_dir)
    for name, size in sizes.items():
        print(f"{name}.json: {size} bytes")
    print(f"official.json: {official_size} bytes")
    for e in entries:
        flag = "ok" if abs(e["local_sum"] - e["expected_sum"]) < 2e-2 else "MISMATCH"
        print(f"{e['name']}: sum {e['local_sum']:.6f} (test asserts {e['expected_sum']}) {flag}")


if __name__ == "__main__":
    main()
