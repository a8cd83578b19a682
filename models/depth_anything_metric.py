"""Depth Anything V2 with ZoeDepth's metric-bins head, or with the routed heads of ZoeD-NK (depth in mm)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from endodepth.kinds import METRIC_MM
from endodepth.models.base import Route
from endodepth.models.depth_anything import DepthAnythingV2, da2_checkpoint_filter
from endodepth.models.dinov2 import PATCH
from endodepth.models.metric_bins import normalised_per_image, with_head_init
from endodepth.models.metric_router import ENDOSCOPY_DOMAINS, head_routes, metric_head
from endodepth.models.registry import register


class DepthAnythingMetricBins(DepthAnythingV2):
    """Depth Anything V2 with ZoeDepth's metric-bins head on its DPT decoder (depth in mm).

    The head reads the bottleneck (layer4_rn), path_4..path_1, and the 32-channel features
    before the relative output plus that output (min-max normalised per image), as ZoeDepth
    reads MiDaS. With `domains` ((name, min mm, max mm) rows) it is ZoeD-NK's routed heads.
    An official Depth Anything V2 checkpoint initialises everything but the head.
    """

    def __init__(
        self, encoder: str = "vits", min_depth: float = 1.0, max_depth: float = 150.0, dropout: float = 0.1,
        short_side: int = 518, domains: Sequence | None = None, **bins_options,
    ) -> None:
        super().__init__(encoder, metric=False, dropout=dropout, short_side=short_side)
        self.kind = METRIC_MM
        width = self.depth_head.scratch.layer4_rn.out_channels
        last = self.depth_head.scratch.output_conv2[0].out_channels + 1
        if not domains:
            bins_options.update(min_depth=min_depth, max_depth=max_depth)
        self.bins = metric_head(width, (width,) * 4, last, domains, **bins_options)

    def _metric(self, levels: dict[str, torch.Tensor], patch_h: int, patch_w: int,
                domains: torch.Tensor | None = None) -> torch.Tensor:
        head = self.depth_head
        last = head.output_features(levels["path_1"], patch_h, patch_w)
        rel = normalised_per_image(F.relu(head.scratch.output_conv2[2:](last)))
        paths = [levels[f"path_{i}"] for i in (4, 3, 2, 1)]
        extra = {} if domains is None else {"domains": domains}
        return self.bins(levels["bottleneck"], paths, torch.cat((last, rel), 1), **extra)

    def forward(self, x: torch.Tensor, domains: torch.Tensor | None = None) -> torch.Tensor:
        patch_h, patch_w = x.shape[-2] // PATCH, x.shape[-1] // PATCH
        levels = self.depth_head.forward_levels(self.features(x), patch_h, patch_w)
        return self._metric(levels, patch_h, patch_w, domains)

    def _sampled_output(
        self, levels: dict[str, torch.Tensor], patch_h: int, patch_w: int, samples: int
    ) -> torch.Tensor:
        """MC-dropout (`DepthAnythingV2.stochastic_forward`): the output stack and the bins head `samples` times."""
        return self._metric({k: v.repeat_interleave(samples, dim=0) for k, v in levels.items()}, patch_h, patch_w)

    def routes(self, batch: int) -> list[Route | None]:
        return head_routes(self.bins, batch)


def metric_bins_checkpoint_filter(state_dict: Mapping[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """Our checkpoints pass through; an official Depth Anything V2 one (no `bins.` keys) keeps the head's init."""
    return with_head_init(da2_checkpoint_filter(state_dict, model), model)


@register(
    "depth-anything-v2-vits-metric-bins",
    description="Depth Anything V2 Small + ZoeDepth metric bins (64 bins, 1-150 mm by default)",
    checkpoint_filter=metric_bins_checkpoint_filter,
)
def _vits_metric_bins(**options) -> DepthAnythingMetricBins:
    return DepthAnythingMetricBins("vits", **options)


@register(
    "depth-anything-v2-vits-metric-bins-router",
    description="Depth Anything V2 Small + ZoeD-NK routed metric heads (laparoscopy 1-150, colonoscopy 1-100, "
                "sinus 1-50 mm) and the patch-transformer router",
    checkpoint_filter=metric_bins_checkpoint_filter,
    domains=[[d.name, d.min_depth, d.max_depth] for d in ENDOSCOPY_DOMAINS],
)
def _vits_metric_bins_router(**options) -> DepthAnythingMetricBins:
    return DepthAnythingMetricBins("vits", **options)
