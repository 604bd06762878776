#!/usr/bin/python3
"""Reference trajectories for the schedulers of area schedulers-b (DPM-Solver multistep/singlestep,
UniPC, LCM, TCD), produced by running diffusers' own scheduler modules.

Usage: /usr/bin/python3 generate_reference.py <path-to-diffusers-src> [output-dir]

<path-to-diffusers-src> is the folder holding `diffusers/schedulers/scheduling_*.py` (e.g.
/work/diffusers-src/src). diffusers' package plumbing (hub, config loading, logging) is replaced by the
small stubs below; the scheduler files themselves run unmodified. Needs torch, numpy and scipy
(for beta sigmas).

Outputs are gzip-compressed JSON (<name>.json.gz). Every case records: the effective config (all constructor arguments, defaults included), the
timesteps and sigmas after set_timesteps, the initial sample, and for each step the model output that
was fed in and the sample that came out, plus every tensor randn_tensor returned, in call order, so a
test can replay them through a fake random source. The "model" is a deterministic function of
(sample, t) and its outputs are recorded, so tests do not have to re-implement it.

Also recomputes the full-loop numbers asserted in diffusers' tests/schedulers for these schedulers
(dummy_sample_deter, dummy_model = sample * t / (t + 1)) and records them with full precision.
"""
import dataclasses
import gzip
import enum
import importlib.util
import inspect
import json
import math
import os
import sys
import types

import numpy as np
import torch

DIFFUSERS_SRC = sys.argv[1] if len(sys.argv) > 1 else "/work/diffusers-src/src"
OUT_DIR = sys.argv[2] if len(sys.argv) > 2 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "tests", "Diffusion.Core.Tests", "TestData", "schedulers-b")

# torch.linspace as torch >= 2.0 computes it (the betas): the schedulers-a generator defines that emulation and
# installs it on import (see its comment; SCHEDULER_REFERENCE_NATIVE_LINSPACE=1 keeps the installed kernel), so
# both reference sets describe the same torch.
def _use_current_torch_linspace():
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "schedulers", "generate_scheduler_reference.py")
    spec = importlib.util.spec_from_file_location("_schedulers_a_reference", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)


_use_current_torch_linspace()

# ----------------------------------------------------------------------------------------------
# Stubs for diffusers' plumbing.
# ----------------------------------------------------------------------------------------------
DRAWN_NOISE = []  # every tensor randn_tensor returned, in call order


def randn_tensor(shape, generator=None, device=None, dtype=None, layout=None):
    noise = torch.randn(shape, generator=generator, dtype=dtype or torch.float32)
    DRAWN_NOISE.append(noise.clone())
    return noise


class _Config(types.SimpleNamespace):
    def __getitem__(self, key):
        return getattr(self, key)

    def items(self):
        return vars(self).items()


class ConfigMixin:
    def register_to_config(self, **kwargs):
        if not hasattr(self, "config"):
            self.config = _Config()
        for key, value in kwargs.items():
            setattr(self.config, key, value)


def register_to_config(init):
    def inner(self, *args, **kwargs):
        params = list(inspect.signature(init).parameters.items())[1:]
        values = {name: p.default for name, p in params}
        for (name, _), arg in zip(params, args):
            values[name] = arg
        values.update(kwargs)
        self.register_to_config(**values)
        init(self, *args, **kwargs)

    return inner


class BaseOutput(dict):
    def __post_init__(self):
        for f in dataclasses.fields(self):
            self[f.name] = getattr(self, f.name)


class _Logger:
    def warning(self, *a, **k):
        pass

    warn = info = debug = warning


def _install_stubs():
    pkg = types.ModuleType("diffusers")
    pkg.__path__ = []
    sched = types.ModuleType("diffusers.schedulers")
    sched.__path__ = []
    cfg = types.ModuleType("diffusers.configuration_utils")
    cfg.ConfigMixin = ConfigMixin
    cfg.register_to_config = register_to_config
    utils = types.ModuleType("diffusers.utils")
    utils.__path__ = []
    utils.BaseOutput = BaseOutput
    utils.deprecate = lambda *a, **k: None
    utils.is_scipy_available = lambda: True
    utils.logging = types.SimpleNamespace(get_logger=lambda name: _Logger())
    tu = types.ModuleType("diffusers.utils.torch_utils")
    tu.randn_tensor = randn_tensor
    su = types.ModuleType("diffusers.schedulers.scheduling_utils")

    class KarrasDiffusionSchedulers(enum.Enum):
        DDIMScheduler = 1

    @dataclasses.dataclass
    class SchedulerOutput(BaseOutput):
        prev_sample: torch.Tensor

    class SchedulerMixin:
        pass

    su.KarrasDiffusionSchedulers = KarrasDiffusionSchedulers
    su.SchedulerOutput = SchedulerOutput
    su.SchedulerMixin = SchedulerMixin
    su.AysSchedules = {}
    for m in (pkg, sched, cfg, utils, tu, su):
        sys.modules[m.__name__] = m


def _load(module_name):
    path = os.path.join(DIFFUSERS_SRC, "diffusers", "schedulers", module_name + ".py")
    spec = importlib.util.spec_from_file_location("diffusers.schedulers." + module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _sigma_to_t_numpy2(self, sigma, log_sigmas):
    """diffusers' _sigma_to_t with numpy 2's (NEP 50) dtypes, for runs on numpy 1.x: a float64 scalar against the
    float32 log-sigma table gives float64 distances and numerator, while low - high stays a float32 subtraction.
    numpy 1.x's value-based casting kept the distances and the weight in float32, which moves sigma_max to exactly
    N-1 instead of N-1-eps; the exponential/beta schedules truncate timesteps to int64, so that shows as 999 vs
    998. The reference follows current numpy, as NoiseSchedule.SigmaToTimestep does."""
    log_sigma = np.log(np.maximum(np.float64(sigma), 1e-10))
    table = np.asarray(log_sigmas)
    dists = log_sigma - table.astype(np.float64)[:, np.newaxis]
    low_idx = np.cumsum((dists >= 0), axis=0).argmax(axis=0).clip(max=table.shape[0] - 2)
    high_idx = low_idx + 1
    low = table[low_idx]
    high = table[high_idx]
    w = (low.astype(np.float64) - log_sigma) / (low - high).astype(np.float64)
    w = np.clip(w, 0, 1)
    t = (1 - w) * low_idx + w * high_idx
    return t.reshape(np.shape(sigma))


_install_stubs()
DPMMulti = _load("scheduling_dpmsolver_multistep").DPMSolverMultistepScheduler
DPMSingle = _load("scheduling_dpmsolver_singlestep").DPMSolverSinglestepScheduler
UniPC = _load("scheduling_unipc_multistep").UniPCMultistepScheduler
LCM = _load("scheduling_lcm").LCMScheduler
TCD = _load("scheduling_tcd").TCDScheduler
DEIS = _load("scheduling_deis_multistep").DEISMultistepScheduler
if int(np.__version__.split(".")[0]) < 2 and os.environ.get("SCHEDULER_REFERENCE_NATIVE_NUMPY") != "1":
    for _cls in (DPMMulti, DPMSingle, UniPC, DEIS):
        _cls._sigma_to_t = _sigma_to_t_numpy2


# ----------------------------------------------------------------------------------------------
# Recording.
# ----------------------------------------------------------------------------------------------
class F32(float):
    """A float that JSON-encodes as the shortest text that round-trips its float32 value."""

    def __repr__(self):
        return np.format_float_positional(np.float32(self), unique=True, trim="-") if abs(self) >= 1e-4 or self == 0 \
            else np.format_float_scientific(np.float32(self), unique=True, trim="-")


def f32(t):
    return [F32(x) for x in t.detach().to(torch.float32).flatten().tolist()]


def jsonable(v):
    if isinstance(v, float) and math.isinf(v):
        return "-Infinity" if v < 0 else "Infinity"
    if isinstance(v, np.ndarray):
        return v.tolist()
    return v


SHAPE = (1, 4, 2, 2)  # 16 elements: small fixtures, still a (batch, channels, ...) layout for thresholding


def initial_sample(seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(SHAPE, generator=g)


def pattern(seed):
    g = torch.Generator().manual_seed(seed + 1000)
    return torch.randn(SHAPE, generator=g)


def dummy_model(sample, t, base):
    # Deterministic, depends on both the sample and the timestep; float32 throughout.
    tf = float(t)
    return (0.6 * sample + 0.4 * base * math.cos(tf / 250.0)).to(torch.float32)


def run_case(name, cls, config, steps, seed=0, step_kwargs=None, add_noise_indices=(0,)):
    step_kwargs = step_kwargs or {}
    scheduler = cls(**config)
    scheduler.set_timesteps(steps)
    sample = initial_sample(seed) * float(scheduler.init_noise_sigma)
    base = pattern(seed)
    case = {
        "name": name,
        "class": cls.__name__,
        "config": {k: jsonable(v) for k, v in vars(scheduler.config).items()},
        "steps": steps,
        "step_kwargs": step_kwargs,
        "timesteps": [float(t) for t in scheduler.timesteps.tolist()],
        "sigmas": f32(scheduler.sigmas) if hasattr(scheduler, "sigmas") else None,
        "init_noise_sigma": float(scheduler.init_noise_sigma),
        "order": scheduler.order,
        "sample0": f32(sample),
    }
    # add_noise at a few step indices (img2img), on a fresh scheduler as pipelines do
    noisy = []
    for index in add_noise_indices:
        add = cls(**config)
        add.set_timesteps(steps)
        if index >= len(add.timesteps):
            continue
        if hasattr(add, "set_begin_index"):
            add.set_begin_index(index)
        clean = base.clone()
        noise = initial_sample(seed + 7)
        out = add.add_noise(clean, noise, add.timesteps[index:index + 1])
        noisy.append({"index": index, "original": f32(clean), "noise": f32(noise), "result": f32(out)})
    case["add_noise"] = noisy

    DRAWN_NOISE.clear()
    generator = torch.Generator().manual_seed(seed + 42)
    # Step by index, as the C# API does: without a begin index diffusers finds the first step by timestep value,
    # and a repeated first timestep (e.g. cosine + Karras) would make it start at index 1.
    if hasattr(scheduler, "set_begin_index"):
        scheduler.set_begin_index(0)
    outputs, samples = [], []
    for t in scheduler.timesteps:
        model_input = scheduler.scale_model_input(sample, t)
        out = dummy_model(model_input, t, base)
        outputs.append(f32(out))
        kwargs = dict(step_kwargs)
        if "generator" in inspect.signature(scheduler.step).parameters:
            kwargs["generator"] = generator
        sample = scheduler.step(out, t, sample, **kwargs).prev_sample
        samples.append(f32(sample))
    case["model_outputs"] = outputs
    case["samples"] = samples
    case["noise"] = [f32(n) for n in DRAWN_NOISE]
    return case


# ----------------------------------------------------------------------------------------------
# diffusers' own test loops (tests/schedulers/test_scheduler_*.py).
# ----------------------------------------------------------------------------------------------
def dummy_sample_deter():
    n = 4 * 3 * 8 * 8
    s = torch.arange(n).reshape(3, 8, 8, 4) / n
    return s.permute(3, 0, 1, 2)


def diffusers_model(sample, t):
    if isinstance(t, torch.Tensor):
        t = t.reshape(-1, 1, 1, 1).to(sample.device, dtype=sample.dtype)
    return sample * t / (t + 1)


def dummy_noise_deter():
    n = 4 * 3 * 8 * 8
    s = torch.arange(n).flip(-1).reshape(3, 8, 8, 4) / n
    return s.permute(3, 0, 1, 2)


def diffusers_full_loop(cls, config, steps, seed=0, step_kwargs=None, start_index=0, add_noise=False):
    scheduler = cls(**config)
    scheduler.set_timesteps(steps)
    sample = dummy_sample_deter() * scheduler.init_noise_sigma
    timesteps = scheduler.timesteps[start_index:]
    if add_noise:
        sample = scheduler.add_noise(sample, dummy_noise_deter(), timesteps[:1])
    generator = torch.manual_seed(seed)
    DRAWN_NOISE.clear()
    for t in timesteps:
        sample = scheduler.scale_model_input(sample, t)
        residual = diffusers_model(sample, t)
        kwargs = dict(step_kwargs or {})
        if "generator" in inspect.signature(scheduler.step).parameters:
            kwargs["generator"] = generator
        sample = scheduler.step(residual, t, sample, **kwargs).prev_sample
    return scheduler, sample


def diffusers_test_entry(name, cls, config, steps, expected_sum=None, expected_mean=None, seed=0, step_kwargs=None,
                         start_index=0, add_noise=False):
    scheduler, sample = diffusers_full_loop(cls, config, steps, seed, step_kwargs, start_index, add_noise)
    entry = {
        "name": name, "class": cls.__name__,
        "config": {k: jsonable(v) for k, v in vars(scheduler.config).items()},
        "steps": steps, "step_kwargs": step_kwargs or {}, "start_index": start_index, "add_noise": add_noise,
        "sum_abs": float(torch.sum(torch.abs(sample))),
        "mean_abs": float(torch.mean(torch.abs(sample))),
        "expected_sum_abs": expected_sum, "expected_mean_abs": expected_mean,
        "noise": [f32(n) for n in DRAWN_NOISE],
    }
    return entry


def _encode(value):
    # json.dump would print float32 values with 17 digits; F32 prints the shortest round-trip text.
    if isinstance(value, F32):
        return repr(value)
    if isinstance(value, dict):
        return "{" + ",".join(json.dumps(k) + ":" + _encode(v) for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_encode(v) for v in value) + "]"
    return json.dumps(value)


def write(file_name, payload):
    """Writes <file_name>.gz: gzip-compressed JSON (mtime 0, so reruns give identical bytes)."""
    os.makedirs(OUT_DIR, exist_ok=True)
    path = os.path.join(OUT_DIR, file_name + ".gz")
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as f:
        f.write(_encode(payload).encode("utf-8"))
    print(f"{path}: {os.path.getsize(path)} bytes")


SD_BETAS = {"beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear", "num_train_timesteps": 1000}


def dpm_multistep_cases():
    cases = []
    base = dict(SD_BETAS)
    # DPM++ 2M as pipelines configure it, each spacing and step count
    for spacing in ["linspace", "leading", "trailing"]:
        for steps in ([1, 4, 10, 25] if spacing == "linspace" else [4, 10]):
            cfg = dict(base, timestep_spacing=spacing, steps_offset=1 if spacing == "leading" else 0)
            cases.append(run_case(f"2m-{spacing}-{steps}", DPMMulti, cfg, steps))
    # order x algorithm x solver_type x lower_order_final, at 10 steps (< 15, so lower_order_final acts)
    matrix = []
    for algo in ["dpmsolver++", "sde-dpmsolver++", "dpmsolver", "sde-dpmsolver"]:
        matrix.append((1, algo, "midpoint", True))
        for solver_type in ["midpoint", "heun"]:
            matrix.append((2, algo, solver_type, True))
        if algo != "sde-dpmsolver":  # diffusers has no third-order sde-dpmsolver update
            matrix.append((3, algo, "midpoint", True))
    for order in [2, 3]:
        for solver_type in ["midpoint", "heun"]:
            matrix.append((order, "dpmsolver++", solver_type, False))
    for order, algo, solver_type, lof in matrix:
        final = "zero" if algo.endswith("++") else "sigma_min"
        cfg = dict(base, solver_order=order, algorithm_type=algo, solver_type=solver_type,
                   lower_order_final=lof, final_sigmas_type=final)
        cases.append(run_case(f"o{order}-{algo}-{solver_type}-lof{int(lof)}-10", DPMMulti, cfg, 10, seed=order))
    for sig in ["use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas"]:
        for algo in ["dpmsolver++", "sde-dpmsolver++"]:
            cfg = dict(base, **{sig: True}, algorithm_type=algo)
            cases.append(run_case(f"{sig}-{algo}-10", DPMMulti, cfg, 10, seed=3))
    cases.append(run_case("karras-25", DPMMulti, dict(base, use_karras_sigmas=True), 25, seed=4))
    cases.append(run_case("use_lu_lambdas-10", DPMMulti, dict(base, use_lu_lambdas=True), 10, seed=6))
    cases.append(run_case("use_lu_lambdas-sde-v-10", DPMMulti, dict(base, use_lu_lambdas=True, algorithm_type="sde-dpmsolver++",
                                                                   prediction_type="v_prediction"), 10, seed=6))
    for pred in ["v_prediction", "sample"]:
        for algo in ["dpmsolver++", "dpmsolver"]:
            cfg = dict(base, prediction_type=pred, algorithm_type=algo,
                       final_sigmas_type="zero" if algo == "dpmsolver++" else "sigma_min")
            cases.append(run_case(f"{pred}-{algo}-10", DPMMulti, cfg, 10, seed=5))
    cases.append(run_case("sigma_min-10", DPMMulti, dict(base, final_sigmas_type="sigma_min"), 10))
    cases.append(run_case("euler_at_final-sde-4", DPMMulti,
                          dict(base, euler_at_final=True, algorithm_type="sde-dpmsolver++",
                               final_sigmas_type="sigma_min"), 4))
    cases.append(run_case("cosine-lambda_min_clipped-10", DPMMulti,
                          dict(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2", lambda_min_clipped=-5.1), 10))
    cases.append(run_case("cosine-karras-10", DPMMulti,
                          dict(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2", use_karras_sigmas=True), 10))
    cases.append(run_case("thresholding-10", DPMMulti,
                          dict(base, thresholding=True, dynamic_thresholding_ratio=0.87, sample_max_value=0.5,
                               prediction_type="sample"), 10))
    cases.append(run_case("rescale_zero_snr-trailing-10", DPMMulti,
                          dict(base, rescale_betas_zero_snr=True, timestep_spacing="trailing", prediction_type="v_prediction"), 10))
    cases.append(run_case("linear-betas-10", DPMMulti,
                          dict(num_train_timesteps=1000, beta_start=0.0001, beta_end=0.02, beta_schedule="linear"), 10))
    return cases


def dpm_multistep_diffusers_tests():
    cfg = {"num_train_timesteps": 1000, "beta_start": 0.0001, "beta_end": 0.02, "beta_schedule": "linear",
           "solver_order": 2, "prediction_type": "epsilon", "thresholding": False, "sample_max_value": 1.0,
           "algorithm_type": "dpmsolver++", "solver_type": "midpoint", "lower_order_final": False,
           "euler_at_final": False, "lambda_min_clipped": -float("inf"), "variance_type": None,
           "final_sigmas_type": "sigma_min"}
    e = [diffusers_test_entry("test_full_loop_no_noise", DPMMulti, cfg, 10, expected_mean=0.3301),
         diffusers_test_entry("test_full_loop_no_noise_thres", DPMMulti,
                              dict(cfg, thresholding=True, dynamic_thresholding_ratio=0.87, sample_max_value=0.5),
                              10, expected_mean=1.1364),
         diffusers_test_entry("test_full_loop_with_v_prediction", DPMMulti, dict(cfg, prediction_type="v_prediction"),
                              10, expected_mean=0.2251),
         diffusers_test_entry("test_full_loop_with_karras_and_v_prediction", DPMMulti,
                              dict(cfg, prediction_type="v_prediction", use_karras_sigmas=True), 10,
                              expected_mean=0.2096),
         diffusers_test_entry("test_full_loop_with_lu_and_v_prediction", DPMMulti,
                              dict(cfg, prediction_type="v_prediction", use_lu_lambdas=True), 10, expected_mean=0.1554),
         diffusers_test_entry("test_full_loop_with_noise", DPMMulti, cfg, 10, expected_sum=318.4111,
                              expected_mean=0.4146, start_index=5, add_noise=True)]
    return e


def dpm_singlestep_cases():
    cases = []
    base = dict(SD_BETAS)
    for steps in [1, 4, 10, 25]:
        cases.append(run_case(f"2s-{steps}", DPMSingle, dict(base), steps))
    for order in [1, 2, 3]:
        for algo in ["dpmsolver++", "sde-dpmsolver++", "dpmsolver"]:
            for solver_type in (["midpoint", "heun"] if order >= 2 else ["midpoint"]):
                final = "zero" if algo.endswith("++") else "sigma_min"
                cfg = dict(base, solver_order=order, algorithm_type=algo, solver_type=solver_type, final_sigmas_type=final)
                cases.append(run_case(f"o{order}-{algo}-{solver_type}-10", DPMSingle, cfg, 10, seed=order))
    # lower_order_final stays off only for sigma_min and a step count divisible by the order
    cases.append(run_case("o3-sigma_min-lof0-9", DPMSingle, dict(base, solver_order=3, final_sigmas_type="sigma_min"), 9))
    cases.append(run_case("o3-sigma_min-lof0-heun-12", DPMSingle,
                          dict(base, solver_order=3, solver_type="heun", final_sigmas_type="sigma_min"), 12))
    cases.append(run_case("o2-sigma_min-lof1-10", DPMSingle,
                          dict(base, solver_order=2, final_sigmas_type="sigma_min", lower_order_final=True), 10))
    for sig in ["use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas"]:
        cases.append(run_case(f"{sig}-10", DPMSingle, dict(base, **{sig: True}), 10, seed=3))
    for pred in ["v_prediction", "sample"]:
        cases.append(run_case(f"{pred}-10", DPMSingle, dict(base, prediction_type=pred), 10, seed=5))
    cases.append(run_case("thresholding-10", DPMSingle,
                          dict(base, thresholding=True, dynamic_thresholding_ratio=0.87, sample_max_value=0.5,
                               prediction_type="sample"), 10))
    cases.append(run_case("cosine-karras-lambda_min_clipped-10", DPMSingle,
                          dict(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2", use_karras_sigmas=True,
                               lambda_min_clipped=-5.1), 10))
    cases.append(run_case("cosine-lambda_min_clipped-10", DPMSingle,
                          dict(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2", lambda_min_clipped=-5.1), 10))
    return cases


def dpm_singlestep_diffusers_tests():
    cfg = {"num_train_timesteps": 1000, "beta_start": 0.0001, "beta_end": 0.02, "beta_schedule": "linear",
           "solver_order": 2, "prediction_type": "epsilon", "thresholding": False, "sample_max_value": 1.0,
           "algorithm_type": "dpmsolver++", "solver_type": "midpoint", "lambda_min_clipped": -float("inf"),
           "variance_type": None, "final_sigmas_type": "sigma_min"}
    return [diffusers_test_entry("test_full_loop_no_noise", DPMSingle, cfg, 10, expected_mean=0.2791),
            diffusers_test_entry("test_full_loop_with_karras", DPMSingle, dict(cfg, use_karras_sigmas=True), 10,
                                 expected_mean=0.2248),
            diffusers_test_entry("test_full_loop_with_v_prediction", DPMSingle, dict(cfg, prediction_type="v_prediction"),
                                 10, expected_mean=0.1453),
            diffusers_test_entry("test_full_loop_with_karras_and_v_prediction", DPMSingle,
                                 dict(cfg, prediction_type="v_prediction", use_karras_sigmas=True), 10, expected_mean=0.0649),
            diffusers_test_entry("test_full_uneven_loop", DPMSingle, cfg, 50, expected_mean=0.2574, start_index=3),
            diffusers_test_entry("test_full_loop_with_noise", DPMSingle, cfg, 10, expected_sum=269.2187,
                                 expected_mean=0.3505, start_index=5, add_noise=True)]


def unipc_cases():
    cases = []
    base = dict(SD_BETAS)
    for spacing in ["linspace", "leading", "trailing"]:
        for steps in ([1, 4, 10, 25] if spacing == "linspace" else [10]):
            cfg = dict(base, timestep_spacing=spacing, steps_offset=1 if spacing == "leading" else 0)
            cases.append(run_case(f"bh2-{spacing}-{steps}", UniPC, cfg, steps))
    for order in [1, 2, 3]:
        for solver_type in ["bh1", "bh2"]:
            for predict_x0 in [True, False]:
                # bh1 or predict_x0=False with a zero final sigma end in 0*inf = NaN in diffusers' last
                # predictor step; those use sigma_min
                final = "sigma_min" if solver_type == "bh1" or not predict_x0 else "zero"
                cfg = dict(base, solver_order=order, solver_type=solver_type, predict_x0=predict_x0, final_sigmas_type=final)
                cases.append(run_case(f"o{order}-{solver_type}-x0{int(predict_x0)}-10", UniPC, cfg, 10, seed=order))
    # (lower_order_final=False with a zero final sigma makes diffusers' last third-order solve singular)
    cases.append(run_case("o3-lof0-sigma_min-10", UniPC,
                          dict(base, solver_order=3, lower_order_final=False, final_sigmas_type="sigma_min"), 10))
    cases.append(run_case("disable_corrector-10", UniPC, dict(base, disable_corrector=[0, 3, 4]), 10))
    for sig in ["use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas"]:
        cases.append(run_case(f"{sig}-10", UniPC, dict(base, **{sig: True}), 10, seed=3))
        cases.append(run_case(f"{sig}-sigma_min-10", UniPC, dict(base, **{sig: True}, final_sigmas_type="sigma_min"), 10, seed=3))
    cases.append(run_case("karras-bounds-10", UniPC, dict(base, use_karras_sigmas=True, sigma_min=0.05, sigma_max=10.0), 10))
    for pred in ["v_prediction", "sample"]:
        for predict_x0 in [True, False]:
            cases.append(run_case(f"{pred}-x0{int(predict_x0)}-10", UniPC,
                                  dict(base, prediction_type=pred, predict_x0=predict_x0,
                                       final_sigmas_type="zero" if predict_x0 else "sigma_min"), 10, seed=5))
    cases.append(run_case("thresholding-10", UniPC,
                          dict(base, thresholding=True, dynamic_thresholding_ratio=0.87, sample_max_value=0.5,
                               prediction_type="sample"), 10))
    cases.append(run_case("rescale_zero_snr-trailing-v-10", UniPC,
                          dict(base, rescale_betas_zero_snr=True, timestep_spacing="trailing", prediction_type="v_prediction"), 10))
    cases.append(run_case("cosine-10", UniPC, dict(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2"), 10))
    return cases


def unipc_diffusers_tests():
    cfg = {"num_train_timesteps": 1000, "beta_start": 0.0001, "beta_end": 0.02, "beta_schedule": "linear",
           "solver_order": 2, "solver_type": "bh2", "final_sigmas_type": "sigma_min"}
    return [diffusers_test_entry("test_full_loop_no_noise", UniPC, cfg, 10, expected_mean=0.2464),
            diffusers_test_entry("test_full_loop_with_karras", UniPC, dict(cfg, use_karras_sigmas=True), 10,
                                 expected_mean=0.2925),
            diffusers_test_entry("test_full_loop_with_v_prediction", UniPC, dict(cfg, prediction_type="v_prediction"),
                                 10, expected_mean=0.1014),
            diffusers_test_entry("test_full_loop_with_karras_and_v_prediction", UniPC,
                                 dict(cfg, prediction_type="v_prediction", use_karras_sigmas=True), 10, expected_mean=0.1966),
            diffusers_test_entry("test_full_loop_with_noise", UniPC, cfg, 10, expected_sum=315.5757,
                                 expected_mean=0.4109, start_index=8, add_noise=True)]


def lcm_cases():
    cases = []
    base = dict(SD_BETAS)
    for steps in [1, 2, 4, 8]:
        cases.append(run_case(f"lcm-{steps}", LCM, dict(base), steps))
    for pred in ["v_prediction", "sample"]:
        cases.append(run_case(f"lcm-{pred}-4", LCM, dict(base, prediction_type=pred), 4, seed=5))
    cases.append(run_case("lcm-clip-4", LCM, dict(base, clip_sample=True, clip_sample_range=0.8), 4))
    cases.append(run_case("lcm-thresholding-4", LCM, dict(base, thresholding=True, dynamic_thresholding_ratio=0.87,
                                                          sample_max_value=1.5), 4))
    cases.append(run_case("lcm-original25-scaling5-6", LCM, dict(base, original_inference_steps=25, timestep_scaling=5.0), 6))
    cases.append(run_case("lcm-7-of-50", LCM, dict(base), 7))
    return cases


def lcm_diffusers_tests():
    cfg = {"num_train_timesteps": 1000, "beta_start": 0.00085, "beta_end": 0.0120, "beta_schedule": "scaled_linear",
           "prediction_type": "epsilon"}
    return [diffusers_test_entry("test_full_loop_onestep", LCM, cfg, 1, expected_sum=18.7097, expected_mean=0.0244),
            diffusers_test_entry("test_full_loop_multistep", LCM, cfg, 10, expected_sum=197.7616, expected_mean=0.2575)]


def tcd_cases():
    cases = []
    base = dict(SD_BETAS)
    for steps in [1, 2, 4, 8]:
        cases.append(run_case(f"tcd-gamma0.3-{steps}", TCD, dict(base), steps, step_kwargs={"eta": 0.3}))
    for gamma in [0.0, 0.5, 1.0]:
        cases.append(run_case(f"tcd-gamma{gamma}-4", TCD, dict(base), 4, step_kwargs={"eta": gamma}))
    for pred in ["v_prediction", "sample"]:
        cases.append(run_case(f"tcd-{pred}-4", TCD, dict(base, prediction_type=pred), 4, seed=5, step_kwargs={"eta": 0.3}))
    cases.append(run_case("tcd-7-of-50", TCD, dict(base), 7, step_kwargs={"eta": 0.3}))
    return cases


def tcd_diffusers_tests():
    cfg = {"num_train_timesteps": 1000, "beta_start": 0.00085, "beta_end": 0.0120, "beta_schedule": "scaled_linear",
           "prediction_type": "epsilon"}
    return [diffusers_test_entry("test_full_loop_onestep_deter", TCD, cfg, 1, expected_sum=29.8715, expected_mean=0.0389,
                                 step_kwargs={"eta": 0.0}),
            diffusers_test_entry("test_full_loop_multistep_deter", TCD, cfg, 10, expected_sum=181.2040,
                                 expected_mean=0.2359, step_kwargs={"eta": 0.0})]


def deis_cases():
    cases = []
    base = dict(SD_BETAS)
    for spacing in ["linspace", "leading", "trailing"]:
        for steps in ([1, 4, 10, 25] if spacing == "linspace" else [4, 10]):
            cfg = dict(base, timestep_spacing=spacing, steps_offset=1 if spacing == "leading" else 0)
            cases.append(run_case(f"deis2-{spacing}-{steps}", DEIS, cfg, steps))
    for order in [1, 2, 3]:
        for lof in [True, False]:
            cfg = dict(base, solver_order=order, lower_order_final=lof)
            cases.append(run_case(f"o{order}-lof{int(lof)}-10", DEIS, cfg, 10, seed=order))
    cases.append(run_case("o3-20", DEIS, dict(base, solver_order=3), 20, seed=7))
    for sig in ["use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas"]:
        cases.append(run_case(f"{sig}-10", DEIS, dict(base, **{sig: True}), 10, seed=3))
        cases.append(run_case(f"{sig}-o3-10", DEIS, dict(base, **{sig: True}, solver_order=3), 10, seed=3))
    for pred in ["v_prediction", "sample"]:
        cases.append(run_case(f"{pred}-10", DEIS, dict(base, prediction_type=pred), 10, seed=5))
    cases.append(run_case("thresholding-10", DEIS,
                          dict(base, thresholding=True, dynamic_thresholding_ratio=0.87, sample_max_value=0.5,
                               prediction_type="sample"), 10))
    cases.append(run_case("cosine-10", DEIS, dict(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2"), 10))
    cases.append(run_case("cosine-karras-10", DEIS,
                          dict(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2", use_karras_sigmas=True), 10))
    cases.append(run_case("linear-betas-o3-10", DEIS,
                          dict(num_train_timesteps=1000, beta_start=0.0001, beta_end=0.02, beta_schedule="linear",
                               solver_order=3), 10))
    cases.append(run_case("dpmsolver-keys-read-as-deis-10", DEIS,
                          dict(base, algorithm_type="dpmsolver++", solver_type="midpoint"), 10))
    return cases


def deis_diffusers_tests():
    # diffusers' tests/schedulers/test_scheduler_deis.py (get_scheduler_config + full_loop)
    cfg = {"num_train_timesteps": 1000, "beta_start": 0.0001, "beta_end": 0.02, "beta_schedule": "linear",
           "solver_order": 2}
    return [diffusers_test_entry("test_full_loop_no_noise", DEIS, cfg, 10, expected_mean=0.23916),
            diffusers_test_entry("test_full_loop_with_v_prediction", DEIS, dict(cfg, prediction_type="v_prediction"),
                                 10, expected_mean=0.091),
            diffusers_test_entry("test_full_loop_with_noise", DEIS, cfg, 10, expected_sum=315.3016,
                                 expected_mean=0.41054, start_index=8, add_noise=True)]


SD15_CONFIG = {  # runwayml/stable-diffusion-v1-5 scheduler/scheduler_config.json (no timestep_spacing)
    "_class_name": "PNDMScheduler", "_diffusers_version": "0.6.0", "beta_end": 0.012, "beta_schedule": "scaled_linear",
    "beta_start": 0.00085, "num_train_timesteps": 1000, "set_alpha_to_one": False, "skip_prk_steps": True,
    "steps_offset": 1, "trained_betas": None, "clip_sample": False}
TINY_SD_CONFIG = {  # /work/shared/models/tiny-sd/scheduler/scheduler_config.json
    "_class_name": "PNDMScheduler", "_diffusers_version": "0.21.0", "beta_end": 0.012, "beta_schedule": "scaled_linear",
    "beta_start": 0.00085, "clip_sample": False, "num_train_timesteps": 1000, "prediction_type": "epsilon",
    "set_alpha_to_one": False, "skip_prk_steps": True, "steps_offset": 1, "timestep_spacing": "leading", "trained_betas": None}
SDXL_CONFIG = {  # stabilityai/stable-diffusion-xl-base-1.0 scheduler/scheduler_config.json
    "_class_name": "EulerDiscreteScheduler", "_diffusers_version": "0.19.0.dev0", "beta_end": 0.012,
    "beta_schedule": "scaled_linear", "beta_start": 0.00085, "clip_sample": False, "interpolation_type": "linear",
    "num_train_timesteps": 1000, "prediction_type": "epsilon", "sample_max_value": 1.0, "set_alpha_to_one": False,
    "skip_prk_steps": True, "steps_offset": 1, "timestep_spacing": "leading", "trained_betas": None,
    "use_karras_sigmas": False}

# diffusers' documented A1111 -> diffusers mapping, plus ComfyUI names as SchedulerCatalog maps them
CATALOG_NAMES = {
    "DDIM": ("scheduling_ddim", "DDIMScheduler", {}),
    "PLMS": ("scheduling_pndm", "PNDMScheduler", {"skip_prk_steps": True}),
    "LMS": ("scheduling_lms_discrete", "LMSDiscreteScheduler", {}),
    "LMS Karras": ("scheduling_lms_discrete", "LMSDiscreteScheduler", {"use_karras_sigmas": True}),
    "Euler": ("scheduling_euler_discrete", "EulerDiscreteScheduler", {}),
    "Euler a": ("scheduling_euler_ancestral_discrete", "EulerAncestralDiscreteScheduler", {}),
    "Heun": ("scheduling_heun_discrete", "HeunDiscreteScheduler", {}),
    "DPM2": ("scheduling_k_dpm_2_discrete", "KDPM2DiscreteScheduler", {}),
    "DPM2 Karras": ("scheduling_k_dpm_2_discrete", "KDPM2DiscreteScheduler", {"use_karras_sigmas": True}),
    "DPM2 a": ("scheduling_k_dpm_2_ancestral_discrete", "KDPM2AncestralDiscreteScheduler", {}),
    "DPM++ 2M": ("scheduling_dpmsolver_multistep", "DPMSolverMultistepScheduler", {}),
    "DPM++ 2M Karras": ("scheduling_dpmsolver_multistep", "DPMSolverMultistepScheduler", {"use_karras_sigmas": True}),
    "DPM++ 2M SDE": ("scheduling_dpmsolver_multistep", "DPMSolverMultistepScheduler", {"algorithm_type": "sde-dpmsolver++"}),
    "DPM++ 2M SDE Karras": ("scheduling_dpmsolver_multistep", "DPMSolverMultistepScheduler",
                            {"algorithm_type": "sde-dpmsolver++", "use_karras_sigmas": True}),
    "DPM++ 2S a": ("scheduling_dpmsolver_singlestep", "DPMSolverSinglestepScheduler", {}),
    "UniPC": ("scheduling_unipc_multistep", "UniPCMultistepScheduler", {}),
    "LCM": ("scheduling_lcm", "LCMScheduler", {}),
    "DDPM": ("scheduling_ddpm", "DDPMScheduler", {}),
    "dpmpp_2m+karras": ("scheduling_dpmsolver_multistep", "DPMSolverMultistepScheduler",
                        {"use_karras_sigmas": True}),
    "euler+normal": ("scheduling_euler_discrete", "EulerDiscreteScheduler", {"timestep_spacing": "linspace"}),
    "ddim+ddim_uniform": ("scheduling_ddim", "DDIMScheduler", {"timestep_spacing": "leading", "steps_offset": 1}),
    "uni_pc": ("scheduling_unipc_multistep", "UniPCMultistepScheduler", {"solver_type": "bh1"}),
    "dpmpp_2m_sde+sgm_uniform": ("scheduling_dpmsolver_multistep", "DPMSolverMultistepScheduler",
                                 {"algorithm_type": "sde-dpmsolver++", "timestep_spacing": "trailing"}),
    "EulerDiscreteScheduler": ("scheduling_euler_discrete", "EulerDiscreteScheduler", {}),
    "DPMSolverMultistepScheduler": ("scheduling_dpmsolver_multistep", "DPMSolverMultistepScheduler", {}),
}


CLASS_MODULES = {
    "DDIMScheduler": "scheduling_ddim", "DDPMScheduler": "scheduling_ddpm", "PNDMScheduler": "scheduling_pndm",
    "LMSDiscreteScheduler": "scheduling_lms_discrete", "EulerDiscreteScheduler": "scheduling_euler_discrete",
    "EulerAncestralDiscreteScheduler": "scheduling_euler_ancestral_discrete",
    "HeunDiscreteScheduler": "scheduling_heun_discrete", "KDPM2DiscreteScheduler": "scheduling_k_dpm_2_discrete",
    "KDPM2AncestralDiscreteScheduler": "scheduling_k_dpm_2_ancestral_discrete",
    "DPMSolverMultistepScheduler": "scheduling_dpmsolver_multistep",
    "DPMSolverSinglestepScheduler": "scheduling_dpmsolver_singlestep",
    "UniPCMultistepScheduler": "scheduling_unipc_multistep", "DEISMultistepScheduler": "scheduling_deis_multistep",
    "LCMScheduler": "scheduling_lcm", "TCDScheduler": "scheduling_tcd",
}


def from_config(module, class_name, file_config, overrides):
    """diffusers' Class.from_config(pipe.scheduler.config, **overrides): only keys the file set carry over
    (the rest are in _use_default_values and take the new class's defaults)."""
    cls = getattr(_load(module), class_name)
    params = inspect.signature(cls.__init__.__closure__[0].cell_contents).parameters
    kwargs = {k: v for k, v in file_config.items() if k in params and not k.startswith("_")}
    kwargs.update(overrides)
    return cls(**kwargs)


def catalog_cases():
    cases = []
    for config_name, file_config in [("sd15", SD15_CONFIG), ("tiny-sd", TINY_SD_CONFIG), ("sdxl", SDXL_CONFIG)]:
        for name, (module, class_name, overrides) in CATALOG_NAMES.items():
            scheduler = from_config(module, class_name, file_config, overrides)
            steps = 4 if class_name == "LCMScheduler" else 10
            scheduler.set_timesteps(steps)
            cases.append({
                "config_name": config_name, "json": json.dumps(file_config), "name": name, "class": class_name,
                "steps": steps, "timesteps": [float(t) for t in scheduler.timesteps.tolist()],
                "sigmas": f32(scheduler.sigmas) if hasattr(scheduler, "sigmas") else None,
                "init_noise_sigma": float(scheduler.init_noise_sigma),
            })
    # CreateFromConfig of a file naming each class (SD 1.5's keys: no timestep_spacing, steps_offset 1), so every
    # class fills the keys the file left out with its own defaults
    for class_name, module in CLASS_MODULES.items():
        file_config = dict(SD15_CONFIG, _class_name=class_name)
        scheduler = from_config(module, class_name, file_config, {})
        steps = 4 if class_name in ("LCMScheduler", "TCDScheduler") else 10
        for count in (4, steps):
            scheduler.set_timesteps(count)
            cases.append({
                "config_name": "sd15-as-" + class_name, "json": json.dumps(file_config), "name": None, "class": class_name,
                "steps": count, "timesteps": [float(t) for t in scheduler.timesteps.tolist()],
                "sigmas": f32(scheduler.sigmas) if hasattr(scheduler, "sigmas") else None,
                "init_noise_sigma": float(scheduler.init_noise_sigma),
            })
    # CreateFromConfig: each file's own class
    for config_name, file_config in [("sd15", SD15_CONFIG), ("sdxl", SDXL_CONFIG)]:
        module = {"PNDMScheduler": "scheduling_pndm", "EulerDiscreteScheduler": "scheduling_euler_discrete"}[file_config["_class_name"]]
        scheduler = from_config(module, file_config["_class_name"], file_config, {})
        scheduler.set_timesteps(10)
        cases.append({
            "config_name": config_name, "json": json.dumps(file_config), "name": None, "class": file_config["_class_name"],
            "steps": 10, "timesteps": [float(t) for t in scheduler.timesteps.tolist()],
            "sigmas": f32(scheduler.sigmas) if hasattr(scheduler, "sigmas") else None,
            "init_noise_sigma": float(scheduler.init_noise_sigma),
        })
    return cases


def main():
    torch.set_num_threads(1)
    write("dpm_multistep.json", {"cases": dpm_multistep_cases(), "diffusers_tests": dpm_multistep_diffusers_tests()})
    write("dpm_singlestep.json", {"cases": dpm_singlestep_cases(), "diffusers_tests": dpm_singlestep_diffusers_tests()})
    write("unipc_multistep.json", {"cases": unipc_cases(), "diffusers_tests": unipc_diffusers_tests()})
    write("lcm.json", {"cases": lcm_cases(), "diffusers_tests": lcm_diffusers_tests()})
    write("tcd.json", {"cases": tcd_cases(), "diffusers_tests": tcd_diffusers_tests()})
    write("deis_multistep.json", {"cases": deis_cases(), "diffusers_tests": deis_diffusers_tests()})
    write("catalog.json", {"cases": catalog_cases()})


if __name__ == "__main__":
    main()
