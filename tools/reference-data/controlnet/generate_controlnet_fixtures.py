#!/usr/bin/python3
"""Tiny SD-like UNet + ControlNet fixtures for Diffusion.Core's ControlNet tests.

Usage: /usr/bin/python3 generate_controlnet_fixtures.py <output dir>
       (normally tests/Diffusion.Core.Tests/TestData/controlnet)

Needs torch (1.13) and onnx; no diffusers. The models are written from the structure of diffusers'
UNet2DConditionModel / ControlNetModel (the contract, not their code), shrunk:

* Time embedding: sinusoidal (dim 16, flip_sin_to_cos, shift 0, as SD) -> Linear 32 -> SiLU -> Linear 32.
* Encoder ("down half"): conv_in 4->4, four down blocks of two ResBlocks each with channels
  (4, 8, 8, 8), cross-attention on encoder_hidden_states (width 32, the tiny-sd text encoder's) after
  each ResBlock of the first three blocks, a stride-2 conv downsampler after the first three blocks.
  Residual points, as SD: conv_in (1) + 2 per block (8) + 3 downsamplers = **12 down residuals**;
  then a mid block ResBlock-attention-ResBlock = **1 mid residual**. Shapes for latents h x w
  (multiples of 8): 0-2 [4,h,w]; 3 [4,h/2]; 4-5 [8,h/2]; 6 [8,h/4]; 7-8 [8,h/4]; 9-11 [8,h/8]; mid [8,h/8].
* UNet decoder: four up blocks of three ResBlocks that each take one skip (concatenated), nearest 2x
  upsample + conv after the first three, GroupNorm-SiLU-conv_out 4->4. diffusers' rule for ControlNet:
  down_block_additional_residuals[i] is added to skip i and mid_block_additional_residual to the mid
  block's output before the decoder.
* ControlNet: a copy of the UNet's encoder weights (ControlNetModel.from_unet), a conditioning embedding
  (3->4 conv, then 4->4, 4->8, 8->8 stride-2 convs with SiLU, conv_out 8->4) of the [b,3,8h,8w] control
  image added after conv_in, one 1x1 "zero conv" per residual and one for the mid block. Unlike a real
  untrained ControlNet, conv_out and the zero convs are initialised NON-zero so the control is visible.
  Residuals are multiplied by conditioning_scale, as ControlNetModel does (guess mode off).

Files written (all float32, opset 17, dynamic batch/height/width):
  unet/model.onnx                 plain UNet: sample, timestep [batch], encoder_hidden_states -> out_sample
  unet-controlnet/model.onnx      split-form UNet: + down_block_{i}_additional_residual (i=0..11),
                                  mid_block_additional_residual (Microsoft Olive's names)
  controlnet-a/model.onnx         split-form ControlNet: sample, timestep, encoder_hidden_states,
                                  controlnet_cond [batch,3,8h,8w], conditioning_scale [1]
                                  -> down_block_res_sample_{i}, mid_block_res_sample (NVIDIA TensorRT demo /
                                  OpenVINO notebook names)
  controlnet-b/model.onnx         a second ControlNet (different zero convs / embedding), same contract,
                                  without the conditioning_scale input (the caller scales the outputs)
  unet-controlnet-fused/model.onnx  fused form of diffusers' scripts/convert_stable_diffusion_controlnet_to_onnx.py:
                                  UNet + [controlnet-a, controlnet-b]; inputs sample, timestep,
                                  encoder_hidden_states, controlnet_conds [2,batch,3,8h,8w],
                                  conditioning_scales [2,1]; output noise_pred
  controlnet-mismatch/model.onnx  a minimal graph with the split ControlNet's contract whose 13 outputs have
                                  6 channels: its residuals do not fit the UNet
  reference/*.f32 + reference.json  torch outputs for fixed inputs (see the JSON)
"""
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

TEXT_WIDTH = 32
TEMB = 32
GROUPS = 4


def timestep_embedding(t, dim=16):
    # SD's get_timestep_embedding with flip_sin_to_cos=True, downscale_freq_shift=0.
    half = dim // 2
    exponent = -math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half
    args = t[:, None].float() * torch.exp(exponent)[None, :]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class ResBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.norm1 = nn.GroupNorm(GROUPS, cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.temb = nn.Linear(TEMB, cout)
        self.norm2 = nn.GroupNorm(GROUPS, cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x, emb):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.temb(F.silu(emb))[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return self.skip(x) + h


class CrossAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.norm = nn.GroupNorm(GROUPS, c)
        self.q = nn.Linear(c, c, bias=False)
        self.k = nn.Linear(TEXT_WIDTH, c, bias=False)
        self.v = nn.Linear(TEXT_WIDTH, c, bias=False)
        self.out = nn.Linear(c, c)

    def forward(self, x, context):
        b, c, h, w = x.shape
        tokens = self.norm(x).reshape(b, c, h * w).transpose(1, 2)
        q, k, v = self.q(tokens), self.k(context), self.v(context)
        weights = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(c), dim=-1)
        y = self.out(weights @ v).transpose(1, 2).reshape(b, c, h, w)
        return x + y


class DownBlock(nn.Module):
    def __init__(self, cin, cout, attention, downsample):
        super().__init__()
        self.res = nn.ModuleList([ResBlock(cin, cout), ResBlock(cout, cout)])
        self.attn = nn.ModuleList([CrossAttention(cout), CrossAttention(cout)]) if attention else None
        self.down = nn.Conv2d(cout, cout, 3, stride=2, padding=1) if downsample else None

    def forward(self, x, emb, context):
        outputs = []
        for i, res in enumerate(self.res):
            x = res(x, emb)
            if self.attn is not None:
                x = self.attn[i](x, context)
            outputs.append(x)
        if self.down is not None:
            x = self.down(x)
            outputs.append(x)
        return x, outputs


class Encoder(nn.Module):
    """conv_in + down blocks + mid block: the half a ControlNet copies."""

    def __init__(self, channels):
        super().__init__()
        self.time1 = nn.Linear(16, TEMB)
        self.time2 = nn.Linear(TEMB, TEMB)
        self.conv_in = nn.Conv2d(4, channels[0], 3, padding=1)
        blocks = []
        cin = channels[0]
        for i, c in enumerate(channels):
            blocks.append(DownBlock(cin, c, attention=i < 3, downsample=i < 3))
            cin = c
        self.down = nn.ModuleList(blocks)
        self.mid_res1 = ResBlock(cin, cin)
        self.mid_attn = CrossAttention(cin)
        self.mid_res2 = ResBlock(cin, cin)

    def embed_time(self, sample, timestep):
        t = timestep.expand(sample.shape[0])  # [1] broadcasts over the batch, [batch] is used as is
        return self.time2(F.silu(self.time1(timestep_embedding(t))))

    def forward(self, sample, emb, context, conditioning=None):
        x = self.conv_in(sample)
        if conditioning is not None:
            x = x + conditioning
        skips = [x]
        for block in self.down:
            x, outputs = block(x, emb, context)
            skips.extend(outputs)
        x = self.mid_res1(x, emb)
        x = self.mid_attn(x, context)
        x = self.mid_res2(x, emb)
        return x, skips


class TinyUNet(nn.Module):
    def __init__(self, channels=(4, 8, 8, 8)):
        super().__init__()
        self.encoder = Encoder(channels)
        skip_channels = [channels[0]]
        for i, c in enumerate(channels):
            skip_channels += [c, c] + ([c] if i < 3 else [])
        ups = []
        upsamplers = []
        cin = channels[-1]
        for level in reversed(range(4)):
            cout = channels[level]
            blocks = []
            for _ in range(3):
                blocks.append(ResBlock(cin + skip_channels.pop(), cout))
                cin = cout
            ups.append(nn.ModuleList(blocks))
            upsamplers.append(nn.Conv2d(cout, cout, 3, padding=1) if level > 0 else nn.Identity())
        self.up = nn.ModuleList(ups)
        self.upsample = nn.ModuleList(upsamplers)
        self.norm_out = nn.GroupNorm(GROUPS, channels[0])
        self.conv_out = nn.Conv2d(channels[0], 4, 3, padding=1)

    def forward(self, sample, timestep, encoder_hidden_states, down_residuals=None, mid_residual=None):
        emb = self.encoder.embed_time(sample, timestep)
        x, skips = self.encoder(sample, emb, encoder_hidden_states)
        if down_residuals is not None:
            skips = [s + r for s, r in zip(skips, down_residuals)]
        if mid_residual is not None:
            x = x + mid_residual
        for level, (blocks, upsample) in enumerate(zip(self.up, self.upsample)):
            for res in blocks:
                x = res(torch.cat([x, skips.pop()], dim=1), emb)
            if level < 3:
                x = upsample(F.interpolate(x, scale_factor=2.0, mode="nearest"))
        return self.conv_out(F.silu(self.norm_out(x)))


class TinyControlNet(nn.Module):
    def __init__(self, channels=(4, 8, 8, 8)):
        super().__init__()
        self.encoder = Encoder(channels)
        c0 = channels[0]
        self.cond_in = nn.Conv2d(3, 4, 3, padding=1)
        self.cond_blocks = nn.ModuleList([
            nn.Conv2d(4, 4, 3, stride=2, padding=1),
            nn.Conv2d(4, 8, 3, stride=2, padding=1),
            nn.Conv2d(8, 8, 3, stride=2, padding=1),
        ])
        self.cond_out = nn.Conv2d(8, c0, 3, padding=1)
        residual_channels = [c0]
        for i, c in enumerate(channels):
            residual_channels += [c, c] + ([c] if i < 3 else [])
        self.zero_convs = nn.ModuleList([nn.Conv2d(c, c, 1) for c in residual_channels])
        self.mid_zero_conv = nn.Conv2d(channels[-1], channels[-1], 1)

    def forward(self, sample, timestep, encoder_hidden_states, controlnet_cond, conditioning_scale):
        emb = self.encoder.embed_time(sample, timestep)
        c = F.silu(self.cond_in(controlnet_cond))
        for conv in self.cond_blocks:
            c = F.silu(conv(c))
        c = self.cond_out(c)
        x, skips = self.encoder(sample, emb, encoder_hidden_states, conditioning=c)
        down = [conv(s) * conditioning_scale for conv, s in zip(self.zero_convs, skips)]
        mid = self.mid_zero_conv(x) * conditioning_scale
        return down, mid

    @staticmethod
    def from_unet(unet, seed):
        net = TinyControlNet()
        net.encoder.load_state_dict(unet.encoder.state_dict())
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            # Non-zero "zero convs" and embedding output so the effect shows (a trained ControlNet's are learned).
            for conv in list(net.zero_convs) + [net.mid_zero_conv]:
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=g) * 0.4)
                conv.bias.copy_(torch.randn(conv.bias.shape, generator=g) * 0.05)
            for conv in [net.cond_in, *net.cond_blocks, net.cond_out]:
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=g) * 0.6)
                conv.bias.copy_(torch.randn(conv.bias.shape, generator=g) * 0.1)
        return net


class SplitUNet(nn.Module):
    """UNet whose residuals are 13 separate inputs (ONNX has no tuple inputs)."""

    def __init__(self, unet):
        super().__init__()
        self.unet = unet

    def forward(self, sample, timestep, encoder_hidden_states, *residuals):
        return self.unet(sample, timestep, encoder_hidden_states, list(residuals[:12]), residuals[12])


class ScaledControlNet(nn.Module):
    """Split ControlNet with the scale as an input (controlnet-a)."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, sample, timestep, encoder_hidden_states, controlnet_cond, conditioning_scale):
        down, mid = self.net(sample, timestep, encoder_hidden_states, controlnet_cond, conditioning_scale)
        return (*down, mid)


class UnscaledControlNet(nn.Module):
    """Split ControlNet without a scale input (controlnet-b): the caller multiplies."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, sample, timestep, encoder_hidden_states, controlnet_cond):
        down, mid = self.net(sample, timestep, encoder_hidden_states, controlnet_cond, 1.0)
        return (*down, mid)


class FusedUNet(nn.Module):
    """diffusers' UNet2DConditionControlNetModel (convert_stable_diffusion_controlnet_to_onnx.py): loop over the
    ControlNets, sum their residuals, run the UNet."""

    def __init__(self, unet, controlnets):
        super().__init__()
        self.unet = unet
        self.controlnets = nn.ModuleList(controlnets)

    def forward(self, sample, timestep, encoder_hidden_states, controlnet_conds, conditioning_scales):
        down_sum, mid_sum = None, None
        for i, (cond, scale, net) in enumerate(zip(controlnet_conds, conditioning_scales, self.controlnets)):
            down, mid = net(sample, timestep, encoder_hidden_states, cond, scale)
            if i == 0:
                down_sum, mid_sum = down, mid
            else:
                down_sum = [a + b for a, b in zip(down_sum, down)]
                mid_sum = mid_sum + mid
        return self.unet(sample, timestep, encoder_hidden_states, down_sum, mid_sum)


DOWN_OUT = [f"down_block_res_sample_{i}" for i in range(12)]
UNET_RES_IN = [f"down_block_{i}_additional_residual" for i in range(12)]
SPATIAL = {0: "batch", 2: "height", 3: "width"}
# Residual i lives at level i // 3 (latent size halved per level); the mid residual at the last level.
LEVEL_AXES = [{0: "batch", 2: f"height_{level}", 3: f"width_{level}"} for level in range(4)]


def residual_axes(down_names, mid_name):
    axes = {name: LEVEL_AXES[i // 3] for i, name in enumerate(down_names)}
    axes[mid_name] = LEVEL_AXES[3]
    return axes


def control_image(batch, height, width, a, b, c, d, modulus):
    """A deterministic control image in [0, 1] the C# tests rebuild: ((7x... ) % m) / (m - 1), see the JSON."""
    n, ch, y, x = torch.meshgrid(torch.arange(batch), torch.arange(3), torch.arange(height), torch.arange(width), indexing="ij")
    return ((a * x + b * y + c * ch + d * n) % modulus).float() / (modulus - 1)


def export_mismatched_controlnet(path):
    """A minimal graph with the split ControlNet's inputs and 13 outputs whose channels do not fit the UNet:
    each output is a 1x1 conv of the sample to 6 channels (the UNet wants 4 or 8)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(3)
    weight = numpy_helper.from_array(rng.standard_normal((6, 4, 1, 1)).astype(np.float32), "w")
    inputs = [
        helper.make_tensor_value_info("sample", TensorProto.FLOAT, ["batch", 4, "height", "width"]),
        helper.make_tensor_value_info("timestep", TensorProto.FLOAT, ["batch"]),
        helper.make_tensor_value_info("encoder_hidden_states", TensorProto.FLOAT, ["batch", "sequence", TEXT_WIDTH]),
        helper.make_tensor_value_info("controlnet_cond", TensorProto.FLOAT, ["batch", 3, "image_height", "image_width"]),
    ]
    names = DOWN_OUT + ["mid_block_res_sample"]
    nodes = [helper.make_node("Conv", ["sample", "w"], [name]) for name in names]
    outputs = [helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", 6, "height", "width"]) for name in names]
    graph = helper.make_graph(nodes, "mismatched_controlnet", inputs, outputs, [weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    onnx.save(model, path)


def export(model, args, path, inputs, outputs, axes):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    torch.onnx.export(model, args, path, input_names=inputs, output_names=outputs, dynamic_axes=axes,
                      opset_version=17, do_constant_folding=True)


def save(folder, name, tensor, manifest, note):
    array = tensor.detach().numpy().astype("<f4")
    array.tofile(os.path.join(folder, "reference", name))
    manifest[name] = {"shape": list(array.shape), "note": note}


def main():
    out = sys.argv[1]
    torch.manual_seed(20261125)
    unet = TinyUNet().eval()
    with torch.no_grad():
        # Keep the prediction near unit scale so a few Euler steps stay finite.
        unet.conv_out.weight.mul_(0.5)
    net_a = TinyControlNet.from_unet(unet, seed=1).eval()
    net_b = TinyControlNet.from_unet(unet, seed=2).eval()

    b, h, w = 2, 8, 8
    sample = torch.randn(b, 4, h, w)
    timestep = torch.tensor([500.0, 500.0])
    context = torch.randn(b, 77, TEXT_WIDTH)
    cond = control_image(b, 8 * h, 8 * w, 7, 13, 29, 31, 64)
    cond_b = control_image(b, 8 * h, 8 * w, 11, 5, 17, 3, 32)
    scale = torch.tensor([0.75])

    spatial_in = {"sample": SPATIAL, "timestep": {0: "batch"}, "encoder_hidden_states": {0: "batch", 1: "sequence"}}
    with torch.no_grad():
        export(unet, (sample, timestep, context), os.path.join(out, "unet", "model.onnx"),
               ["sample", "timestep", "encoder_hidden_states"], ["out_sample"], {**spatial_in, "out_sample": SPATIAL})

        down, mid = net_a(sample, timestep, context, cond, scale)
        export(SplitUNet(unet), (sample, timestep, context, *down, mid), os.path.join(out, "unet-controlnet", "model.onnx"),
               ["sample", "timestep", "encoder_hidden_states", *UNET_RES_IN, "mid_block_additional_residual"],
               ["out_sample"], {**spatial_in, **residual_axes(UNET_RES_IN, "mid_block_additional_residual"), "out_sample": SPATIAL})

        cn_axes = {**spatial_in, "controlnet_cond": {0: "batch", 2: "image_height", 3: "image_width"},
                   **residual_axes(DOWN_OUT, "mid_block_res_sample")}
        export(ScaledControlNet(net_a), (sample, timestep, context, cond, scale), os.path.join(out, "controlnet-a", "model.onnx"),
               ["sample", "timestep", "encoder_hidden_states", "controlnet_cond", "conditioning_scale"],
               DOWN_OUT + ["mid_block_res_sample"], cn_axes)
        export(UnscaledControlNet(net_b), (sample, timestep, context, cond), os.path.join(out, "controlnet-b", "model.onnx"),
               ["sample", "timestep", "encoder_hidden_states", "controlnet_cond"], DOWN_OUT + ["mid_block_res_sample"], cn_axes)
        export_mismatched_controlnet(os.path.join(out, "controlnet-mismatch", "model.onnx"))

        conds = torch.stack([cond, cond_b])
        scales = torch.tensor([[0.75], [0.5]])
        fused = FusedUNet(unet, [net_a, net_b]).eval()
        export(fused, (sample, timestep, context, conds, scales), os.path.join(out, "unet-controlnet-fused", "model.onnx"),
               ["sample", "timestep", "encoder_hidden_states", "controlnet_conds", "conditioning_scales"], ["noise_pred"],
               {**spatial_in, "controlnet_conds": {1: "batch", 3: "image_height", 4: "image_width"}, "noise_pred": SPATIAL})

        os.makedirs(os.path.join(out, "reference"), exist_ok=True)
        manifest = {"inputs": "batch 2, latents 8x8, control images 64x64; timestep [500, 500]"}
        save(out, "sample.f32", sample, manifest, "torch.randn(2,4,8,8) (global generator after the models are built)")
        save(out, "encoder_hidden_states.f32", context, manifest, "torch.randn(2,77,32)")
        manifest["controlnet_cond_a"] = "[2,3,64,64]: ((7x + 13y + 29c + 31n) % 64) / 63 (float32), control image of controlnet-a"
        manifest["controlnet_cond_b"] = "[2,3,64,64]: ((11x + 5y + 17c + 3n) % 32) / 31 (float32), control image of controlnet-b"
        for i, r in enumerate(down):
            save(out, f"controlnet_a_down_{i}.f32", r, manifest, "controlnet-a residual i at conditioning_scale 0.75")
        save(out, "controlnet_a_mid.f32", mid, manifest, "controlnet-a mid residual at conditioning_scale 0.75")
        save(out, "unet_plain.f32", unet(sample, timestep, context), manifest, "plain UNet prediction")
        save(out, "unet_controlled_a.f32", unet(sample, timestep, context, down, mid), manifest,
             "UNet prediction with controlnet-a's residuals at scale 0.75")
        save(out, "unet_fused.f32", fused(sample, timestep, context, conds, scales), manifest,
             "fused UNet prediction: controlnet-a at 0.75 + controlnet-b at 0.5")
        manifest["timestep"] = [500.0, 500.0]
        with open(os.path.join(out, "reference", "reference.json"), "w") as f:
            json.dump(manifest, f, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
