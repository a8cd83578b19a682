"""Pseudo-labels from a teacher (another model, or the stereo depth) and the scale-invariant loss that learns them.

A teacher is any callable `frame -> TeacherLabel`: depth (positive, any unit; metric or up to
scale), a confidence in [0, 1] or None (uniform), and the pixels it vouches for. The student
learns the teacher's depth up to a scale (SILog on median-normalised log depth), each pixel
weighted by the teacher's confidence.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import cv2
import numpy as np
import torch

from endodepth.analysis.depth import as_depth
from endodepth.frame import Frame
from endodepth.kinds import finite_positive
from endodepth.models.base import DepthEstimator
from endodepth.train.losses import gradient_matching, normalised_log_depth, silog
from endodepth.vis.masks import specular_mask

RELATIVE_STD_AT_HALF_WEIGHT = 0.1  # a model teacher's pixel with std = 10% of its value weighs 0.5
GRADIENT_WEIGHT = 0.5


class TeacherLabel(NamedTuple):
    """One frame's label: depth (H, W), confidence (H, W) in [0, 1] or None, valid (H, W) bool."""

    depth: np.ndarray
    confidence: np.ndarray | None
    valid: np.ndarray


Teacher = Callable[[Frame], TeacherLabel]


def confidence_from_std(value: np.ndarray, std: np.ndarray) -> np.ndarray:
    """Weight 1 / (1 + (std / |value| / 0.1)^2): 1 where the teacher is sure, 0.5 at a 10% relative std."""
    relative = np.abs(std) / np.maximum(np.abs(value), 1e-12)
    return (1.0 / (1.0 + (relative / RELATIVE_STD_AT_HALF_WEIGHT) ** 2)).astype(np.float32)


def model_teacher(model: DepthEstimator) -> Teacher:
    """A model as a teacher: its depth (inverse depth inverted; stereo models read the right view), with the
    confidence it states, or one from its uncertainty when it gives one."""

    def teach(frame: Frame) -> TeacherLabel:
        result = model.predict_frame(frame)
        depth = as_depth(result.output, result.kind)
        confidence = result.confidence  # stereo states one (0 where unmatched); otherwise from MC-dropout spread
        if confidence is None and result.uncertainty is not None:
            confidence = confidence_from_std(result.output, result.uncertainty)
        return TeacherLabel(depth, confidence, finite_positive(depth))

    return teach


def _shrink(values: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Area-average a (H, W) map to `size` (h, w)."""
    return cv2.resize(values.astype(np.float32), (size[1], size[0]), interpolation=cv2.INTER_AREA)


def label_maps(label: TeacherLabel, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """A label at the loss resolution: depth averaged over the valid pixels, weight 0 where any pixel was invalid."""
    valid = label.valid & finite_positive(label.depth)
    depth = np.where(valid, label.depth, 0.0)
    weight = np.ones_like(depth, np.float32) if label.confidence is None else np.nan_to_num(label.confidence)
    coverage = _shrink(valid, size)
    full = coverage > 0.999
    small_depth = np.where(full, _shrink(depth, size) / np.maximum(coverage, 1e-6), 0.0)
    small_weight = np.where(full, np.clip(_shrink(weight * valid, size), 0.0, 1.0), 0.0)
    return small_depth.astype(np.float32), small_weight.astype(np.float32)


def pseudo_labels(
    frames: Sequence[Frame], teacher: Teacher, size: tuple[int, int], progress: Callable[[int], None] | None = None,
    mask_specular: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The teacher's depth and weights for each frame at `size` (h, w): two (N, 1, h, w) float32 tensors.
    With `mask_specular`, the frame's specular highlights (`vis.masks.specular_mask`) get weight 0: stereo
    matches them where the light is mirrored, not where the surface is."""
    depths, weights = [], []
    for i, frame in enumerate(frames):
        label = teacher(frame)
        if mask_specular:
            label = label._replace(valid=label.valid & ~specular_mask(frame.rgb))
        d, w = label_maps(label, size)
        depths.append(d)
        weights.append(w)
        if progress is not None:
            progress(i + 1)
    return torch.from_numpy(np.stack(depths))[:, None], torch.from_numpy(np.stack(weights))[:, None]


def pseudo_label_loss(
    depth: torch.Tensor, label: torch.Tensor, weight: torch.Tensor, variance_focus: float = 1.0
) -> dict[str, torch.Tensor]:
    """Confidence-weighted SILog (scale-free at variance_focus 1) plus gradient matching, on log depth.

    `depth` is the student's positive depth (B, 1, h, w) at the label's size; the label is
    median-normalised, so a relative student learns it up to scale.
    """
    valid = (weight > 0).to(depth.dtype)
    log_pred = depth.clamp_min(1e-6).log()
    target = normalised_log_depth(label, valid)
    return {
        "silog": silog(log_pred, target, weight, variance_focus),
        "gradient": GRADIENT_WEIGHT * gradient_matching(log_pred, target, valid),  # blind to a log offset
    }
