"""What the views draw for one model on one frame, taken from a FrameResult: the factor to millimetres
(scale to ground truth), the depth as depth in its unit, validity, colours, cloud and K; and the
names of the colour-range policies the views offer.

Qt-free, so the window, the exporter and the command line derive the same numbers.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np

from endodepth.analysis.depth import median_scale
from endodepth.kinds import finite_positive, is_metric, unit_of
from endodepth.models.base import Route
from endodepth.pipeline.processing import FrameResult
from endodepth.vis.backproject import to_keyframe
from endodepth.vis.camera import to_display
from endodepth.vis.colormap import FixedRange, GlobalRange, PercentileRange, PerFrameRange, RangePolicy, colorize
from endodepth.vis.resample import sample_bilinear, strided

RANGE_POLICIES = ("global", "percentile", "per-frame", "fixed")
MIN_SCALE_PIXELS = 16  # fewer valid pixels against ground truth than this: no scale
ACCUMULATED_FRAMES = 8  # frames the 3D view accumulates; each keeps this fraction of its points


def scales_to_mm(result: FrameResult, align_to_gt: bool = True) -> dict[str, float]:
    """Per-model factor to millimetres on this frame: 1 for metric models and, when `align_to_gt`
    and the frame has ground truth, the GT median ratio for relative ones (absent otherwise), over
    the pixels the viewer shows (the display grid when the result has one)."""
    gt = result.frame.gt_depth
    scales = {}
    for name, res in result.results.items():
        if is_metric(res.kind):
            scales[name] = 1.0
        elif align_to_gt and gt is not None:
            depth, shown_gt = result.depth[name], gt[::result.step, ::result.step]
            valid = result.valid & finite_positive(shown_gt) & finite_positive(depth)
            if valid.sum() > MIN_SCALE_PIXELS:
                scales[name] = median_scale(depth, shown_gt, valid)[1]
    return scales


@dataclass
class DepthView:
    """Depth of one model on one frame, ready to draw.

    `scale` multiplies the model's depth into `unit`: 1 for metric models and relative ones
    (unit "relative"), the GT median ratio for relative models aligned to ground truth ("mm").
    Colouring is linear, so `colors` stay valid and only `levels` are scaled.
    `rgb`, `depth`, `valid`, `colors`, `uncertainty`, `fov` and `specular` hold the display grid:
    every `step`-th pixel of the frame, whose size is `frame_size` (width, height); K is the
    frame's. Everything here was computed off the GUI thread: `uncertainty_top` (the overlay's
    range), `point_rgba` / `point_depth_rgba` (the cloud's float RGBA in image colours / coloured
    by depth on the image's range), `display_points` (the cloud in the GL view's axes) and, when
    the frame has a pose, `keyframe_points`: every ACCUMULATED_FRAMES-th point in keyframe
    coordinates, as (camera axes, GL view axes), for accumulating clouds over frames.
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
    step: int = 1
    frame_size: tuple[int, int] | None = None
    uncertainty_top: float = 1.0
    point_rgba: np.ndarray | None = None
    point_depth_rgba: np.ndarray | None = None
    display_points: np.ndarray | None = None
    keyframe_points: tuple[np.ndarray, np.ndarray] | None = None
    route: Route | None = None

    @property
    def route_note(self) -> str:
        """The head a routed metric model chose and the router's probabilities ("" without a router)."""
        if self.route is None:
            return ""
        probs = sorted(self.route.probabilities.items(), key=lambda kv: -kv[1])
        return f"metric head: {self.route.head}  (router " + ", ".join(f"{n} {p:.2f}" for n, p in probs) + ")"

    @property
    def K_note(self) -> str:
        """A note for labels when K is the default field of view rather than a calibration."""
        return "  (K assumed: default FOV)" if self.K_assumed else ""

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the frame, in the pixels K and the readout use."""
        if self.frame_size is not None:
            return self.frame_size
        return int(self.depth.shape[1]) * self.step, int(self.depth.shape[0]) * self.step

    def depth_at(self, u: int, v: int) -> float:
        """The shown depth at frame pixel (u, v) (column, row), NaN where not valid."""
        r, c = int(v) // self.step, int(u) // self.step
        return float(self.depth[r, c]) if self.valid[r, c] else float("nan")


def _uncertainty(result: FrameResult, model: str, factor: float) -> tuple[np.ndarray | None, float]:
    """The model's standard deviation on the display grid in the view's unit, and its 99th percentile."""
    std = result.results[model].uncertainty
    if std is None:
        return None, 1.0
    align = result.align_corners.get(model, True)
    unc = sample_bilinear(std, result.frame.rgb.shape[:2], result.step, align) * np.float32(factor)
    finite = unc[np.isfinite(unc)]
    top = float(np.percentile(finite, 99)) if finite.size else 1.0
    return unc, top or 1.0


def _rgba(colors: np.ndarray | None) -> np.ndarray | None:
    """(N, 3) uint8 colours as the (N, 4) float32 RGBA in [0, 1] the GL scatter takes."""
    if colors is None:
        return None
    rgba = np.ones((len(colors), 4), np.float32)
    rgba[:, :3] = colors * np.float32(1 / 255)
    return rgba


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
    if points is not None:
        points = points * np.float32(factor)
    frame, step = result.frame, result.step
    rgb = strided(frame.rgb, step)
    uncertainty, top = _uncertainty(result, model, factor)
    keyframe = None
    if points is not None and frame.pose is not None:
        moved = to_keyframe(points[::ACCUMULATED_FRAMES], frame.pose)
        keyframe = moved, to_display(moved)
    return DepthView(
        index=frame.index, rgb=rgb, depth=depth, valid=valid, K=np.asarray(frame.K, np.float64),
        unit=unit, colors=result.colors.get(model), levels=(lo * factor, hi * factor),
        points=points, point_colors=point_colors, uncertainty=uncertainty,
        fov=result.fov, specular=result.specular, pose=frame.pose, K_assumed=bool(frame.K_assumed),
        model=model, step=step, frame_size=frame.size, uncertainty_top=top,
        point_rgba=_rgba(point_colors), point_depth_rgba=_rgba(result.cloud_colors.get(model)),
        display_points=None if points is None else to_display(points), keyframe_points=keyframe,
        route=res.route,
    )


def full_view(result: FrameResult, model: str, scale: float | None, colormap: str) -> DepthView:
    """`depth_view` at the frame's resolution (what an export of the shown frame writes): the
    depth upsampled from the network's output and coloured on the shown range."""
    view = depth_view(result, model, scale)
    if result.step == 1:
        return view
    factor = 1.0 if scale is None or is_metric(result.results[model].kind) else float(scale)
    depth = result.full_depth(model) * np.float32(factor)
    valid = finite_positive(depth) & result.frame_valid
    colors = None if view.colors is None else colorize(depth, colormap, *view.levels, invalid=~valid)
    return dataclasses.replace(view, rgb=result.frame.rgb, depth=depth, valid=valid, colors=colors, uncertainty=None,
                               fov=None, specular=None, step=1)


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
