"""What the views draw for one model on one frame, taken from a FrameResult: the factor to millimetres
(scale to ground truth), the depth as depth in its unit, validity, colours, cloud and K; and the
names of the colour-range policies the views offer.

Qt-free, so the window, the exporter and the command line derive the same numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np

from endodepth.analysis.depth import median_scale
from endodepth.kinds import finite_positive, is_metric, unit_of
from endodepth.pipeline.processing import FrameResult
from endodepth.vis.colormap import FixedRange, GlobalRange, PercentileRange, PerFrameRange, RangePolicy

RANGE_POLICIES = ("global", "percentile", "per-frame", "fixed")
MIN_SCALE_PIXELS = 16  # fewer valid pixels against ground truth than this: no scale


def scales_to_mm(result: FrameResult, align_to_gt: bool = True) -> dict[str, float]:
    """Per-model factor to millimetres on this frame: 1 for metric models and, when `align_to_gt`
    and the frame has ground truth, the GT median ratio for relative ones (absent otherwise)."""
    gt = result.frame.gt_depth
    scales = {}
    for name, res in result.results.items():
        if is_metric(res.kind):
            scales[name] = 1.0
        elif align_to_gt and gt is not None:
            depth = result.depth[name]
            valid = result.valid & finite_positive(gt) & finite_positive(depth)
            if valid.sum() > MIN_SCALE_PIXELS:
                scales[name] = median_scale(depth, gt, valid)[1]
    return scales


@dataclass
class DepthView:
    """Depth of one model on one frame, ready to draw.

    `scale` multiplies the model's depth into `unit`: 1 for metric models and relative ones
    (unit "relative"), the GT median ratio for relative models aligned to ground truth ("mm").
    Colouring is linear, so `colors` stay valid and only `levels` are scaled.
    """

    index: int
    rgb: np.ndarray
    depth: np.ndarray
    valid: np.ndarray
    K: np.ndarray
    unit: str
    colors: np.ndarray | None
    levels: tuple[float, float]
    points: np.ndarray | None
    point_colors: np.ndarray | None
    uncertainty: np.ndarray | None
    fov: np.ndarray | None
    specular: np.ndarray | None
    pose: np.ndarray | None
    K_assumed: bool
    model: str

    @property
    def K_note(self) -> str:
        """A note for labels when K is the default field of view rather than a calibration."""
        return "  (K assumed: default FOV)" if self.K_assumed else ""


def depth_view(result: FrameResult, model: str, scale: float | None = None) -> DepthView:
    """The view of `model`'s depth on `result`'s frame, scaled to mm when `scale` is given."""
    res = result.results[model]
    metric = is_metric(res.kind)
    factor = 1.0 if scale is None or metric else float(scale)
    unit = unit_of(res.kind, scaled=scale is not None)
    depth = result.depth[model] * np.float32(factor)
    valid = finite_positive(depth)
    if result.valid is not None:
        valid &= result.valid
    lo, hi = result.ranges.get(model, (np.nan, np.nan))
    points, point_colors = result.clouds.get(model, (None, None))
    frame = result.frame
    return DepthView(
        index=frame.index, rgb=frame.rgb, depth=depth, valid=valid, K=np.asarray(frame.K, np.float64),
        unit=unit, colors=result.colors.get(model), levels=(lo * factor, hi * factor),
        points=None if points is None else points * np.float32(factor), point_colors=point_colors,
        uncertainty=None if res.uncertainty is None else res.uncertainty * np.float32(factor),
        fov=result.fov, specular=result.specular, pose=frame.pose, K_assumed=bool(frame.K_assumed),
        model=model,
    )


def make_range_policy(name: str, lo: float = 0.0, hi: float = 1.0) -> RangePolicy:
    """The core range policy for a name in RANGE_POLICIES."""
    if name == "global":
        return GlobalRange(1.0, 99.0)
    if name == "percentile":
        return PercentileRange(2.0, 98.0)
    if name == "per-frame":
        return PerFrameRange()
    return FixedRange(lo, hi)


def range_policy_factory(name: str, lo: float = 0.0, hi: float = 1.0) -> Callable[[], RangePolicy]:
    """A zero-argument factory of the named policy (the Pipeline makes one per model)."""
    return partial(make_range_policy, name, lo, hi)


def display_step(width: int, max_width: int) -> int:
    """The subsampling step that brings an image `width` pixels across to at most `max_width`."""
    return max(1, -(-int(width) // int(max_width)))
