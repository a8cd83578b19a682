"""Knowledge distillation (Song & Lee 2023): a teacher's MC-dropout mean labels frames, its spread weighs them.

The student learns a multi-scale scale-invariant log loss, weighted per pixel by the teacher's
confidence, with scale weights 1, 1/2, 1/4, 1/8 as real fractions: the reference code writes
`1//4`, integer division, which makes every coarse term zero.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from endodepth.frame import Frame
from endodepth.models.base import DepthEstimator
from endodepth.train.losses import normalised_log_depth, silog
from endodepth.train.pseudo_labels import model_teacher, pseudo_labels

SCALE_WEIGHTS = (1.0, 1 / 2, 1 / 4, 1 / 8)


def _pool(values: torch.Tensor, weight: torch.Tensor, s: int) -> tuple[torch.Tensor, torch.Tensor]:
    """`values` averaged by `weight` over 2**s x 2**s cells, and the cells' mean weight."""
    if s == 0:
        return values, weight
    k = 2**s
    w = F.avg_pool2d(weight, k, ceil_mode=True)
    v = F.avg_pool2d(values * weight, k, ceil_mode=True) / w.clamp_min(1e-6)
    return v, w


def multiscale_silog(
    log_pred: torch.Tensor, log_label: torch.Tensor, weight: torch.Tensor,
    scale_weights: Sequence[float] = SCALE_WEIGHTS, variance_focus: float = 1.0,
) -> dict[str, torch.Tensor]:
    """Confidence-weighted SILog at each scale (log depths pooled by 2**s), times that scale's weight.

    Both maps are pooled with the confidence as weights; `variance_focus` 1 ignores a global log
    offset (a relative teacher's depth has no scale).

    All inputs are (B, 1, h, w) at one size; `weight` in [0, 1] (0: no label). Returns one term per scale.
    """
    terms = {}
    for s, factor in enumerate(scale_weights):
        pred, _ = _pool(log_pred, weight, s)
        label, w = _pool(log_label, weight, s)
        terms[f"silog_{s}"] = factor * silog(pred, label, w, variance_focus)
    return terms


def distillation_loss(depth: torch.Tensor, label: torch.Tensor, weight: torch.Tensor) -> dict[str, torch.Tensor]:
    """The student's positive depth against the teacher's (median-normalised log) depth, multi-scale."""
    target = normalised_log_depth(label, (weight > 0).to(depth.dtype))
    return multiscale_silog(depth.clamp_min(1e-6).log(), target, weight)


def teacher_labels(
    teacher: DepthEstimator, frames: Sequence[Frame], size: tuple[int, int], samples: int = 1
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each frame's teacher depth (mean of `samples` MC-dropout passes) and confidence (from their spread) at `size`."""
    teacher.mc_samples = max(1, samples)
    return pseudo_labels(frames, model_teacher(teacher), size)
