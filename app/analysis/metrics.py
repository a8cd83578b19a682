"""The SCARED / KITTI monocular depth errors (AF-SfMLearner, EndoDAC) and the per-frame protocol."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from endodepth.analysis.depth import as_depth, median_scale, resize_to, valid_mask
from endodepth.kinds import METRIC_MM

METRICS = ("abs_rel", "sq_rel", "rmse", "rmse_log", "a1", "a2", "a3")
MIN_DEPTH = 1e-3
MAX_DEPTH = 150.0


def compute_errors(gt: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """abs_rel, sq_rel, rmse, rmse_log, a1, a2, a3 between positive depths `gt` and `pred` (same shape)."""
    gt = np.asarray(gt, dtype=np.float64).ravel()
    pred = np.asarray(pred, dtype=np.float64).ravel()
    thresh = np.maximum(gt / pred, pred / gt)
    diff = gt - pred
    return {
        "abs_rel": float(np.mean(np.abs(diff) / gt)),
        "sq_rel": float(np.mean(diff**2 / gt)),
        "rmse": float(np.sqrt(np.mean(diff**2))),
        "rmse_log": float(np.sqrt(np.mean((np.log(gt) - np.log(pred)) ** 2))),
        "a1": float(np.mean(thresh < 1.25)),
        "a2": float(np.mean(thresh < 1.25**2)),
        "a3": float(np.mean(thresh < 1.25**3)),
    }


def evaluate_frame(
    pred_depth: np.ndarray,
    pred_kind: str,
    gt: np.ndarray,
    min_depth: float = MIN_DEPTH,
    max_depth: float = MAX_DEPTH,
    median_scaling: bool = True,
) -> dict[str, float] | None:
    """Errors of one prediction against its ground truth, or None when no pixel is valid.

    The prediction is resized to the ground truth (bilinear, in its own kind), turned into
    depth, median-scaled over the valid pixels unless `median_scaling` is off or it is
    metric, and clamped to [min_depth, max_depth]. Pixels a model leaves unknown (NaN: stereo
    holes) are left out; `coverage` is the fraction of the valid ground truth it answered. The
    result holds the metrics, the scale `ratio`, the number of `valid_pixels` and the `coverage`.
    """
    gt = np.asarray(gt, dtype=np.float32)
    valid = valid_mask(gt, min_depth, max_depth)
    if not valid.any():
        return None
    pred = as_depth(resize_to(pred_depth, gt.shape), pred_kind)
    total = int(valid.sum())
    valid &= ~np.isnan(pred)
    if not valid.any():
        return None
    ratio = 1.0
    if median_scaling and pred_kind != METRIC_MM:
        pred, ratio = median_scale(pred, gt, valid)
    pred = np.clip(np.nan_to_num(pred[valid], nan=max_depth), min_depth, max_depth)
    return {**compute_errors(gt[valid], pred), "ratio": ratio, "valid_pixels": int(valid.sum()),
            "coverage": float(valid.sum() / total)}


def summarize(rows: Iterable[Mapping[str, float]]) -> dict[str, float]:
    """Mean of each metric over frames (the papers' number), with the frame count and scale-ratio spread."""
    rows = list(rows)
    if not rows:
        return {"frames": 0}
    out = {m: float(np.mean([r[m] for r in rows])) for m in METRICS}
    ratios = np.array([r["ratio"] for r in rows], dtype=np.float64)
    out.update(frames=len(rows), ratio_median=float(np.median(ratios)), ratio_std=float(np.std(ratios)))
    if all("coverage" in r for r in rows):
        out["coverage"] = float(np.mean([r["coverage"] for r in rows]))
    return out
