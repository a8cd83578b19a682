"""Side-by-side comparison of models on one frame: a shared scale, one colour range for all,
absolute-difference maps and, when ground truth is known, the per-frame errors."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from endodepth.analysis.depth import as_depth, median_scale, scale_shift, valid_mask
from endodepth.analysis.metrics import MAX_DEPTH, MIN_DEPTH, evaluate_frame
from endodepth.kinds import RELATIVE_INVERSE, finite_positive, is_metric, unit_of
from endodepth.models.base import DepthResult

ALIGNMENTS = ("median", "scale-shift", "none")
GT = "ground truth"
# values -> (lo, hi), e.g. a range policy's `update` from endodepth.vis.colormap (a layer this one does not import)
ColorRange = Callable[[np.ndarray], tuple[float, float]]


@dataclass
class Comparison:
    """Models on one frame, brought to the reference's scale.

    `reference` is GT (aligned to millimetres), the model asked for as reference, or the first model.
    `measured_against` is what `metrics` are errors against: GT, the reference model (stereo depth on a
    frame without ground truth: errors vs stereo, not ground truth) or None (no errors). `aligned`: depth per
    model on that scale; `scales`: (s, t) applied per model (depth = s * depth + t, or
    in inverse depth for scale-shift of inverse outputs); `difference`: |model -
    reference| (NaN where not valid); `range`/`difference_range`: one colour range for
    every depth view and every difference view; `metrics`: per-model errors vs `measured_against`
    (`evaluate_frame`, its own median scaling).
    """

    reference: str
    unit: str
    aligned: dict[str, np.ndarray]
    scales: dict[str, tuple[float, float]]
    valid: np.ndarray
    difference: dict[str, np.ndarray]
    range: tuple[float, float]
    difference_range: tuple[float, float]
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    measured_against: str | None = None


def abs_difference(a: np.ndarray, b: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """|a - b| as float32, NaN where either is not finite or `valid` is False."""
    diff = np.abs(np.asarray(a, np.float32) - np.asarray(b, np.float32))
    bad = ~np.isfinite(diff)
    if valid is not None:
        bad |= ~valid
    diff[bad] = np.nan
    return diff


def percentile_range(values: np.ndarray, lo_pct: float = 2.0, hi_pct: float = 98.0) -> tuple[float, float]:
    """The `lo_pct`..`hi_pct` percentiles of `values` ((0, 1) when empty): robust to highlights."""
    if values.size == 0:
        return 0.0, 1.0
    lo, hi = np.percentile(values, (lo_pct, hi_pct))
    return float(lo), float(hi)


def align(result: DepthResult, ref: np.ndarray, valid: np.ndarray, method: str = "median",
          ref_in_mm: bool = True) -> tuple[np.ndarray, tuple[float, float]]:
    """A model's depth on the scale of `ref` (a depth map) over `valid`, and the (s, t) used.

    "median": one scale factor (metric outputs are left as they are when `ref` is in millimetres too,
    and scaled like the others to a relative `ref`); "scale-shift": least squares, fitted in inverse
    depth for inverse-depth outputs; "none": as is.
    """
    if method not in ALIGNMENTS:
        raise ValueError(f"unknown alignment {method!r}; choose one of {', '.join(ALIGNMENTS)}")
    depth = as_depth(result.output, result.kind)
    ok = valid & finite_positive(depth) & finite_positive(ref)
    if method == "none" or not ok.any() or (method == "median" and is_metric(result.kind) and ref_in_mm):
        return depth, (1.0, 0.0)
    if method == "median":
        aligned, ratio = median_scale(depth, ref, ok)
        return aligned, (ratio, 0.0)
    if result.kind == RELATIVE_INVERSE:
        target = 1.0 / np.where(ok, ref, 1.0)
        disparity, s, t = scale_shift(np.asarray(result.output, np.float32), target, ok)
        return as_depth(disparity, RELATIVE_INVERSE), (s, t)
    aligned, s, t = scale_shift(depth, ref, ok)
    return aligned, (s, t)


def compare(
    results: Mapping[str, DepthResult], gt: np.ndarray | None = None, valid: np.ndarray | None = None,
    method: str = "median", color_range: ColorRange | None = None,
    min_depth: float = MIN_DEPTH, max_depth: float = MAX_DEPTH, reference: str | None = None,
) -> Comparison:
    """Align every model to GT (when given), else to `reference` (one of `results`, e.g. stereo depth in
    mm) or the first model, then compute the difference maps, a shared colour range (`color_range` of
    the valid depths of every model and GT, default their 2-98 % percentiles) and each model's errors
    against GT, else against `reference` (the other models only)."""
    if not results:
        raise ValueError("nothing to compare: no model results")
    explicit = reference is not None
    if explicit and reference not in results:
        raise ValueError(f"reference {reference!r} is not among the compared results")
    names = list(results)
    shape = results[names[0]].output.shape
    valid = np.ones(shape, bool) if valid is None else np.asarray(valid, bool)
    if gt is not None:
        gt = np.asarray(gt, np.float32)
        valid = valid & valid_mask(gt, min_depth, max_depth)
        reference, ref = GT, gt
        metric = all(is_metric(r.kind) for r in results.values())
        unit = "mm" if method != "none" or metric else "mixed"
    else:
        reference = reference or names[0]
        ref = as_depth(results[reference].output, results[reference].kind)
        unit = unit_of(results[reference].kind)
    ref_in_mm = gt is not None or is_metric(results[reference].kind)
    aligned, scales = {}, {}
    for name in names:
        how = method if name != reference else "none"
        aligned[name], scales[name] = align(results[name], ref, valid, how, ref_in_mm)
    difference = {n: abs_difference(d, ref, valid) for n, d in aligned.items() if n != reference}
    maps = list(aligned.values()) + ([gt] if gt is not None else [])
    values = np.concatenate([m[valid & np.isfinite(m)] for m in maps])
    lo, hi = (color_range or percentile_range)(values)
    diffs = np.concatenate([d[np.isfinite(d)] for d in difference.values()] or [np.zeros(0, np.float32)])
    dhi = float(np.percentile(diffs, 98)) if diffs.size else 1.0
    against = GT if gt is not None else (reference if explicit else None)
    metrics = {}
    if against is not None:
        truth = gt if gt is not None else np.where(valid, ref, np.nan)
        for name, res in results.items():
            row = None if name == against else evaluate_frame(res.output, res.kind, truth, min_depth, max_depth)
            if row is not None:
                metrics[name] = row
    return Comparison(reference, unit, aligned, scales, valid, difference, (lo, hi),
                      (0.0, max(dhi, 1e-6)), metrics, against)
