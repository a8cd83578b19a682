"""LLM-MDE's building blocks: LoRA on a ViT's fused q/v, loralib-layout LoRA linears, the cross-modal
reprogramming attention, Language2Depth, the up-sampling adaptation head and token grids.

Parameter names follow the reference (`LanguageMono.py`, `depth/models/lora.py`, loralib), so its
checkpoints map onto these modules by prefix alone (`llm_mde.official_filter`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class QVLoRA(nn.Module):
    """A fused qkv linear with LoRA on its q and v thirds: qkv(x) + scale * [B_q A_q x, 0, B_v A_v x].

    A starts kaiming-uniform, B at zero. `scale` is alpha / r; the reference uses alpha // r (the same
    for its r=160, alpha=320).
    """

    def __init__(self, qkv: nn.Linear, r: int, alpha: float) -> None:
        super().__init__()
        dim = qkv.in_features
        self.qkv = qkv
        self.linear_a_q = nn.Linear(dim, r, bias=False)
        self.linear_b_q = nn.Linear(r, dim, bias=False)
        self.linear_a_v = nn.Linear(dim, r, bias=False)
        self.linear_b_v = nn.Linear(r, dim, bias=False)
        for a, b in ((self.linear_a_q, self.linear_b_q), (self.linear_a_v, self.linear_b_v)):
            nn.init.kaiming_uniform_(a.weight, a=math.sqrt(5))
            nn.init.zeros_(b.weight)
        self.dim = dim
        self.scale = alpha / r

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = self.linear_b_q(self.linear_a_q(x)) * self.scale
        v = self.linear_b_v(self.linear_a_v(x)) * self.scale
        return self.qkv(x) + torch.cat((q, torch.zeros_like(q), v), dim=-1)


def add_qv_lora(vit: nn.Module, r: int, alpha: float) -> None:
    """Wrap every block's `attn.qkv` of a timm ViT in `QVLoRA`."""
    for block in vit.blocks:
        with torch.device(block.attn.qkv.weight.device):
            block.attn.qkv = QVLoRA(block.attn.qkv, r, alpha)


class LoRALinear(nn.Linear):
    """loralib's `Linear` layout: y = W x + b + (alpha / r) B A x with `lora_A` (r, in) and `lora_B` (out, r).

    The weight stays trainable, as in the reference (whose q/k/v are fresh layers). Unlike loralib it never
    folds the update into `weight` in eval mode, so a state dict means the same in both modes.
    """

    def __init__(self, in_features: int, out_features: int, r: int, alpha: float = 1.0) -> None:
        super().__init__(in_features, out_features)
        self.lora_A = nn.Parameter(torch.empty(r, in_features))
        self.lora_B = nn.Parameter(torch.zeros(out_features, r))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.scaling = alpha / r

    def delta_weight(self) -> torch.Tensor:
        """The low-rank update (out, in)."""
        return self.lora_B @ self.lora_A * self.scaling

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight, self.bias) + (x @ self.lora_A.T @ self.lora_B.T) * self.scaling


def add_bert_lora(bert: nn.Module, r: int, alpha: float) -> None:
    """Replace q, k and v of every BERT self-attention by fresh `LoRALinear`s (as the reference does)."""
    hidden = bert.config.hidden_size
    for layer in bert.encoder.layer:
        attention = layer.attention.self
        for name in ("query", "key", "value"):
            with torch.device(getattr(attention, name).weight.device):
                setattr(attention, name, LoRALinear(hidden, hidden, r, alpha))


class Reprogramming(nn.Module):
    """Multi-head cross-attention from visual tokens (queries) to text prototypes (keys and values).

    Each head has `d_keys` dimensions (the reference: d_model). With `separate_values=False` the key
    projection is also used as the values, as in the reference's code, and there is no value projection.
    """

    def __init__(self, d_model: int, heads: int, d_keys: int, d_llm: int, dropout: float = 0.1,
                 separate_values: bool = False) -> None:
        super().__init__()
        self.query_projection = nn.Linear(d_model, d_keys * heads)
        self.key_projection = nn.Linear(d_llm, d_keys * heads)
        if separate_values:
            self.value_projection = nn.Linear(d_llm, d_keys * heads)
        self.out_projection = nn.Linear(d_keys * heads, d_llm)
        self.heads = heads
        self.separate_values = separate_values
        self.dropout = nn.Dropout(dropout)

    def forward(self, tokens: torch.Tensor, prototypes: torch.Tensor) -> torch.Tensor:
        b, n, _ = tokens.shape
        s = prototypes.shape[0]
        q = self.query_projection(tokens).view(b, n, self.heads, -1)
        k = self.key_projection(prototypes).view(s, self.heads, -1)
        v = self.value_projection(prototypes).view(s, self.heads, -1) if self.separate_values else k
        scores = torch.einsum("blhe,she->bhls", q, k) / math.sqrt(q.shape[-1])
        attention = self.dropout(torch.softmax(scores, dim=-1))
        out = torch.einsum("bhls,she->blhe", attention, v).reshape(b, n, -1)
        return self.out_projection(out)


def _bottleneck(dim: int, reduction: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(dim, dim // reduction, bias=False), nn.ReLU(inplace=True),
        nn.Linear(dim // reduction, dim, bias=False), nn.ReLU(inplace=True),
    )


class Language2Depth(nn.Module):
    """x + f2(f1(x)), each f a bias-free Linear-ReLU-Linear-ReLU bottleneck (dim / reduction)."""

    def __init__(self, dim: int, reduction: int = 4) -> None:
        super().__init__()
        self.l2p_l1 = _bottleneck(dim, reduction)
        self.l2p_l2 = _bottleneck(dim, reduction)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.l2p_l2(self.l2p_l1(x))


class UpSampleBN(nn.Module):
    """Upsample the coarse map to the skip's size (bilinear, corners aligned), concat, [conv3x3-BN-LeakyReLU] x2."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self._net = nn.Sequential(
            nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.LeakyReLU(),
            nn.Conv2d(cout, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.LeakyReLU(),
        )

    def forward(self, coarse: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        up = F.interpolate(coarse, size=skip.shape[-2:], mode="bilinear", align_corners=True)
        return self._net(torch.cat((up, skip), dim=1))


class AdaptationHead(nn.Module):
    """Three UpSampleBN blocks at the input's resolution, each fed the same coarse map, then a conv to one channel.

    With f coarse channels (3): up1 (coarse + RGB) 2f -> 4f, up2 5f -> 8f, up3 9f -> 12f, conv3 12f -> 1.
    """

    def __init__(self, features: int = 3) -> None:
        super().__init__()
        self.up1 = UpSampleBN(2 * features, 4 * features)
        self.up2 = UpSampleBN(5 * features, 8 * features)
        self.up3 = UpSampleBN(9 * features, 12 * features)
        self.conv3 = nn.Conv2d(12 * features, 1, 3, padding=1)

    def forward(self, coarse: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        x = self.up1(coarse, image)
        x = self.up2(coarse, x)
        return self.conv3(self.up3(coarse, x))


class TokenGrid(nn.Module):
    """The (B, D, h, w) map of `h * w` tokens read from position `first` (the selectivity analysis's view).

    Missing trailing positions repeat the last token (the reference's token list drops the last patch).
    """

    def __init__(self, grid: tuple[int, int], first: int) -> None:
        super().__init__()
        self.grid, self.first = tuple(grid), first

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        h, w = self.grid
        cells = tokens[:, self.first: self.first + h * w]
        if cells.shape[1] < h * w:
            cells = torch.cat((cells, cells[:, -1:].expand(-1, h * w - cells.shape[1], -1)), dim=1)
        return cells.transpose(1, 2).reshape(tokens.shape[0], -1, h, w)
