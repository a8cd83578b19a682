"""`metric-bins` and `metric-bins-router`: the default network (METER-XXS) with ZoeDepth's metric heads, in mm.

The shared decoder is METER's: the bins read its bottleneck (H/32) and dec_1..dec_3 (H/16..H/4), one
attractor per level (16, 8, 4), and the last stage reads dec_3 with the network's relative output
(min-max normalised per image), as ZoeDepth reads MiDaS. The router variant has one head per domain
(`metric_router.ENDOSCOPY_DOMAINS`) and a narrower patch transformer (64 dims, 4 layers, ff 256) than
ZoeD-NK's, so it trains on a CPU. Both are trained on the project's synthetic domains (cards in weights/).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from endodepth.kinds import METRIC_MM
from endodepth.models.base import Route
from endodepth.models.meter import CONFIGS, Meter, meter_checkpoint_filter
from endodepth.models.metric_bins import normalised_per_image, with_head_init
from endodepth.models.metric_router import ENDOSCOPY_DOMAINS, head_routes, metric_head
from endodepth.models.registry import register

INPUT_SIZE = (160, 192)


class MeterMetricBins(Meter):
    """METER with a metric-bins head (`domains`: the routed heads) instead of its relative output alone."""

    kind = METRIC_MM
    antialias = True

    def __init__(
        self, variant: str = "xxs", input_size: tuple[int, int] = INPUT_SIZE, domains: Sequence | None = None,
        min_depth: float = 1.0, max_depth: float = 150.0, n_attractors: Sequence[int] = (16, 8, 4),
        embed_dim: int = 64, router_feedforward: int = 256, **bins_options,
    ) -> None:
        super().__init__(variant, tuple(input_size))
        width = CONFIGS[variant].decoder
        levels = (width // 2, width // 4, width // 8)
        options = {"n_attractors": tuple(n_attractors), "embed_dim": embed_dim, **bins_options}
        if domains:
            options["router_feedforward"] = router_feedforward
        else:
            options.update(min_depth=min_depth, max_depth=max_depth)
        self.bins = metric_head(width, levels, width // 8 + 1, domains, **options)

    def forward(self, x: torch.Tensor, domains: torch.Tensor | None = None) -> torch.Tensor:
        """Depth (B, 1, H/4, W/4) in mm; `domains` (B,) head indices route a router's samples (training)."""
        bottleneck, levels = self.decoder_levels(x)
        last = torch.cat((levels[-1], normalised_per_image(self.head(levels[-1]))), 1)
        extra = {} if domains is None else {"domains": domains}
        return self.bins(bottleneck, levels, last, **extra)

    def routes(self, batch: int) -> list[Route | None]:
        return head_routes(self.bins, batch)


def meter_metric_checkpoint_filter(state_dict: Mapping[str, torch.Tensor], model: Meter) -> dict[str, torch.Tensor]:
    """Ours pass through; a relative METER checkpoint (`default`'s, or an official one) keeps the head's init."""
    return with_head_init(meter_checkpoint_filter(state_dict, model), model)


@register(
    "metric-bins",
    description="METER-XXS + ZoeDepth metric bins, 1-150 mm, trained on synthetic laparoscopy, colonoscopy and "
                "sinus (bundled; see models/weights/metric-bins.md)",
    bundled_weights="metric-bins.safetensors",
    checkpoint_filter=meter_metric_checkpoint_filter,
)
def _metric_bins(**options) -> MeterMetricBins:
    return MeterMetricBins(**options)


@register(
    "metric-bins-router",
    description="METER-XXS + ZoeD-NK metric heads per domain (laparoscopy 1-150, colonoscopy 1-100, sinus 1-50 mm) "
                "and the trained router, per image (bundled; see models/weights/metric-bins.md)",
    bundled_weights="metric-bins-router.safetensors",
    checkpoint_filter=meter_metric_checkpoint_filter,
    domains=[[d.name, d.min_depth, d.max_depth] for d in ENDOSCOPY_DOMAINS],
)
def _metric_bins_router(**options) -> MeterMetricBins:
    return MeterMetricBins(**options)
