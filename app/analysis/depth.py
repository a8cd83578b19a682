"""Conversions between a network's output kinds and depth, and scale alignment: the one place for both."""

from __future__ import annotations

import cv2
import numpy as np

from endodepth.kinds import RELATIVE_INVERSE, check_kind


def as_depth(values: np.ndarray, kind: str) -> np.ndarray:
    """Depth from a network output of `kind`: inverse depth becomes 1/x, the others are unchanged.

    A non-positive inverse depth has no finite depth; it becomes +inf (clamped to the far
    limit by the evaluation).
    """
    check_kind(kind)
    values = np.asarray(values, dtype=np.float32)
    if kind != RELATIVE_INVERSE:
        return values
    with np.errstate(divide="ignore"):
        return np.where(values > 0, 1.0 / np.maximum(values, np.finfo(np.float32).tiny), np.inf).astype(np.float32)


def valid_mask(gt: np.ndarray, min_depth: float, max_depth: float) -> np.ndarray:
    """Pixels whose ground truth is known and inside (min_depth, max_depth); NaN and 0 are excluded."""
    gt = np.asarray(gt)
    with np.errstate(invalid="ignore"):
        return np.isfinite(gt) & (gt > min_depth) & (gt < max_depth)


def resize_to(values: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of a (H, W) map to `shape` (H, W), as the SCARED evaluation does."""
    values = np.asarray(values, dtype=np.float32)
    if values.shape == tuple(shape):
        return values
    return cv2.resize(values, (int(shape[1]), int(shape[0])), interpolation=cv2.INTER_LINEAR)


def median_scale(pred: np.ndarray, gt: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, float]:
    """`pred` times median(gt)/median(pred) over the valid pixels, and that ratio."""
    ratio = float(np.median(gt[valid]) / np.median(pred[valid]))
    return (pred * ratio).astype(np.float32), ratio


def scale_shift(pred: np.ndarray, ref: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, float, float]:
    """`s * pred + t` with s, t the least-squares fit of `pred` to `ref` over the valid pixels."""
    x = pred[valid].astype(np.float64)
    y = ref[valid].astype(np.float64)
    A = np.stack([x, np.ones_like(x)], axis=1)
    (s, t), *_ = np.linalg.lstsq(A, y, rcond=None)
    return (pred * s + t).astype(np.float32), float(s), float(t)
