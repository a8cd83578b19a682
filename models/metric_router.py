"""ZoeD-NK's metric heads with a router (Bhat et al. 2023, isl-org/ZoeDepth `zoedepth_nk_v1.py`), per sample.

Several metric-bins heads, one per domain and depth range, share the bin embeddings of one decoder
(`BinEmbeddings`); each owns its seed bins, attractors and log-binomial (`DomainBins`). A patch
transformer over the bottleneck with a zero "class" token and an MLP classifier gives domain logits.
ZoeD-NK sums the logits over the batch and sends the whole batch to one head; here every sample goes
to its own argmax head, and training sends it to its labelled domain's head while the cross-entropy
on the logits trains the router.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from endodepth.models.base import Route
from endodepth.models.metric_bins import BinEmbeddings, DomainBins, MetricBinsHead


@dataclass(frozen=True)
class Domain:
    """A head's name and depth range in mm."""

    name: str
    min_depth: float
    max_depth: float


ENDOSCOPY_DOMAINS = (Domain("laparoscopy", 1.0, 150.0), Domain("colonoscopy", 1.0, 100.0), Domain("sinus", 1.0, 50.0))


def as_domains(domains: Sequence) -> tuple[Domain, ...]:
    """Domains from `Domain`s or (name, min_depth, max_depth) rows (as a checkpoint's JSON options hold them)."""
    out = tuple(d if isinstance(d, Domain) else Domain(str(d[0]), float(d[1]), float(d[2])) for d in domains)
    if len(out) < 2 or len({d.name for d in out}) != len(out):
        raise ValueError(f"a router needs two or more domains with distinct names, got {[d.name for d in out]}")
    return out


def sinusoidal_positions(length: int, dim: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """1-D positional encoding (length, dim): sin of position x 10000^(-2i/dim), then cos (ZoeDepth's order)."""
    position = torch.arange(length, device=device, dtype=torch.float32)[:, None]
    index = torch.arange(0, dim, 2, device=device, dtype=torch.float32)
    freq = torch.exp(index * (-math.log(1e4) / dim))
    angles = position * freq
    return torch.cat((angles.sin(), angles.cos()), 1).to(dtype)


class PatchTransformerRouter(nn.Module):
    """Domain logits (B, n) from the bottleneck: 1x1 patch embedding, a zero token in front, positions,
    a transformer encoder, and an MLP on the first token (ZoeDepth: 128 dims, 4 heads, 4 layers, ff 1024)."""

    def __init__(self, in_channels: int, n_domains: int, embed_dim: int = 128, heads: int = 4, layers: int = 4,
                 feedforward: int = 1024) -> None:
        super().__init__()
        self.embedding = nn.Conv2d(in_channels, embed_dim, 1)
        layer = nn.TransformerEncoderLayer(embed_dim, heads, feedforward, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.classifier = nn.Sequential(nn.Linear(embed_dim, 128), nn.ReLU(), nn.Linear(128, n_domains))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = F.pad(self.embedding(x).flatten(2), (1, 0)).transpose(1, 2)  # (B, 1 + h w, E), token 0 zero
        tokens = tokens + sinusoidal_positions(tokens.shape[1], tokens.shape[2], tokens.device, tokens.dtype)
        return self.classifier(self.encoder(tokens)[:, 0])


@dataclass
class Routing:
    """The router's answer for a batch: logits and probabilities (B, n), the head index chosen per sample."""

    logits: torch.Tensor
    probabilities: torch.Tensor
    chosen: torch.Tensor


class MetricBinsRouter(nn.Module):
    """Heads per domain on shared bin embeddings, and the router that picks one per sample.

    `forward(..., domains=None)` routes by the router's argmax; with `domains` (B,) head indices (the
    labels, in training) it uses those. `last_routing` keeps the last pass's logits for the loss and display.
    """

    def __init__(
        self, bottleneck_channels: int, level_channels: Sequence[int], last_channels: int,
        domains: Sequence = ENDOSCOPY_DOMAINS, embed_dim: int = 128, router_layers: int = 4,
        router_feedforward: int = 1024, **bins_options,
    ) -> None:
        super().__init__()
        self.domains = as_domains(domains)
        self.embed = BinEmbeddings(bottleneck_channels, level_channels, embed_dim, mlp_dim=embed_dim // 2)
        self.router = PatchTransformerRouter(bottleneck_channels, len(self.domains), embed_dim, 4, router_layers,
                                             router_feedforward)
        self.heads = nn.ModuleDict({
            d.name: DomainBins(bottleneck_channels, len(level_channels), last_channels, min_depth=d.min_depth,
                               max_depth=d.max_depth, embed_dim=embed_dim, bottleneck_factor=4, **bins_options)
            for d in self.domains
        })
        self.last_routing: Routing | None = None

    def forward(
        self, bottleneck: torch.Tensor, levels: Sequence[torch.Tensor], last: torch.Tensor,
        domains: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Depth (B, 1, H, W) in mm, each sample from its own head."""
        x, embeddings = self.embed(bottleneck, levels)
        logits = self.router(x)
        chosen = logits.argmax(1) if domains is None else domains.to(logits.device).long()
        parts, order = [], []
        for i, head in enumerate(self.heads.values()):
            idx = (chosen == i).nonzero().squeeze(1)
            if idx.numel():
                parts.append(head(x[idx], [e[idx] for e in embeddings], last[idx]))
                order.append(idx)
        self.last_routing = Routing(logits, torch.softmax(logits.float(), 1), chosen)
        return torch.cat(parts)[torch.argsort(torch.cat(order))]

    def routes(self, batch: int) -> list[Route | None]:
        """The last pass's head and probabilities per image of a batch of `batch` (MC samples collapsed)."""
        routing = self.last_routing
        if routing is None or len(routing.chosen) < batch:
            return [None] * batch
        step = len(routing.chosen) // batch
        names = [d.name for d in self.domains]
        return [
            Route(names[int(routing.chosen[i])], dict(zip(names, routing.probabilities[i].tolist())))
            for i in range(0, step * batch, step)
        ]


def metric_head(
    bottleneck_channels: int, level_channels: Sequence[int], last_channels: int, domains: Sequence | None = None,
    **options,
) -> MetricBinsHead | MetricBinsRouter:
    """One metric-bins head (`min_depth`, `max_depth` options) or, with `domains`, the routed heads."""
    if domains:
        return MetricBinsRouter(bottleneck_channels, level_channels, last_channels, domains, **options)
    return MetricBinsHead(bottleneck_channels, level_channels, last_channels, **options)


def head_routes(head: nn.Module, batch: int) -> list[Route | None]:
    """What a metric head says per image about routing: the router's choice, or nothing for a single head."""
    return head.routes(batch) if isinstance(head, MetricBinsRouter) else [None] * batch
