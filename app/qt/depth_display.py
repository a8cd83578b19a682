"""What the views draw for one model on one frame, taken from the core FrameResult (no computation here
beyond unit scaling): depth as depth, its unit, validity, the worker's colours and cloud, K."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache, partial

import numpy as np
import pyqtgraph as pg

from endodepth.pipeline.runner import FrameResult
from endodepth.vis.colormap import FixedRange, GlobalRange, PercentileRange, PerFrameRange, lut

RANGE_POLICIES = ("global", "percentile", "per-frame", "fixed")


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
        return "  (K assumed: default FOV)" if self.K_assumed else ""


def depth_view(result: FrameResult, model: str, scale: float | None = None) -> DepthView:
    """The view of `model`'s depth on `result`'s frame, scaled to mm when `scale` is given."""
    res = result.results[model]
    metric = res.kind == "metric-mm"
    factor = 1.0 if scale is None or metric else float(scale)
    unit = "mm" if metric or scale is not None else "relative"
    depth = result.depth[model] * np.float32(factor)
    valid = np.isfinite(depth) & (depth > 0)
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


def show_rgb(item: pg.ImageItem, image: np.ndarray) -> None:
    """Show a uint8 RGB/RGBA image as it is: without levels pyqtgraph wraps it in a QImage instead of
    rescaling every pixel (0.1 ms instead of ~8 ms for 1280x1024)."""
    item.setImage(image, autoLevels=False, levels=None)


@lru_cache(maxsize=None)
def colormap(name: str) -> pg.ColorMap:
    """The project's LUT as a pyqtgraph ColorMap (for colorbars and LUTs); built once per name."""
    table = lut(name)
    return pg.ColorMap(np.linspace(0.0, 1.0, len(table)), table)


class DepthColorBar(pg.ColorBarItem):
    """A fixed (non-interactive) colorbar labelled "depth [unit]" that only redraws what changed."""

    def __init__(self, width: int = 14) -> None:
        super().__init__(values=(0, 1), width=width, interactive=False, label="depth")
        self._shown: tuple[str | None, str | None] = (None, None)
        self.axis.enableAutoSIPrefix(False)
        self.axis.tickStrings = tick_strings  # enough digits for tiny or offset ranges (e.g. 1000.0-1000.5)
        self.axis.setWidth(54)

    def show_depth(self, name: str, levels: tuple[float, float], unit: str) -> None:
        """Colormap `name`, the (lo, hi) levels and the unit label."""
        if self._shown[0] != name:
            self.setColorMap(colormap(name))
        if all(np.isfinite(levels)) and tuple(levels) != tuple(self.levels()):
            self.setLevels(tuple(float(v) for v in levels))
        if self._shown[1] != unit:
            self.getAxis("left").setLabel(f"depth [{unit}]")
        self._shown = (name, unit)


def tick_strings(values: list[float], scale: float, spacing: float) -> list[str]:
    """Tick labels with as many significant digits as the spacing needs (pyqtgraph's default drops
    the labels of a range like 0.0012-0.0019 or 1000.0-1000.5)."""
    if not values:
        return []
    biggest = max(abs(v * scale) for v in values) or 1.0
    step = abs(spacing * scale) or biggest
    digits = max(2, int(np.ceil(np.log10(biggest / step))) + 1, int(np.floor(np.log10(biggest))) + 1)
    return [f"{v * scale:.{digits}g}" for v in values]


def make_range_policy(name: str, lo: float = 0.0, hi: float = 1.0):
    """The core range policy for a name in RANGE_POLICIES."""
    if name == "global":
        return GlobalRange(1.0, 99.0)
    if name == "percentile":
        return PercentileRange(2.0, 98.0)
    if name == "per-frame":
        return PerFrameRange()
    return FixedRange(lo, hi)


def range_policy_factory(name: str, lo: float = 0.0, hi: float = 1.0):
    """A zero-argument factory of the named policy (the Pipeline makes one per model)."""
    return partial(make_range_policy, name, lo, hi)
