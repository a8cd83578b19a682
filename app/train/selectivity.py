"""The "assign" depth-selectivity regulariser of You et al. (ICCV 2021) as a differentiable loss.

Unit k of a layer with N units is assigned depth bin floor(k K / N); per mini-batch,
R[k, d] is the mean of |f_k| over the pixels whose depth falls in bin d (|f| upsampled
bilinearly to the depth's resolution, as in the reference), and DS_k is the selectivity index with the assigned bin
in the "max" slot (`endodepth.analysis.selectivity.selectivity_index`: only bins present in the
batch enter the mean of the others; a unit whose bin is absent gets DS 0 but still counts).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from endodepth.analysis.selectivity import bin_weights, depth_bins, selectivity_index


def assigned_bins(units: int, bins: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """Bin assigned to each unit: floor(k K / N), an equal share of units per bin."""
    return torch.div(torch.arange(units, device=device) * bins, units, rounding_mode="floor")


def layer_assign_selectivity(features: torch.Tensor, labels: torch.Tensor, bins: int) -> torch.Tensor:
    """Mean over units of DS with assigned bins, for (B, C, h, w) features and (B, H, W) depth-bin labels."""
    batch, units = features.shape[:2]
    weights = bin_weights(labels, bins, tuple(features.shape[-2:])).to(features.dtype)
    sums = torch.einsum("bcq,bkq->ck", features.abs().reshape(batch, units, -1), weights)
    counts = torch.bincount(labels[labels >= 0], minlength=bins)
    responses = sums / counts.clamp(min=1).to(sums.dtype)
    return selectivity_index(responses, assigned_bins(units, bins, features.device), counts > 0).mean()


def assign_selectivity_loss(
    features: Mapping[str, torch.Tensor],
    depth: torch.Tensor,
    bin_edges: torch.Tensor | np.ndarray,
    weight: float = 0.1,
) -> torch.Tensor:
    """-weight * sum over layers of the mean assigned-bin DS; features (B, C, h, w), depth (B, [1,] H, W)."""
    if depth.ndim == 4:
        depth = depth[:, 0]
    if depth.ndim != 3:
        raise ValueError(f"depth must be (B, H, W) or (B, 1, H, W), got shape {tuple(depth.shape)}")
    edges = bin_edges if torch.is_tensor(bin_edges) else torch.from_numpy(np.asarray(bin_edges, dtype=np.float64))
    labels = depth_bins(depth.detach().float(), edges)
    total = depth.new_zeros((), dtype=torch.float32)
    for layer, fmap in features.items():
        if fmap.ndim != 4 or fmap.shape[0] != depth.shape[0]:
            raise ValueError(f"layer {layer!r}: expected ({depth.shape[0]}, C, h, w) features, got {tuple(fmap.shape)}")
        total = total + layer_assign_selectivity(fmap.float(), labels, len(edges) - 1)
    return -float(weight) * total

