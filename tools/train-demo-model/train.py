#!/usr/bin/python3
"""Trains the built-in demo model (64x64 captioned shapes) from scratch and exports an SD 1.x ONNX folder.

    /usr/bin/python3 tools/train-demo-model/train.py --out models/demo-shapes

Deterministic for a given machine set-up: fixed seeds, torch.use_deterministic_algorithms, fixed thread
count, step counts (not time budgets). See README.md next to this file.
"""
import argparse
import io
import json
import math
import os
import platform
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import analyser  # noqa: E402
import bpe  # noqa: E402
import models  # noqa: E402
import scenes  # noqa: E402

BETA_START, BETA_END, TRAIN_STEPS = 0.00085, 0.012, 1000
# The exported VAE's latents are the trained encoder's times this gain (the decoder divides it back out). The
# trained latents have a standard deviation near 1, so without it the scaling factor would be ~1.09 and a pipeline
# that forgets to apply the factor would decode almost the right latents. With it, the factor is ~0.27 (SD's VAE:
# 0.18215): far from 1, so that porting bug wrecks the images and the evaluation's control can see it. The UNet is
# trained on (trained latents x factor), which the gain does not change.
LATENT_GAIN = 4.0
# Step budgets of the committed model (the defaults; the model card names only budgets that differ).
DEFAULT_VAE_STEPS, DEFAULT_UNET_STEPS = 1800, 7000
T0 = time.time()


def log(msg):
    print(f"[{time.time() - T0:7.1f}s] {msg}", flush=True)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="output model folder (diffusers ONNX layout)")
    p.add_argument("--work", default="/tmp/demo-shapes-work", help="checkpoints and scratch files")
    p.add_argument("--seed", type=int, default=20261125)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--pool", type=int, default=16000, help="generated training images")
    p.add_argument("--vae-steps", type=int, default=DEFAULT_VAE_STEPS)
    p.add_argument("--vae-batch", type=int, default=32)
    p.add_argument("--vae-lr", type=float, default=1e-3)
    p.add_argument("--unet-steps", type=int, default=DEFAULT_UNET_STEPS)
    p.add_argument("--unet-batch", type=int, default=64)
    p.add_argument("--unet-lr", type=float, default=1e-3)
    p.add_argument("--cfg-dropout", type=float, default=0.1)
    p.add_argument("--guidance", type=float, default=6.0)
    p.add_argument("--sample-steps", type=int, default=20)
    p.add_argument("--reuse-vae", action="store_true", help="load <work>/vae.pt instead of training the VAE")
    p.add_argument("--reuse-unet", action="store_true",
                   help="load the EMA weights of <work>/unet-<unet-steps>.pt (kept every 1000 steps) or else "
                        "<work>/unet.pt (the latest, saved every 100 steps) instead of training")
    p.add_argument("--stop-after-vae", action="store_true", help="train (or reuse) the VAE, report, stop")
    p.add_argument("--smoke", action="store_true", help="tiny budget, to test the whole tool end to end")
    p.add_argument("--eval-prompts", default=os.path.join(HERE, "eval_prompts.json"))
    p.add_argument("--eval-results", default=os.path.join(HERE, "eval_results.json"))
    a = p.parse_args()
    if a.smoke:
        a.pool = 512
    return a


def setup(args):
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    os.makedirs(args.work, exist_ok=True)


def to_tensor(images_uint8):
    return torch.from_numpy(images_uint8).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def to_uint8(x):
    return ((x.clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def lr_at(step, peak, warmup):
    """Linear warm-up then 1/sqrt decay. Depends on the step only, never on the total, so a run with
    --*-steps k ends in exactly the state a longer run passes through at step k (checkpoints are usable)."""
    n = step + 1
    return peak * min(n / warmup, math.sqrt(warmup / n))


# ---------------------------------------------------------------------------------------------- evaluation set

def eval_prompts(seed):
    """Seen: 60 captions over training combinations; held-out: every held-out combination x size x position."""
    rng = np.random.default_rng(seed + 1)
    entries = []
    train = scenes.training_combinations()
    order = rng.permutation(len(train))[:60]
    for k, ci in enumerate(order):
        shape, fg, bg = train[ci]
        size = list(scenes.SIZES)[k % 2]
        position = scenes.POSITIONS[int(rng.integers(len(scenes.POSITIONS)))]
        entries.append((shape, fg, bg, size, position, "seen"))
    for shape, fg, bg in scenes.HELD_OUT:
        for size in scenes.SIZES:
            for position in scenes.POSITIONS:
                entries.append((shape, fg, bg, size, position, "held-out"))
    out = []
    for i, (shape, fg, bg, size, position, split) in enumerate(entries):
        out.append({"caption": scenes.caption(shape, fg, bg, size, position), "split": split, "seed": i,
                    "expected": {"shape": shape, "foreground": fg, "background": bg, "size": size,
                                 "position": position}})
    return out


def ground_truth_images(prompts, seed):
    rng = np.random.default_rng(seed + 2)
    imgs = []
    for p in prompts:
        e = p["expected"]
        img, _, _ = scenes.scene(rng, e["shape"], e["foreground"], e["background"], e["size"], e["position"])
        imgs.append(img)
    return np.stack(imgs)


def split_scores(images, prompts):
    res = {}
    for split in ("seen", "held-out"):
        idx = [i for i, p in enumerate(prompts) if p["split"] == split]
        acc, _ = analyser.score([images[i] for i in idx], [prompts[i]["expected"] for i in idx])
        res[split] = acc
    return res


# ---------------------------------------------------------------------------------------------- VAE

def edge_weights(x):
    """1 + 4 near colour edges of the target (3x3-dilated), so corners and outlines dominate the loss."""
    dx = (x[:, :, :, 1:] - x[:, :, :, :-1]).abs().amax(1, keepdim=True)
    dy = (x[:, :, 1:, :] - x[:, :, :-1, :]).abs().amax(1, keepdim=True)
    e = torch.zeros_like(x[:, :1])
    e[:, :, :, 1:] = torch.maximum(e[:, :, :, 1:], dx)
    e[:, :, 1:, :] = torch.maximum(e[:, :, 1:, :], dy)
    e = F.max_pool2d((e > 0.02).float(), 3, stride=1, padding=1)
    return 1.0 + 4.0 * e


def train_vae(args, pool):
    torch.manual_seed(args.seed + 10)
    enc, dec = models.VaeEncoder(), models.VaeDecoder()
    with torch.no_grad():
        enc.conv_out.bias[4:].fill_(-6.0)  # start with a near-deterministic posterior
    params = list(enc.parameters()) + list(dec.parameters())
    opt = torch.optim.AdamW(params, lr=args.vae_lr, betas=(0.9, 0.99), weight_decay=0.0)
    rng = np.random.default_rng(args.seed + 11)
    gen = torch.Generator().manual_seed(args.seed + 12)
    warmup = 100
    t0 = time.time()
    run_l1 = run_psnr = 0.0
    for step in range(args.vae_steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(step, args.vae_lr, warmup)
        x = to_tensor(pool[rng.integers(len(pool), size=args.vae_batch)])
        mean, logvar = enc(x)
        z = mean + torch.exp(0.5 * logvar) * torch.randn(mean.shape, generator=gen)
        y = dec(z)
        w = edge_weights(x)
        l1 = (w * (y - x).abs()).mean() / w.mean()
        mse = (y - x).pow(2).mean()
        kl = 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).mean()
        loss = l1 + mse + 1e-5 * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        run_l1 += l1.item()
        run_psnr += 10 * math.log10(4.0 / max(mse.item(), 1e-10))
        if (step + 1) % 100 == 0 or step + 1 == args.vae_steps:
            n = (step % 100) + 1
            log(f"vae step {step + 1}/{args.vae_steps} l1w {run_l1 / n:.4f} psnr {run_psnr / n:.2f} dB "
                f"kl {kl.item():.2f} ({(time.time() - t0) / (step + 1):.3f} s/step)")
            run_l1 = run_psnr = 0.0
            torch.save({"enc": enc.state_dict(), "dec": dec.state_dict(), "step": step + 1,
                        "seconds": time.time() - t0}, os.path.join(args.work, "vae.pt"))
    enc.eval()
    dec.eval()
    return enc, dec, time.time() - t0


@torch.no_grad()
def encode_mean(enc, images, batch=256):
    out = []
    for i in range(0, len(images), batch):
        out.append(enc(to_tensor(images[i:i + batch]))[0])
    return torch.cat(out)


@torch.no_grad()
def decode(dec, latents, batch=256):
    out = []
    for i in range(0, len(latents), batch):
        out.append(dec(latents[i:i + batch]))
    return torch.cat(out)


# ---------------------------------------------------------------------------------------------- diffusion

def alphas_cumprod():
    betas = torch.linspace(BETA_START ** 0.5, BETA_END ** 0.5, TRAIN_STEPS, dtype=torch.float64) ** 2
    return torch.cumprod(1.0 - betas, 0).float()


class Ema:
    def __init__(self, modules, decay):
        self.decay = decay
        self.shadow = [[p.detach().clone() for p in m.parameters()] for m in modules]
        self.modules = modules
        self.updates = 0

    @torch.no_grad()
    def update(self):
        self.updates += 1
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for m, sh in zip(self.modules, self.shadow):
            for s, p in zip(sh, m.parameters()):
                s.mul_(d).add_(p.detach(), alpha=1 - d)

    @torch.no_grad()
    def copy_to(self):
        for m, sh in zip(self.modules, self.shadow):
            for s, p in zip(sh, m.parameters()):
                p.copy_(s)


def train_unet(args, latents, ids, empty_ids, vocab_size):
    torch.manual_seed(args.seed + 20)
    text = models.TextEncoder(vocab_size)
    unet = models.UNet(context_dim=64)
    params = list(text.parameters()) + list(unet.parameters())
    opt = torch.optim.AdamW(params, lr=args.unet_lr, betas=(0.9, 0.99), weight_decay=0.01)
    ema = Ema([text, unet], 0.999)
    ac = alphas_cumprod()
    rng = np.random.default_rng(args.seed + 21)
    gen = torch.Generator().manual_seed(args.seed + 22)
    warmup = 200
    t0 = time.time()
    run = 0.0
    for step in range(args.unet_steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(step, args.unet_lr, warmup)
        idx = torch.from_numpy(rng.integers(len(latents), size=args.unet_batch))
        x0 = latents[idx]
        tok = ids[idx].clone()
        drop = torch.from_numpy(rng.random(args.unet_batch) < args.cfg_dropout)
        tok[drop] = empty_ids
        t = torch.from_numpy(rng.integers(TRAIN_STEPS, size=args.unet_batch))
        noise = torch.randn(x0.shape, generator=gen)
        a = ac[t][:, None, None, None]
        xt = a.sqrt() * x0 + (1 - a).sqrt() * noise
        ctx, _ = text(tok)
        pred = unet(xt, t.float(), ctx)
        loss = F.mse_loss(pred, noise)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        ema.update()
        run += loss.item()
        if (step + 1) % 100 == 0 or step + 1 == args.unet_steps:
            n = (step % 100) + 1
            log(f"unet step {step + 1}/{args.unet_steps} loss {run / n:.4f} "
                f"({(time.time() - t0) / (step + 1):.3f} s/step)")
            run = 0.0
            state = {"shadow": ema.shadow, "step": step + 1, "seconds": time.time() - t0}
            torch.save(state, os.path.join(args.work, "unet.pt"))
            if (step + 1) % 1000 == 0:
                # Kept: the learning rate depends on the step only, so this is exactly what a run with
                # --unet-steps <step> exports, and --reuse-unet can sample and export it later.
                torch.save(state, os.path.join(args.work, f"unet-{step + 1}.pt"))
    ema.copy_to()
    text.eval()
    unet.eval()
    return text, unet, time.time() - t0


@torch.no_grad()
def ddim_sample(text, unet, cond_ids, empty_ids, seeds, steps, guidance, batch=64):
    """diffusers DDIMScheduler semantics: leading spacing, steps_offset 1, set_alpha_to_one False, eta 0."""
    ac = alphas_cumprod()
    ratio = TRAIN_STEPS // steps
    timesteps = [i * ratio + 1 for i in range(steps)][::-1]
    out = []
    for s in range(0, len(cond_ids), batch):
        ids = cond_ids[s:s + batch]
        n = len(ids)
        x = torch.stack([torch.randn((4, 8, 8), generator=torch.Generator().manual_seed(int(sd)))
                         for sd in seeds[s:s + batch]])
        ctx = text(torch.cat([empty_ids.expand(n, -1), ids]))[0]
        for t in timesteps:
            eps_u, eps_c = unet(torch.cat([x, x]), torch.tensor([float(t)]), ctx).chunk(2)
            eps = eps_u + guidance * (eps_c - eps_u)
            prev = t - ratio
            a, a_prev = ac[t], (ac[prev] if prev >= 0 else ac[0])
            x0 = (x - (1 - a).sqrt() * eps) / a.sqrt()
            x = a_prev.sqrt() * x0 + (1 - a_prev).sqrt() * eps
        out.append(x)
    return torch.cat(out)


# ---------------------------------------------------------------------------------------------- export

class TextExport(torch.nn.Module):
    def __init__(self, text):
        super().__init__()
        self.text = text

    def forward(self, input_ids):
        return self.text(input_ids)


class EncoderExport(torch.nn.Module):
    """Posterior mean (deterministic) times LATENT_GAIN, not multiplied by the scaling factor."""

    def __init__(self, enc):
        super().__init__()
        self.enc = enc

    def forward(self, sample):
        return self.enc(sample)[0] * LATENT_GAIN


class DecoderExport(torch.nn.Module):
    """Decodes the exported latent space (trained latents times LATENT_GAIN)."""

    def __init__(self, dec):
        super().__init__()
        self.dec = dec

    def forward(self, latent_sample):
        return self.dec(latent_sample * (1.0 / LATENT_GAIN))


def export_onnx(module, args_, path, inputs, outputs, axes):
    import onnx
    os.makedirs(os.path.dirname(path), exist_ok=True)
    torch.onnx.export(module, args_, path, input_names=inputs, output_names=outputs, dynamic_axes=axes,
                      opset_version=17, do_constant_folding=True)
    # torch 1.13 leaves static output dims it cannot infer (after LayerNormalization, Reshape) symbolic;
    # write the known sizes so the graph declares e.g. last_hidden_state [batch, sequence, 64].
    results = module(*args_)
    results = results if isinstance(results, (tuple, list)) else (results,)
    model = onnx.load(path)
    for out, value in zip(model.graph.output, results):
        named = axes.get(out.name, {})
        for i, dim in enumerate(out.type.tensor_type.shape.dim):
            if i in named:
                dim.dim_param = named[i]
            else:
                dim.dim_value = int(value.shape[i])
    onnx.checker.check_model(model)
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as e:  # strict shape inference is advisory here; ONNX Runtime is the real check
        log(f"warning: full ONNX check of {path}: {e}")
    onnx.save(model, path)
    return os.path.getsize(path)


def write_json(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")


def export_all(out, tok, text, unet, enc, dec, scaling):
    sizes = {}
    with torch.no_grad():
        ids = torch.tensor([tok.encode_padded("a large red circle on a blue background, top left")],
                           dtype=torch.int32)
        sizes["text_encoder"] = export_onnx(
            TextExport(text), (ids,), os.path.join(out, "text_encoder", "model.onnx"),
            ["input_ids"], ["last_hidden_state", "pooler_output"],
            {"input_ids": {0: "batch", 1: "sequence"}, "last_hidden_state": {0: "batch", 1: "sequence"},
             "pooler_output": {0: "batch"}})
        sample = torch.randn(2, 4, 8, 8)
        ts = torch.tensor([500.0, 500.0])
        ctx = torch.randn(2, 77, 64)
        sizes["unet"] = export_onnx(
            unet, (sample, ts, ctx), os.path.join(out, "unet", "model.onnx"),
            ["sample", "timestep", "encoder_hidden_states"], ["out_sample"],
            {"sample": {0: "batch", 2: "height", 3: "width"}, "timestep": {0: "batch"},
             "encoder_hidden_states": {0: "batch", 1: "sequence"},
             "out_sample": {0: "batch", 2: "height", 3: "width"}})
        # Where Diffusion.Core may cut the UNet for step caching (metadata only; see deep_cache_points.py).
        from deep_cache_points import add_points
        add_points(os.path.join(out, "unet", "model.onnx"))
        sizes["unet"] = os.path.getsize(os.path.join(out, "unet", "model.onnx"))
        sizes["vae_encoder"] = export_onnx(
            EncoderExport(enc), (torch.rand(1, 3, 64, 64) * 2 - 1,), os.path.join(out, "vae_encoder", "model.onnx"),
            ["sample"], ["latent_sample"],
            {"sample": {0: "batch", 2: "height", 3: "width"},
             "latent_sample": {0: "batch", 2: "height", 3: "width"}})
        sizes["vae_decoder"] = export_onnx(
            DecoderExport(dec), (torch.randn(1, 4, 8, 8) * LATENT_GAIN,), os.path.join(out, "vae_decoder", "model.onnx"),
            ["latent_sample"], ["sample"],
            {"latent_sample": {0: "batch", 2: "height", 3: "width"}, "sample": {0: "batch", 2: "height", 3: "width"}})
    tok.save(os.path.join(out, "tokenizer"))
    write_json(os.path.join(out, "model_index.json"), {
        "_class_name": "OnnxStableDiffusionPipeline",
        "_diffusers_version": "0.21.0",
        "feature_extractor": [None, None],
        "requires_safety_checker": False,
        "safety_checker": [None, None],
        "scheduler": ["diffusers", "DDIMScheduler"],
        "text_encoder": ["diffusers", "OnnxRuntimeModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"],
        "unet": ["diffusers", "OnnxRuntimeModel"],
        "vae_decoder": ["diffusers", "OnnxRuntimeModel"],
        "vae_encoder": ["diffusers", "OnnxRuntimeModel"],
    })
    write_json(os.path.join(out, "scheduler", "scheduler_config.json"), {
        "_class_name": "DDIMScheduler",
        "_diffusers_version": "0.21.0",
        "beta_end": BETA_END,
        "beta_schedule": "scaled_linear",
        "beta_start": BETA_START,
        "clip_sample": False,
        "num_train_timesteps": TRAIN_STEPS,
        "prediction_type": "epsilon",
        "set_alpha_to_one": False,
        "skip_prk_steps": True,
        "steps_offset": 1,
        "timestep_spacing": "leading",
        "trained_betas": None,
    })
    vae_config = {
        "_class_name": "AutoencoderKL",
        "_diffusers_version": "0.21.0",
        "in_channels": 3,
        "out_channels": 3,
        "latent_channels": 4,
        "sample_size": scenes.IMAGE_SIZE,
        "scaling_factor": scaling / LATENT_GAIN,
    }
    write_json(os.path.join(out, "vae_encoder", "config.json"), vae_config)
    write_json(os.path.join(out, "vae_decoder", "config.json"), vae_config)
    # diffusers' UNet config: sample_size is the LATENT size, from which pipelines take their default image size.
    write_json(os.path.join(out, "unet", "config.json"), {
        "_class_name": "UNet2DConditionModel",
        "_diffusers_version": "0.21.0",
        "in_channels": 4,
        "out_channels": 4,
        "sample_size": scenes.IMAGE_SIZE // 8,
    })
    return sizes


def reference_outputs(tok, text, unet, enc, dec):
    """Exact torch outputs for closed-form inputs, so a port can check its ONNX Runtime results (~1e-4)."""
    with torch.no_grad():
        cap = "a small green square on a white background, bottom right"
        ids = tok.encode_padded(cap)
        h, pooled = text(torch.tensor([ids], dtype=torch.int32))
        sample = torch.sin(0.1 * torch.arange(4 * 8 * 8, dtype=torch.float32)).reshape(1, 4, 8, 8)
        out = unet(sample, torch.tensor([951.0]), h)
        img = torch.linspace(-1, 1, 3 * 64 * 64).reshape(1, 3, 64, 64)
        lat = EncoderExport(enc)(img)
        rec = DecoderExport(dec)(lat)
    return {
        "caption": cap,
        "input_ids": ids,
        "last_hidden_state_first8": h[0, 0, :8].tolist(),
        "last_hidden_state_sum": float(h.sum()),
        "pooler_output_first8": pooled[0, :8].tolist(),
        "pooler_output_sum": float(pooled.sum()),
        "unet_inputs": "sample[i] = sin(0.1 * i) over the flat index of [1,4,8,8]; timestep [951.0]; "
                       "encoder_hidden_states = last_hidden_state above",
        "unet_out_first8": out.flatten()[:8].tolist(),
        "unet_out_sum": float(out.sum()),
        "vae_input": "sample[i] = -1 + 2 * i / (3*64*64 - 1) over the flat index of [1,3,64,64] (torch.linspace)",
        "latent_first8": lat.flatten()[:8].tolist(),
        "latent_sum": float(lat.sum()),
        "decoded_first8": rec.flatten()[:8].tolist(),
        "decoded_sum": float(rec.sum()),
    }


def save_grid(path, images, columns=12):
    from PIL import Image
    n = len(images)
    rows = (n + columns - 1) // columns
    s = scenes.IMAGE_SIZE
    grid = np.full((rows * (s + 2), columns * (s + 2), 3), 255, dtype=np.uint8)
    for i, img in enumerate(images):
        r, c = divmod(i, columns)
        grid[r * (s + 2):r * (s + 2) + s, c * (s + 2):c * (s + 2) + s] = img
    Image.fromarray(grid).save(path, optimize=True)


def _pct(x):
    return f"{100.0 * x:.0f}%"


def _table(acc):
    rows = ["| images | split | foreground colour | background | shape | size | position |",
            "|---|---|---|---|---|---|---|"]
    for label, key in (("ground-truth scenes (analyser check)", "ground_truth"),
                       ("VAE reconstructions (encode, decode)", "vae_reconstruction"),
                       ("generated (DDIM 20 steps, guidance {g})", "samples")):
        for split in ("seen", "held-out"):
            a = acc[key][split]
            rows.append(f"| {label} | {split} | " + " | ".join(_pct(a[k]) for k in analyser.ATTRIBUTES) + " |")
    return "\n".join(rows)


def _limits(r):
    gen = r["accuracy"]["samples"]
    weak = [k for k in analyser.ATTRIBUTES if min(gen["seen"][k], gen["held-out"][k]) < 0.9]
    if not weak:
        return ""
    below = [f"{k} ({', '.join(f'{sp} {_pct(gen[sp][k])}' for sp in ('seen', 'held-out') if gen[sp][k] < 0.9)})"
             for k in weak]
    lines = ["Below 90% on generated images: " + ", ".join(below) + "."]
    if "position" in weak:
        lines.append("The model places shapes at the centre reliably but often in the wrong corner; corner accuracy was "
                     "still rising when UNet training stopped (more `--unet-steps` is the lever).")
    if "shape" in weak:
        lines.append("Shape errors are of two kinds. Small squares drawn with concave ('pinched') sides, read as circles: "
                     "classifier-free guidance causes them, not the VAE: with guidance 2 the final model drew every "
                     "seen square right, and larger scales exaggerate what separates a square from the caption-less "
                     "average until its sides cave in. And, on held-out combinations, triangles read as circles: the "
                     "VAE's own reconstructions of those scenes already lose some (see the reconstruction row).")
    return "\n".join(lines) + "\n"


def write_model_card(path, args, r):
    p, sec, mb = r["parameters"], r["seconds"], {k: v / 1e6 for k, v in r["onnx_bytes"].items()}
    held = "\n".join(f"- {fg} {shape} on a {bg} background" for shape, fg, bg in scenes.HELD_OUT)
    command = "/usr/bin/python3 tools/train-demo-model/train.py --out models/demo-shapes"
    extra = []
    if args.vae_steps != DEFAULT_VAE_STEPS:
        extra.append(f"--vae-steps {args.vae_steps}")
    if args.unet_steps != DEFAULT_UNET_STEPS:
        extra.append(f"--unet-steps {args.unet_steps}")
    if extra:
        command += " " + " ".join(extra)
    split_note = ""
    if args.reuse_vae or args.reuse_unet:
        split_note = ("\n  The run was made in steps through the tool's checkpoints (`--stop-after-vae`, `--reuse-vae`,"
                      "\n  `--reuse-unet`); the step-only schedules and per-phase seeds make that the same model as one"
                      "\n  uninterrupted run of the command above.")
    text = f"""# demo-shapes: the built-in demo model

A tiny text-to-image latent diffusion model in the Stable Diffusion 1.x family, trained from scratch in
minutes on two CPU cores, so the library works out of the box without downloading a real checkpoint. It
draws **one filled shape on a flat background, 64×64 pixels**, from captions such as

    a large red circle on a blue background, top left

It knows nothing else: other words tokenize (to byte symbols) but mean nothing to it.

## Contracts (exactly SD 1.x ONNX, opset 17, fp32, no external data)

| component | inputs | outputs |
|---|---|---|
| `text_encoder/model.onnx` ({mb['text_encoder']:.1f} MB) | `input_ids` int32 `[batch,sequence]` (77) | `last_hidden_state` float32 `[batch,sequence,64]`, `pooler_output` float32 `[batch,64]` |
| `unet/model.onnx` ({mb['unet']:.1f} MB) | `sample` float32 `[batch,4,height,width]`, `timestep` float32 `[batch]` (a `[1]` timestep broadcasts), `encoder_hidden_states` float32 `[batch,sequence,64]` | `out_sample` float32 `[batch,4,height,width]` (epsilon) |
| `vae_encoder/model.onnx` ({mb['vae_encoder']:.1f} MB) | `sample` float32 `[batch,3,H,W]` in [-1,1] | `latent_sample` float32 `[batch,4,H/8,W/8]`, unscaled (posterior **mean**, deterministic) |
| `vae_decoder/model.onnx` ({mb['vae_decoder']:.1f} MB) | `latent_sample` float32 `[batch,4,h,w]`, unscaled | `sample` float32 `[batch,3,8h,8w]` in about [-1,1] |

- **Latent scaling factor: {r['scaling_factor']}** (= 1 / std of the exported encoder's latents), in
  `vae_encoder/config.json` and `vae_decoder/config.json` as `scaling_factor`. As in SD, the pipeline
  multiplies encoder output by it and divides UNet latents by it before decoding. It is **not** SD's 0.18215.
  The exported VAE works in the trained VAE's latent space times {r['latent_gain']:g} (one multiply in the encoder
  graph, one divide in the decoder's), so that the factor is, as in SD, far from 1: a pipeline that skips it
  decodes latents {1 / r['scaling_factor']:.1f}× too small and the evaluation sees it.
- Text width 64 (SD: 768). Token ids: [`<|startoftext|>`, tokens…, `<|endoftext|>`] padded with
  `<|endoftext|>` to 77; `pooler_output` is the hidden state at the first `<|endoftext|>` (the largest id).
  The unconditional (CFG) input is the empty prompt `""`, as in SD.
- `tokenizer/`: CLIP-format byte-level BPE (`vocab.json` with {r['vocab_size']} ids: 256 byte symbols,
  256 with `</w>`, {r['vocab_size'] - 514} merges in rank order, then `<|startoftext|>` = {r['vocab_size'] - 2},
  `<|endoftext|>` = {r['vocab_size'] - 1}), `merges.txt` (with the `#version: 0.2` header line),
  CLIPTokenizer configs (model_max_length 77, pad `<|endoftext|>`). CLIP's algorithm tokenizes every
  caption word to one id.
- `scheduler/scheduler_config.json`: DDIMScheduler, SD values (scaled_linear 0.00085–0.012, 1000 steps,
  steps_offset 1, set_alpha_to_one false, epsilon, leading spacing). PNDM with the same values also works.
- `unet/model.onnx` declares two step-cache points in its `metadata_props` (`diffusion_core.deep_cache_points`: the
  inputs of its two skip concatenations, added after export by `tools/train-demo-model/deep_cache_points.py`), so
  `DeepCache` step caching works on it as on UNets built from checkpoints (docs/pipelines.md).
- UNet height/width must be **even** (one 2× downsample). **Trained for 64×64 images (8×8 latents) only**;
  other sizes run but are out of distribution.
- The diffusers ONNX export of the VAE encoder samples the posterior; this one returns the mean, so
  image-to-image is deterministic here.

## Data

Generated on the fly by `tools/train-demo-model/scenes.py` (fixed seed {args.seed}): {args.pool} scenes of one
filled, anti-aliased shape (circle, square, triangle pointing up) in one of 6 colours (red, green, blue,
yellow, purple, orange) on one of 4 backgrounds (white, black, gray, blue; never blue on blue), small
(22 ± 2 px) or large (38 ± 2 px), at top left, top right, bottom left, bottom right or center (± 2 px).
Caption: `a {{size}} {{colour}} {{shape}} on a {{background}} background, {{position}}`.

Held out of training (every size and position), to measure generalisation to new combinations of known words:

{held}

## Architecture and parameters

| part | parameters | |
|---|---|---|
| text encoder | {p['text_encoder']:,} | CLIP-like: 2 causal pre-LN layers, width 64, 4 heads, MLP 256 (quick_gelu), 77 learned positions, final LayerNorm |
| UNet | {p['unet']:,} | 64 channels at the latent size, 96 at half; ResBlocks (GroupNorm 8) with timestep embedding (sinusoidal, flip_sin_to_cos, 64 → 256); self- and cross-attention transformer blocks (4 heads) at both sizes and in the middle |
| VAE encoder | {p['vae_encoder']:,} | 8× down, 4 latent channels (64×64×3 → 8×8×4), KL-regularised (weight 1e-5) |
| VAE decoder | {p['vae_decoder']:,} | 128/96/64 channels at 8/16/32, pixel shuffle to 64 |

## Training

    apt-get install -y libopenblas0-openmp   # once: Debian's torch otherwise uses the reference BLAS
    OMP_NUM_THREADS=2 OMP_WAIT_POLICY=PASSIVE nice -n 10 \\
      {command}

Deterministic: fixed seeds, `torch.use_deterministic_algorithms`, 2 threads, budgets in steps.

- VAE: {args.vae_steps} steps of batch {args.vae_batch}, AdamW lr {args.vae_lr} (warm-up, 1/√step decay), loss =
  edge-weighted L1 (×5 within a pixel of colour edges) + MSE + 1e-5 KL.
- Text encoder + UNet, jointly from scratch: {args.unet_steps} steps of batch {args.unet_batch}, AdamW lr
  {args.unet_lr} (warm-up, 1/√step decay), DDPM epsilon objective on SD's scaled_linear schedule (1000 steps),
  caption replaced by `""` for {_pct(args.cfg_dropout)} of samples (classifier-free guidance), EMA 0.999 weights exported.
- Time on this 2-core machine (torch {r['torch']}, OpenBLAS): VAE {sec['vae'] / 60:.1f} min, UNet
  {sec['unet'] / 60:.1f} min, whole run {sec['total'] / 60:.1f} min (how busy the machine was during each phase:
  `tools/train-demo-model/README.md`).{split_note}

## Measured quality

{len([1 for q in json.load(open(args.eval_prompts)) if q['split'] == 'seen'])} seen and
{len([1 for q in json.load(open(args.eval_prompts)) if q['split'] == 'held-out'])} held-out captions
(`tools/train-demo-model/eval_prompts.json`), one image each (initial noise seeded by the caption's
index), sampled in Python with DDIM, {args.sample_steps} steps, guidance {args.guidance}, decoded with the VAE and read by the
analyser of `tools/train-demo-model/ANALYSER.md` (background = median of border pixels; foreground
colour = nearest palette colour of the pixels far from the background; shape from fill ratio of the
bounding box; size from the box; position from the box centre). VAE reconstruction PSNR on the
evaluation scenes: {r['vae_reconstruction_psnr_db']} dB.

{_table(r['accuracy']).replace('{g}', str(args.guidance))}

{_limits(r)}
The same captions through this library's C# pipeline with DDIM, Euler and DPM++ 2M at guidance 5, 6 and 7, and
pipelines with deliberate porting bugs that the evaluation must catch: `docs/demo-model-evaluation.md`.

`eval_samples.png`: the generated images, in `eval_prompts.json` order (seen first, then held-out),
12 per row. Per-caption readings: `tools/train-demo-model/eval_results.json`.
"""
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


# ---------------------------------------------------------------------------------------------- main

def main():
    args = parse_args()
    setup(args)
    log(f"torch {torch.__version__}, threads {torch.get_num_threads()}, {platform.machine()}, "
        f"args {vars(args)}")

    words = scenes.caption_words()
    tok = bpe.Tokenizer(bpe.build_merges(words))
    for w in words:
        assert len(tok.tokenize(w)) == 1, w
    log(f"tokenizer: {len(tok.vocab)} ids, {len(tok.merges)} merges")

    t = time.time()
    pool_path = os.path.join(args.work, f"pool-{args.seed}-{args.pool}.npz")
    if os.path.exists(pool_path):
        saved = np.load(pool_path)
        pool, captions = saved["images"], [str(c) for c in saved["captions"]]
    else:
        pool, captions = scenes.make_pool(args.seed, args.pool, scenes.training_combinations())
        np.savez(pool_path, images=pool, captions=np.array(captions))
    log(f"{len(pool)} training scenes in {time.time() - t:.1f}s")
    prompts = eval_prompts(args.seed)
    truth = ground_truth_images(prompts, args.seed)
    write_json(args.eval_prompts, prompts)
    truth_scores = split_scores(truth, prompts)
    log(f"analyser on ground truth: {truth_scores}")

    vae_path = os.path.join(args.work, "vae.pt")
    if args.reuse_vae:
        enc, dec = models.VaeEncoder(), models.VaeDecoder()
        state = torch.load(vae_path)
        if state["step"] != args.vae_steps:
            raise SystemExit(f"{vae_path} is from step {state['step']}, not --vae-steps {args.vae_steps}")
        enc.load_state_dict(state["enc"])
        dec.load_state_dict(state["dec"])
        enc.eval()
        dec.eval()
        vae_seconds = state["seconds"]
        log("reused VAE checkpoint")
    else:
        enc, dec, vae_seconds = train_vae(args, pool)

    with torch.no_grad():
        t_lat = encode_mean(enc, truth)
        recon = to_uint8(decode(dec, t_lat))
        psnr = 10 * math.log10(4.0 / (to_tensor(recon) - to_tensor(truth)).pow(2).mean().item())
    recon_scores = split_scores(recon, prompts)
    log(f"VAE reconstructions of eval scenes: PSNR {psnr:.2f} dB, {recon_scores}")

    if args.stop_after_vae:
        return
    t = time.time()
    latents = encode_mean(enc, pool)
    scaling = round(1.0 / latents.std().item(), 5)
    latents = latents * scaling
    log(f"encoded pool in {time.time() - t:.1f}s; scaling_factor {scaling}")

    ids = torch.tensor([tok.encode_padded(c) for c in captions], dtype=torch.int64)
    empty_ids = torch.tensor(tok.encode_padded(""), dtype=torch.int64)
    if args.reuse_unet:
        unet_path = os.path.join(args.work, f"unet-{args.unet_steps}.pt")
        if not os.path.exists(unet_path):
            unet_path = os.path.join(args.work, "unet.pt")
        state = torch.load(unet_path)
        if state["step"] != args.unet_steps:
            raise SystemExit(f"{unet_path} is from step {state['step']}, not --unet-steps {args.unet_steps}")
        text, unet = models.TextEncoder(len(tok.vocab)), models.UNet(context_dim=64)
        with torch.no_grad():
            for m, sh in zip([text, unet], state["shadow"]):
                for p, v in zip(m.parameters(), sh):
                    p.copy_(v)
        text.eval()
        unet.eval()
        unet_seconds = state["seconds"]
        log("reused UNet checkpoint (EMA weights)")
    else:
        text, unet, unet_seconds = train_unet(args, latents, ids, empty_ids, len(tok.vocab))

    t = time.time()
    cond = torch.tensor([tok.encode_padded(p["caption"]) for p in prompts], dtype=torch.int64)
    lat = ddim_sample(text, unet, cond, empty_ids[None], [p["seed"] for p in prompts],
                      args.sample_steps, args.guidance)
    samples = to_uint8(decode(dec, lat / scaling))
    sample_scores = split_scores(samples, prompts)
    sample_seconds = time.time() - t
    log(f"samples (DDIM {args.sample_steps}, guidance {args.guidance}) in {sample_seconds:.1f}s: {sample_scores}")
    _, found = analyser.score(samples, [p["expected"] for p in prompts])

    out = args.out
    os.makedirs(out, exist_ok=True)
    sizes = export_all(out, tok, text, unet, enc, dec, scaling)
    log(f"exported ONNX: {sizes}")
    save_grid(os.path.join(out, "eval_samples.png"), list(samples))

    counts = {"text_encoder": models.count_parameters(text), "unet": models.count_parameters(unet),
              "vae_encoder": models.count_parameters(enc), "vae_decoder": models.count_parameters(dec)}
    results = {
        "args": {k: v for k, v in vars(args).items() if k not in ("eval_prompts", "eval_results", "out", "work")},
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "scaling_factor": scaling / LATENT_GAIN,
        "latent_gain": LATENT_GAIN,
        "vocab_size": len(tok.vocab),
        "parameters": counts,
        "onnx_bytes": sizes,
        "seconds": {"vae": round(vae_seconds, 1), "unet": round(unet_seconds, 1),
                    "sampling": round(sample_seconds, 1),
                    # A run split at checkpoints (--stop-after-vae, --reuse-*) adds the reused phases' times.
                    "total": round(time.time() - T0 + (vae_seconds if args.reuse_vae else 0)
                                   + (unet_seconds if args.reuse_unet else 0), 1)},
        "vae_reconstruction_psnr_db": round(psnr, 2),
        "accuracy": {"ground_truth": truth_scores, "vae_reconstruction": recon_scores, "samples": sample_scores},
        "per_prompt": [{"caption": p["caption"], "split": p["split"],
                        "found": {k: v for k, v in f.items() if k != "fill"},
                        "fill": round(f.get("fill", float("nan")), 3)} for p, f in zip(prompts, found)],
        "reference_outputs": reference_outputs(tok, text, unet, enc, dec),
    }
    write_json(args.eval_results, results)
    write_model_card(os.path.join(out, "README.md"), args, results)
    log(f"done; results in {args.eval_results}")


if __name__ == "__main__":
    main()
