"""ZoeDepth's metric-bins head (Bhat et al. 2023, isl-org/ZoeDepth), the layers the networks put on their decoders.

Seed bin centres are regressed from the decoder's bottleneck, moved by attractors at each
decoder level, and the final depth is the expectation of the bin centres under a per-pixel
log-binomial distribution. Written from the paper and the public description of the code.

Centres live in units of the depth range: b = (depth - min_depth) / (max_depth - min_depth),
so the attractor strength (alpha, gamma) means the same in millimetres as in metres. Final
centres are clipped to [0, 1], so the depth always lies in [min_depth, max_depth] (mm).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

BIN_CENTERS_TYPES = ("softplus", "normed")


def _mlp(cin: int, hidden: int, cout: int, act: nn.Module, hidden_act: nn.Module | None = None) -> nn.Sequential:
    """1x1 conv, activation, 1x1 conv, output activation."""
    hidden_act = hidden_act or nn.ReLU(inplace=True)
    return nn.Sequential(nn.Conv2d(cin, hidden, 1), hidden_act, nn.Conv2d(hidden, cout, 1), act)


def _resize(x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    return x if x.shape[-2:] == tuple(size) else F.interpolate(x, size, mode="bilinear", align_corners=True)


class SeedBinRegressor(nn.Module):
    """Seed bin centres (B, n_bins, h, w) in range units from the bottleneck.

    "normed": positive widths normalised to sum 1, centres are the midpoints of their
    cumulative edges (bounded, ZoeDepth's KITTI choice). "softplus": the MLP's softplus
    output is the set of centres (unbounded, ZoeDepth's default).
    """

    def __init__(self, in_features: int, n_bins: int = 64, mlp_dim: int = 256, kind: str = "softplus") -> None:
        super().__init__()
        if kind not in BIN_CENTERS_TYPES:
            raise ValueError(f"bin centres type must be one of {BIN_CENTERS_TYPES}, got {kind!r}")
        self.kind = kind
        self.net = _mlp(in_features, mlp_dim, n_bins, nn.Softplus() if kind == "softplus" else nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x)
        if self.kind == "softplus":
            return out
        widths = out + 1e-3
        edges = torch.cumsum(F.pad(widths / widths.sum(1, keepdim=True), (0, 0, 0, 0, 1, 0)), dim=1)
        return 0.5 * (edges[:, :-1] + edges[:, 1:])


class Projector(nn.Module):
    """Bin embedding of a decoder level: 1x1 conv, ReLU, 1x1 conv to `out_features` (128)."""

    def __init__(self, in_features: int, out_features: int = 128, mlp_dim: int = 128) -> None:
        super().__init__()
        self.net = _mlp(in_features, mlp_dim, out_features, nn.Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def attractor_shift(
    attractors: torch.Tensor, centres: torch.Tensor, alpha: float, gamma: float, kind: str = "inv", agg: str = "mean"
) -> torch.Tensor:
    """Shift of each centre, AGG_k f(a_k - c) over attractors a (B, A, h, w) and centres c (B, K, h, w).

    Inverse attractor f(dx) = dx / (1 + alpha |dx|^gamma); exponential f(dx) = exp(-alpha |dx|^gamma) dx.
    """
    dx = attractors.unsqueeze(2) - centres.unsqueeze(1)  # (B, A, K, h, w)
    power = alpha * dx.abs().pow(gamma)
    if kind == "inv":
        shift = dx / (1 + power)
    elif kind == "exp":
        shift = torch.exp(-power) * dx
    else:
        raise ValueError(f"attractor type must be 'inv' or 'exp', got {kind!r}")
    if agg == "mean":
        return shift.mean(1)
    if agg == "sum":
        return shift.sum(1)
    raise ValueError(f"attractor aggregation must be 'mean' or 'sum', got {agg!r}")


class AttractorLayer(nn.Module):
    """Predicts `n_attractors` points from the level's embedding (plus the previous one) and pulls the centres.

    Softplus attractors (unbounded) or ReLU + 1e-3 ("normed"; ZoeDepth computes 2 x n and
    keeps only the first n, so only those are computed here).
    """

    def __init__(
        self, embed_dim: int = 128, n_attractors: int = 16, mlp_dim: int = 128, alpha: float = 1000.0,
        gamma: float = 2.0, kind: str = "inv", agg: str = "mean", normed: bool = False,
    ) -> None:
        super().__init__()
        self.alpha, self.gamma, self.kind, self.agg, self.normed = alpha, gamma, kind, agg, normed
        self.net = _mlp(embed_dim, mlp_dim, n_attractors, nn.ReLU(inplace=True) if normed else nn.Softplus())

    def forward(self, embedding: torch.Tensor, previous: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
        """New centres at the embedding's resolution."""
        size = embedding.shape[-2:]
        attractors = self.net(embedding + _resize(previous, size))
        if self.normed:
            attractors = attractors + 1e-3
        centres = _resize(centres, size)
        return centres + attractor_shift(attractors, centres, self.alpha, self.gamma, self.kind, self.agg)


def stirling_log_binom(n: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """log C(n, k) by Stirling's leading terms: n ln n - k ln k - (n-k) ln(n-k) (0 ln 0 = 0)."""
    return torch.special.xlogy(n, n) - torch.special.xlogy(k, k) - torch.special.xlogy(n - k, n - k)


def log_binomial_probs(q: torch.Tensor, temperature: torch.Tensor, n_bins: int, eps: float = 1e-4) -> torch.Tensor:
    """softmax_k(log Binomial(k; K-1, q) / t) over k = 0..K-1, for q and t of shape (B, 1, H, W)."""
    k = torch.arange(n_bins, device=q.device, dtype=q.dtype).view(1, -1, 1, 1)
    n = torch.full_like(k, n_bins - 1)
    logp = stirling_log_binom(n, k) + k * q.clamp(eps, 1).log() + (n - k) * (1 - q).clamp(eps, 1).log()
    return torch.softmax(logp / temperature, dim=1)


class ConditionalLogBinomial(nn.Module):
    """Per-pixel bin probabilities: an MLP on (features, condition) gives the mode q and the temperature t."""

    def __init__(
        self, in_features: int, condition_dim: int, n_bins: int = 64, bottleneck_factor: int = 2,
        min_temp: float = 0.0212, max_temp: float = 50.0, eps: float = 1e-4,
    ) -> None:
        super().__init__()
        self.n_bins, self.min_temp, self.max_temp, self.eps = n_bins, min_temp, max_temp, eps
        width = in_features + condition_dim
        self.mlp = _mlp(width, width // bottleneck_factor, 4, nn.Softplus(), nn.GELU())

    def forward(self, x: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        s = self.mlp(torch.cat((x, condition), 1)) + self.eps
        q = s[:, 0:1] / (s[:, 0:1] + s[:, 1:2])
        t = s[:, 2:3] / (s[:, 2:3] + s[:, 3:4])
        return log_binomial_probs(q, (self.max_temp - self.min_temp) * t + self.min_temp, self.n_bins, self.eps)


class BinEmbeddings(nn.Module):
    """The part of the metric head ZoeD-NK shares between its heads: the bottleneck's 1x1 conv (x_d0)
    and the bin embeddings of the bottleneck and of every decoder level."""

    def __init__(self, bottleneck_channels: int, level_channels: Sequence[int], embed_dim: int = 128,
                 mlp_dim: int = 128) -> None:
        super().__init__()
        self.conv = nn.Conv2d(bottleneck_channels, bottleneck_channels, 1)
        self.seed_projector = Projector(bottleneck_channels, embed_dim, mlp_dim)
        self.projectors = nn.ModuleList(Projector(c, embed_dim, mlp_dim) for c in level_channels)

    def forward(
        self, bottleneck: torch.Tensor, levels: Sequence[torch.Tensor]
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """x_d0 and the embeddings [seed, level 1, ..., level L] (levels coarse to fine)."""
        x = self.conv(bottleneck)
        return x, [self.seed_projector(x)] + [p(level) for p, level in zip(self.projectors, levels)]


class DomainBins(nn.Module):
    """One depth range's own part of the head: seed bins, one attractor per level, the log-binomial."""

    def __init__(
        self, bottleneck_channels: int, levels: int, last_channels: int, n_bins: int = 64,
        min_depth: float = 1.0, max_depth: float = 150.0, bin_centers_type: str = "softplus",
        n_attractors: Sequence[int] = (16, 8, 4, 1), attractor_alpha: float = 1000.0, attractor_gamma: float = 2.0,
        attractor_kind: str = "mean", attractor_type: str = "inv", embed_dim: int = 128,
        min_temp: float = 0.0212, max_temp: float = 50.0, bottleneck_factor: int = 2,
    ) -> None:
        super().__init__()
        if levels != len(n_attractors):
            raise ValueError(f"{levels} decoder levels but {len(n_attractors)} attractor counts")
        if not 0 <= min_depth < max_depth:
            raise ValueError(f"need 0 <= min_depth < max_depth, got {min_depth}, {max_depth}")
        self.min_depth, self.max_depth = float(min_depth), float(max_depth)
        self.seed = SeedBinRegressor(bottleneck_channels, n_bins, kind=bin_centers_type)
        self.attractors = nn.ModuleList(
            AttractorLayer(embed_dim, n, alpha=attractor_alpha, gamma=attractor_gamma, kind=attractor_type,
                           agg=attractor_kind, normed=bin_centers_type == "normed")
            for n in n_attractors
        )
        self.distribution = ConditionalLogBinomial(
            last_channels, embed_dim, n_bins, bottleneck_factor, min_temp=min_temp, max_temp=max_temp
        )

    def bins(
        self, x: torch.Tensor, embeddings: Sequence[torch.Tensor], last: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Probabilities and centres in mm, both (B, n_bins, H, W) at `last`'s resolution."""
        centres = self.seed(x)
        for attractor, previous, embedding in zip(self.attractors, embeddings[:-1], embeddings[1:]):
            centres = attractor(embedding, previous, centres)
        size = last.shape[-2:]
        probs = self.distribution(last, _resize(embeddings[-1], size))
        centres = torch.sort(_resize(centres, size), dim=1).values.clamp(0, 1)
        return probs, self.min_depth + (self.max_depth - self.min_depth) * centres

    def forward(self, x: torch.Tensor, embeddings: Sequence[torch.Tensor], last: torch.Tensor) -> torch.Tensor:
        """Depth (B, 1, H, W) in mm: sum_k p_k c_k."""
        probs, centres = self.bins(x, embeddings, last)
        return (probs * centres).sum(1, keepdim=True)


class MetricBinsHead(nn.Module):
    """ZoeDepth's metric head on a decoder: seed bins, one attractor per level, log-binomial expectation."""

    def __init__(
        self, bottleneck_channels: int, level_channels: Sequence[int], last_channels: int,
        embed_dim: int = 128, **bins_options,
    ) -> None:
        super().__init__()
        self.embed = BinEmbeddings(bottleneck_channels, level_channels, embed_dim)
        self.head = DomainBins(bottleneck_channels, len(level_channels), last_channels, embed_dim=embed_dim,
                               **bins_options)
        self.min_depth, self.max_depth = self.head.min_depth, self.head.max_depth

    def bins(
        self, bottleneck: torch.Tensor, levels: Sequence[torch.Tensor], last: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Probabilities and centres in mm, both (B, n_bins, H, W) at `last`'s resolution; levels coarse to fine."""
        return self.head.bins(*self.embed(bottleneck, levels), last)

    def forward(self, bottleneck: torch.Tensor, levels: Sequence[torch.Tensor], last: torch.Tensor) -> torch.Tensor:
        """Depth (B, 1, H, W) in mm: sum_k p_k c_k."""
        return self.head(*self.embed(bottleneck, levels), last)


def normalised_per_image(rel: torch.Tensor) -> torch.Tensor:
    """A (B, 1, H, W) relative map min-max normalised per image: the relative cue ZoeDepth feeds the last stage."""
    lo = rel.amin((2, 3), keepdim=True)
    return (rel - lo) / (rel.amax((2, 3), keepdim=True) - lo + 1e-6)


def with_head_init(state_dict: Mapping[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """A checkpoint of the network without its metric head (no `bins.` keys: a relative model's) keeps the
    head's initialisation, so relative weights start metric training as ZoeDepth starts from MiDaS."""
    out = dict(state_dict)
    if not any(k.startswith("bins.") for k in out):
        out.update({k: v for k, v in model.state_dict().items() if k.startswith("bins.")})
    return out
