"""METER (Papa, Russo, Amerini, TCSVT 2023): a MobileViT-like encoder and a transposed-conv decoder.

A light network for depth on embedded devices, written from the paper and the public
description of `lorenzopapa5/METER`. Stages are named sub-modules (`enc_0`..`enc_4`,
`dec_1`..`dec_3`) so forward hooks read them as features. The decoder ends at a quarter of
the input size; `DepthEstimator.predict_batch` upsamples to the frame. By default the raw
output is a log depth and `exp` makes it positive, which suits the scale-invariant log loss
(SILog); `output="linear"` reads it as depth itself (ReLU), as the official METER checkpoints
do (their unit is cm for NYU, dm for KITTI). Input is RGB in [0, 1] (the first convolution is
followed by batch norm, which absorbs a normalisation). `meter_checkpoint_filter` renames the
official checkpoints' keys to ours.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from endodepth.kinds import RELATIVE
from endodepth.models.base import DepthEstimator
from endodepth.models.registry import register

LOG_DEPTH_LIMIT = 20.0  # |log depth| is clamped so exp() stays finite (autocast runs exp in float32)
OUTPUTS = ("exp", "linear")


@dataclass(frozen=True)
class MeterConfig:
    """Widths of one METER variant: transformer dims, the 11 encoder channels, MV2 expansion, decoder width."""

    dims: tuple[int, int, int]
    channels: tuple[int, ...]
    expansion: int
    decoder: int


CONFIGS = {
    "xxs": MeterConfig((64, 80, 96), (16, 16, 24, 24, 48, 48, 64, 64, 80, 80, 160), 2, 64),
    "xs": MeterConfig((96, 120, 144), (16, 32, 48, 48, 64, 64, 80, 80, 96, 96, 192), 4, 128),
    "s": MeterConfig((144, 192, 240), (16, 32, 64, 64, 96, 96, 128, 128, 160, 160, 320), 4, 128),
}


class SeparableConv(nn.Sequential):
    """METER's "separable" conv: a full 3x3 conv (groups=1, not depthwise) then a 1x1, no biases."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__(
            nn.Conv2d(cin, cout, 3, stride, 1, bias=False),
            nn.Conv2d(cout, cout, 1, bias=False),
        )


def conv_3x3_bn(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    """SeparableConv + BN + ReLU."""
    return nn.Sequential(SeparableConv(cin, cout, stride), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


def conv_1x1_bn(cin: int, cout: int) -> nn.Sequential:
    """1x1 conv + BN + ReLU."""
    return nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expand, 3x3 depthwise (stride), 1x1 project; residual when shapes allow."""

    def __init__(self, cin: int, cout: int, stride: int, expansion: int) -> None:
        super().__init__()
        hidden = cin * expansion
        self.residual = stride == 1 and cin == cout
        self.conv = nn.Sequential(
            nn.Conv2d(cin, hidden, 1, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.residual else self.conv(x)


class Attention(nn.Module):
    """Multi-head self-attention over the last-but-one axis (4 heads of 8 dims in METER)."""

    def __init__(self, dim: int, heads: int = 4, dim_head: int = 8) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * heads * dim_head, bias=False)
        self.out = nn.Linear(heads * dim_head, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v)
        return self.out(y.transpose(1, 2).reshape(b, n, -1))


class TransformerLayer(nn.Module):
    """Pre-norm transformer layer: x + MHSA(LN(x)), then x + FFN(LN(x)) with a ReLU FFN."""

    def __init__(self, dim: int, mlp_dim: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.ffn = nn.Sequential(nn.Linear(dim, mlp_dim), nn.ReLU(inplace=True), nn.Linear(mlp_dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.ffn(self.norm2(x))


class MobileViTBlock(nn.Module):
    """Local convs, a transformer across 2x2 patches (pixels at the same patch offset attend), fusion.

    Odd feature sizes are padded (replicate) for the patch split and cropped back.
    """

    patch = 2

    def __init__(self, dim: int, channels: int, mlp_dim: int) -> None:
        super().__init__()
        self.local = nn.Sequential(conv_3x3_bn(channels, channels), conv_1x1_bn(channels, dim))
        self.transformer = TransformerLayer(dim, mlp_dim)
        self.project = conv_1x1_bn(dim, channels)
        self.fuse = conv_3x3_bn(2 * channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.local(x)
        b, d, h, w = y.shape
        p = self.patch
        ph, pw = -h % p, -w % p
        if ph or pw:
            y = F.pad(y, (0, pw, 0, ph), mode="replicate")
        hp, wp = (h + ph) // p, (w + pw) // p
        tokens = y.reshape(b, d, hp, p, wp, p).permute(0, 3, 5, 2, 4, 1).reshape(b * p * p, hp * wp, d)
        tokens = self.transformer(tokens)
        y = tokens.reshape(b, p, p, hp, wp, d).permute(0, 5, 3, 1, 4, 2).reshape(b, d, hp * p, wp * p)
        y = self.project(y[:, :, :h, :w])
        return self.fuse(torch.cat((y, x), 1))


class UpBlock(nn.Module):
    """Transposed 3x3 conv (x2), concat the encoder skip, SeparableConv + ReLU."""

    def __init__(self, cin: int, cout: int, skip: int) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(cin, cout, 3, stride=2, padding=1, output_padding=1, bias=False)
        self.fuse = nn.Sequential(SeparableConv(cout + skip, cout), nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        # Stride-2 convs round odd sizes up, so 2x the coarse map can exceed the skip by one pixel.
        x = self.up(x)[..., : skip.shape[-2], : skip.shape[-1]]
        return self.fuse(torch.cat((x, skip), 1))


class Meter(DepthEstimator):
    """METER depth network (relative depth, output at H/4 x W/4)."""

    kind = RELATIVE
    input_size = (256, 320)
    default_layers = ("enc_0", "enc_1", "enc_2", "enc_3", "enc_4", "dec_1", "dec_2", "dec_3")

    def __init__(self, variant: str = "xxs", input_size: tuple[int, int] = (256, 320), output: str = "exp") -> None:
        super().__init__()
        if variant not in CONFIGS:
            raise ValueError(f"unknown METER variant {variant!r}; choose from {', '.join(CONFIGS)}")
        if output not in OUTPUTS:
            raise ValueError(f"METER output must be one of {OUTPUTS}, got {output!r}")
        self.output = output
        if input_size[0] % 32 or input_size[1] % 32:
            raise ValueError(f"METER input size must be a multiple of 32, got {input_size}")
        self.input_size = tuple(input_size)
        cfg = CONFIGS[variant]
        c, d, t = cfg.channels, cfg.dims, cfg.expansion
        self.enc_0 = conv_3x3_bn(3, c[0], stride=2)
        self.enc_1 = nn.Sequential(InvertedResidual(c[0], c[1], 1, t), InvertedResidual(c[1], c[2], 2, t))
        self.enc_2 = nn.Sequential(
            InvertedResidual(c[2], c[3], 1, t), InvertedResidual(c[3], c[3], 1, t), InvertedResidual(c[3], c[4], 2, t)
        )
        self.enc_3 = nn.Sequential(MobileViTBlock(d[0], c[5], 2 * d[0]), InvertedResidual(c[5], c[6], 2, t))
        self.enc_4 = nn.Sequential(
            MobileViTBlock(d[1], c[7], 4 * d[1]),
            InvertedResidual(c[7], c[8], 2, t),
            MobileViTBlock(d[2], c[9], 4 * d[2]),
            conv_1x1_bn(c[9], c[10]),
        )
        w = cfg.decoder
        self.bottleneck = nn.Conv2d(c[10], w, 1, bias=False)
        self.dec_1 = UpBlock(w, w // 2, c[6])
        self.dec_2 = UpBlock(w // 2, w // 4, c[4])
        self.dec_3 = UpBlock(w // 4, w // 8, c[2])
        self.head = nn.Conv2d(w // 8, 1, 3, padding=1, bias=False)
        self.to(memory_format=torch.channels_last)  # about 1.5x faster on CPU; weights keep this layout

    def decoder_levels(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The bottleneck (H/32) and the decoder's outputs dec_1..dec_3 (H/16, H/8, H/4) for an RGB batch in [0, 1]."""
        y1 = self.enc_1(self.enc_0(x))
        y2 = self.enc_2(y1)
        y3 = self.enc_3(y2)
        z = self.bottleneck(self.enc_4(y3))
        d1 = self.dec_1(z, y3)
        d2 = self.dec_2(d1, y2)
        return z, [d1, d2, self.dec_3(d2, y1)]

    def forward_raw(self, x: torch.Tensor) -> torch.Tensor:
        """The last conv's output (B, 1, H/4, W/4) for an RGB batch in [0, 1]: log depth, or depth when linear."""
        return self.head(self.decoder_levels(x)[1][-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Positive relative depth (B, 1, H/4, W/4)."""
        raw = self.forward_raw(x)
        return raw.clamp(-LOG_DEPTH_LIMIT, LOG_DEPTH_LIMIT).exp() if self.output == "exp" else F.relu(raw)


# Official METER (lorenzopapa5/METER, architecture.py) key -> ours, applied in order.
_OFFICIAL_KEYS = [
    (r"\.depthwise\.", ".0."),
    (r"\.pointwise\.", ".1."),
    (r"^encoder\.conv1\.", "enc_0."),
    (r"^encoder\.conv2\.", "enc_4.3."),
    (r"^encoder\.mv2\.0\.", "enc_1.0."),
    (r"^encoder\.mv2\.1\.", "enc_1.1."),
    (r"^encoder\.mv2\.2\.", "enc_2.0."),
    (r"^encoder\.mv2\.3\.", "enc_2.1."),
    (r"^encoder\.mv2\.4\.", "enc_2.2."),
    (r"^encoder\.mv2\.5\.", "enc_3.1."),
    (r"^encoder\.mv2\.6\.", "enc_4.1."),
    (r"^encoder\.mvit\.0\.", "enc_3.0."),
    (r"^encoder\.mvit\.1\.", "enc_4.0."),
    (r"^encoder\.mvit\.2\.", "enc_4.2."),
    (r"\.conv1\.", ".local.0."),
    (r"\.conv2\.", ".local.1."),
    (r"\.conv3\.", ".project."),
    (r"\.conv4\.", ".fuse."),
    (r"\.transformer\.layers\.0\.0\.norm\.", ".transformer.norm1."),
    (r"\.transformer\.layers\.0\.0\.fn\.to_qkv\.", ".transformer.attn.qkv."),
    (r"\.transformer\.layers\.0\.0\.fn\.to_out\.0\.", ".transformer.attn.out."),
    (r"\.transformer\.layers\.0\.1\.norm\.", ".transformer.norm2."),
    (r"\.transformer\.layers\.0\.1\.fn\.net\.0\.", ".transformer.ffn.0."),
    (r"\.transformer\.layers\.0\.1\.fn\.net\.3\.", ".transformer.ffn.2."),
    (r"^decoder\.conv2d_in\.", "bottleneck."),
    (r"^decoder\.conv2d_out\.", "head."),
    (r"^decoder\.ups_block_(\d)\.conv2d_transpose\.", r"dec_\1.up."),
    (r"^decoder\.ups_block_(\d)\.end_up_layer\.", r"dec_\1.fuse."),
]


def meter_checkpoint_filter(state_dict: Mapping[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """Official METER keys (`encoder.*`, `decoder.*`) -> ours; ours pass through.

    Official weights predict linear depth: build the model with `output="linear"` for them.
    """
    out = {}
    for key, value in state_dict.items():
        if key.startswith(("encoder.", "decoder.")):
            for pattern, repl in _OFFICIAL_KEYS:
                key = re.sub(pattern, repl, key)
        out[key] = value
    return out


def _register(variant: str, description: str) -> None:
    @register(
        f"meter-{variant}", description=description,
        checkpoint_filter=meter_checkpoint_filter, variant=variant,
    )
    def build(**options) -> Meter:
        return Meter(**options)


_register("xxs", "METER XXS (0.71 M parameters): MobileViT-like encoder, real-time on CPU")
_register("xs", "METER XS (1.45 M parameters): MobileViT-like encoder")
_register("s", "METER S (3.30 M parameters): MobileViT-like encoder")
