"""Small SD 1.x-family networks: CLIP-like text encoder, 8x-down VAE with 4 latent channels, text UNet.

Written so torch.onnx traces them with dynamic batch / sequence / height / width (shapes are read
from tensors, never baked in as Python ints).
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def quick_gelu(x):
    return x * torch.sigmoid(1.702 * x)


class Attention(nn.Module):
    def __init__(self, dim, heads, context_dim=None):
        super().__init__()
        context_dim = context_dim or dim
        self.heads = heads
        self.head_dim = dim // heads
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(context_dim, dim)
        self.v = nn.Linear(context_dim, dim)
        self.out = nn.Linear(dim, dim)

    def _split(self, x):
        return x.reshape(x.shape[0], x.shape[1], self.heads, self.head_dim).transpose(1, 2)

    def forward(self, x, context=None, mask=None):
        context = x if context is None else context
        q, k, v = self._split(self.q(x)), self._split(self.k(context)), self._split(self.v(context))
        scores = torch.matmul(q, k.transpose(-1, -2)) * (1.0 / math.sqrt(self.head_dim))
        if mask is not None:
            scores = scores + mask
        h = torch.matmul(scores.softmax(dim=-1), v)
        h = h.transpose(1, 2).reshape(x.shape[0], x.shape[1], self.heads * self.head_dim)
        return self.out(h)


# ---------------------------------------------------------------------------------------------- text

class TextLayer(nn.Module):
    def __init__(self, width, heads, mlp):
        super().__init__()
        self.ln1 = nn.LayerNorm(width)
        self.attn = Attention(width, heads)
        self.ln2 = nn.LayerNorm(width)
        self.fc1 = nn.Linear(width, mlp)
        self.fc2 = nn.Linear(mlp, width)

    def forward(self, x, mask):
        x = x + self.attn(self.ln1(x), mask=mask)
        return x + self.fc2(quick_gelu(self.fc1(self.ln2(x))))


class TextEncoder(nn.Module):
    """CLIP text transformer: token + learned position embeddings (77), causal pre-LN layers, final LN.

    forward(input_ids [b, L] int) -> (last_hidden_state [b, L, W], pooler_output [b, W]) where the
    pooler is the final hidden state at the first position of the largest id (<|endoftext|>), as CLIP.
    """

    def __init__(self, vocab_size, width=64, layers=2, heads=4, mlp=256, max_length=77):
        super().__init__()
        self.width = width
        self.token_embedding = nn.Embedding(vocab_size, width)
        self.position_embedding = nn.Parameter(torch.randn(max_length, width) * 0.01)
        self.layers = nn.ModuleList([TextLayer(width, heads, mlp) for _ in range(layers)])
        self.final_ln = nn.LayerNorm(width)
        mask = torch.full((max_length, max_length), -1e9).triu(1)
        self.register_buffer("causal_mask", mask, persistent=False)
        nn.init.normal_(self.token_embedding.weight, std=0.02)

    def forward(self, input_ids):
        ids = input_ids.to(torch.int64)
        length = ids.shape[1]
        x = self.token_embedding(ids) + self.position_embedding[:length]
        mask = self.causal_mask[:length, :length]
        for layer in self.layers:
            x = layer(x, mask)
        x = self.final_ln(x)
        # argmax on float: ids are < 2^24 so exact, and ONNX Runtime's ArgMax has no int64 kernel.
        eos = ids.to(torch.float32).argmax(dim=-1)
        # reshape with the constant width so ONNX shape inference gives pooler_output [batch, W].
        pooled = x.gather(1, eos[:, None, None].expand(-1, 1, x.shape[2])).reshape(-1, self.width)
        return x, pooled


# ---------------------------------------------------------------------------------------------- shared

def group_norm(channels):
    return nn.GroupNorm(8, channels, eps=1e-6)


class ResBlock(nn.Module):
    def __init__(self, cin, cout, temb=None):
        super().__init__()
        self.norm1 = group_norm(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.temb = nn.Linear(temb, cout) if temb else None
        self.norm2 = group_norm(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x, t=None):
        h = self.conv1(F.silu(self.norm1(x)))
        if self.temb is not None:
            # t is [b or 1, temb]; a 1-row timestep embedding broadcasts over the batch.
            h = h + self.temb(F.silu(t))[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return (x if self.skip is None else self.skip(x)) + h


class Upsample(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


# ---------------------------------------------------------------------------------------------- VAE

class VaeEncoder(nn.Module):
    """[b, 3, H, W] in [-1, 1] -> (mean, logvar) each [b, 4, H/8, W/8]."""

    def __init__(self, c=(48, 96, 128)):
        super().__init__()
        self.conv_in = nn.Conv2d(3, c[0], 4, stride=2, padding=1)  # H/2
        self.down1 = nn.Conv2d(c[0], c[1], 3, stride=2, padding=1)  # H/4
        self.res1 = ResBlock(c[1], c[1])
        self.down2 = nn.Conv2d(c[1], c[2], 3, stride=2, padding=1)  # H/8
        self.res2 = ResBlock(c[2], c[2])
        self.norm_out = group_norm(c[2])
        self.conv_out = nn.Conv2d(c[2], 8, 3, padding=1)

    def forward(self, x):
        h = self.conv_in(x)
        h = self.res1(self.down1(F.silu(h)))
        h = self.res2(self.down2(h))
        moments = self.conv_out(F.silu(self.norm_out(h)))
        return moments[:, :4], moments[:, 4:].clamp(-30.0, 20.0)


class VaeDecoder(nn.Module):
    """[b, 4, h, w] (unscaled latents) -> [b, 3, 8h, 8w] in about [-1, 1]."""

    def __init__(self, c=(128, 96, 64)):
        super().__init__()
        self.conv_in = nn.Conv2d(4, c[0], 3, padding=1)    # h
        self.res0 = ResBlock(c[0], c[0])
        self.up1 = Upsample(c[0], c[1])                     # 2h
        self.res1 = ResBlock(c[1], c[1])
        self.up2 = Upsample(c[1], c[2])                     # 4h
        self.res2 = ResBlock(c[2], c[2])
        self.norm_out = group_norm(c[2])
        self.conv_out = nn.Conv2d(c[2], 12, 3, padding=1)  # 4h x 12 -> pixel shuffle -> 8h x 3
        self.shuffle = nn.PixelShuffle(2)

    def forward(self, z):
        h = self.res0(self.conv_in(z))
        h = self.res1(self.up1(h))
        h = self.res2(self.up2(h))
        return self.shuffle(self.conv_out(F.silu(self.norm_out(h))))


# ---------------------------------------------------------------------------------------------- UNet

def timestep_embedding(t, dim):
    """SD's sinusoidal embedding (flip_sin_to_cos=True, downscale_freq_shift=0): [cos | sin]."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
    args = t.to(torch.float32)[:, None] * freqs[None, :]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class SpatialTransformer(nn.Module):
    """GroupNorm, 1x1 in, [self-attn, cross-attn, GELU MLP] with pre-LN, 1x1 out, residual."""

    def __init__(self, channels, context_dim, heads):
        super().__init__()
        self.norm = group_norm(channels)
        self.proj_in = nn.Conv2d(channels, channels, 1)
        self.ln1 = nn.LayerNorm(channels)
        self.self_attn = Attention(channels, heads)
        self.ln2 = nn.LayerNorm(channels)
        self.cross_attn = Attention(channels, heads, context_dim)
        self.ln3 = nn.LayerNorm(channels)
        self.ff1 = nn.Linear(channels, channels * 2)
        self.ff2 = nn.Linear(channels * 2, channels)
        self.proj_out = nn.Conv2d(channels, channels, 1)

    def forward(self, x, context):
        h = self.proj_in(self.norm(x))
        seq = h.flatten(2).transpose(1, 2)  # [b, HW, C]
        seq = seq + self.self_attn(self.ln1(seq))
        seq = seq + self.cross_attn(self.ln2(seq), context)
        seq = seq + self.ff2(F.gelu(self.ff1(self.ln3(seq))))
        h = seq.transpose(1, 2).reshape(x.shape)
        return x + self.proj_out(h)


class UNet(nn.Module):
    """Two resolutions (latent and latent/2): height and width must be even.

    forward(sample [b,4,h,w], timestep [b] or [1] float, encoder_hidden_states [b,L,ctx]) -> [b,4,h,w].
    """

    def __init__(self, context_dim=64, c=(64, 96), heads=4):
        super().__init__()
        self.t_dim = c[0]
        temb = c[0] * 4
        self.time1 = nn.Linear(c[0], temb)
        self.time2 = nn.Linear(temb, temb)
        self.conv_in = nn.Conv2d(4, c[0], 3, padding=1)
        self.d0_res = ResBlock(c[0], c[0], temb)
        self.d0_tr = SpatialTransformer(c[0], context_dim, heads)
        self.down = nn.Conv2d(c[0], c[0], 3, stride=2, padding=1)
        self.d1_res = ResBlock(c[0], c[1], temb)
        self.d1_tr = SpatialTransformer(c[1], context_dim, heads)
        self.mid_res1 = ResBlock(c[1], c[1], temb)
        self.mid_tr = SpatialTransformer(c[1], context_dim, heads)
        self.mid_res2 = ResBlock(c[1], c[1], temb)
        self.u1_res = ResBlock(c[1] + c[1], c[1], temb)
        self.u1_tr = SpatialTransformer(c[1], context_dim, heads)
        self.up = Upsample(c[1], c[1])
        self.u0_res = ResBlock(c[1] + c[0], c[0], temb)
        self.u0_tr = SpatialTransformer(c[0], context_dim, heads)
        self.norm_out = group_norm(c[0])
        self.conv_out = nn.Conv2d(c[0], 4, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def forward(self, sample, timestep, encoder_hidden_states):
        ctx = encoder_hidden_states
        t = self.time2(F.silu(self.time1(timestep_embedding(timestep, self.t_dim))))
        h0 = self.conv_in(sample)
        s0 = self.d0_tr(self.d0_res(h0, t), ctx)
        h = self.down(s0)
        s1 = self.d1_tr(self.d1_res(h, t), ctx)
        h = self.mid_res2(self.mid_tr(self.mid_res1(s1, t), ctx), t)
        h = self.u1_tr(self.u1_res(torch.cat([h, s1], dim=1), t), ctx)
        h = self.up(h)
        h = self.u0_tr(self.u0_res(torch.cat([h, s0], dim=1), t), ctx)
        return self.conv_out(F.silu(self.norm_out(h)))


def count_parameters(module):
    return sum(p.numel() for p in module.parameters())
