"""The one colorizer: depth -> RGB through a 256-entry lookup table, with range policies.

Range policies decide which depth maps to the ends of the colormap. Per-frame ranges
flicker on video (the top complaint about depth viewers); `GlobalRange` and `FixedRange`
keep colours comparable across frames.
"""

from __future__ import annotations

from functools import cache

import cv2
import numpy as np

COLORMAPS: tuple[str, ...] = ("turbo", "viridis", "magma", "inferno", "gray")


@cache
def lut(name: str) -> np.ndarray:
    """The (256, 3) uint8 table of a colormap in COLORMAPS, built once from matplotlib's."""
    if name not in COLORMAPS:
        raise ValueError(f"unknown colormap {name!r}; choose one of {', '.join(COLORMAPS)}")
    from matplotlib import colormaps

    table = colormaps["gray" if name == "gray" else name](np.linspace(0.0, 1.0, 256))[:, :3]
    table = np.round(table * 255.0).astype(np.uint8)
    table.flags.writeable = False
    return table


def normalize(depth: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Depth mapped to LUT indices 0..255 (uint8, rounded) for the range [lo, hi]; NaN -> 0."""
    lo, hi = float(lo), float(hi)
    scale = 255.0 / (hi - lo) if hi > lo else 0.0
    clipped = np.clip(np.asarray(depth, dtype=np.float32), lo, hi)
    return cv2.convertScaleAbs(clipped, alpha=scale, beta=-lo * scale)


def colorize(
    depth: np.ndarray, name: str = "turbo", lo: float | None = None, hi: float | None = None,
    invalid: np.ndarray | None = None,
) -> np.ndarray:
    """(H, W, 3) uint8 colours of `depth` between `lo` and `hi` (per-frame range when None).

    Non-finite pixels and those where `invalid` is True are black.
    """
    depth = np.asarray(depth, dtype=np.float32)
    bad = ~np.isfinite(depth)
    if invalid is not None:
        bad |= invalid
    if lo is None or hi is None:
        flo, fhi = PerFrameRange().update(depth, ~bad)
        lo = flo if lo is None else lo
        hi = fhi if hi is None else hi
    rgb = cv2.applyColorMap(normalize(depth, lo, hi), _lut_image(name))
    if not bad.any():
        return rgb
    return cv2.bitwise_and(rgb, rgb, mask=(~bad).view(np.uint8))


@cache
def _lut_image(name: str) -> np.ndarray:
    return np.ascontiguousarray(lut(name).reshape(256, 1, 3))


def colorbar_image(name: str, height: int = 256, width: int = 16) -> np.ndarray:
    """A vertical (height, width, 3) uint8 bar of the colormap, high values on top."""
    idx = np.linspace(255.0, 0.0, height).round().astype(np.uint8)
    return np.repeat(lut(name)[idx][:, None, :], width, axis=1)


def _valid_values(depth: np.ndarray, valid: np.ndarray | None) -> np.ndarray:
    depth = np.asarray(depth, dtype=np.float32)
    ok = np.isfinite(depth)
    if valid is not None:
        ok &= valid
    return depth[ok]


class RangePolicy:
    """Chooses the depth range mapped onto the colormap; `update` is called once per frame."""

    def update(self, depth: np.ndarray, valid: np.ndarray | None = None) -> tuple[float, float]:
        """The (lo, hi) range to use for this frame."""
        raise NotImplementedError

    def reset(self) -> None:
        """Forget what was seen (new file, new model)."""


class PerFrameRange(RangePolicy):
    """Min and max of each frame: full contrast, but colours flicker across frames."""

    def update(self, depth: np.ndarray, valid: np.ndarray | None = None) -> tuple[float, float]:
        v = _valid_values(depth, valid)
        if v.size == 0:
            return 0.0, 1.0
        return float(v.min()), float(v.max())


class PercentileRange(RangePolicy):
    """Per-frame percentiles (default 2-98 %): robust to outliers such as highlights.

    Large frames are sampled evenly to about `samples` values (display needs no more).
    """

    samples = 100_000

    def __init__(self, lo_pct: float = 2.0, hi_pct: float = 98.0) -> None:
        if not 0.0 <= lo_pct < hi_pct <= 100.0:
            raise ValueError(f"percentiles must satisfy 0 <= lo < hi <= 100, got {lo_pct}, {hi_pct}")
        self.lo_pct, self.hi_pct = float(lo_pct), float(hi_pct)

    def update(self, depth: np.ndarray, valid: np.ndarray | None = None) -> tuple[float, float]:
        depth = np.asarray(depth)
        step = max(1, depth.size // self.samples)
        if step > 1:
            depth = depth.reshape(-1)[::step]
            valid = None if valid is None else np.asarray(valid).reshape(-1)[::step]
        v = _valid_values(depth, valid)
        if v.size == 0:
            return 0.0, 1.0
        lo, hi = np.percentile(v, (self.lo_pct, self.hi_pct))
        return float(lo), float(hi)


class FixedRange(RangePolicy):
    """A range the user set (e.g. 0-150 mm): identical colours for identical depths."""

    def __init__(self, lo: float, hi: float) -> None:
        if not hi > lo:
            raise ValueError(f"fixed range needs hi > lo, got {lo}, {hi}")
        self.lo, self.hi = float(lo), float(hi)

    def update(self, depth: np.ndarray, valid: np.ndarray | None = None) -> tuple[float, float]:
        return self.lo, self.hi


class GlobalRange(RangePolicy):
    """Running min and max over all frames seen since `reset`: the range only widens.

    With `lo_pct`/`hi_pct` (e.g. 1, 99) each frame contributes its percentiles instead of
    its extremes, so a few outlier pixels cannot stretch the range for the whole video.
    """

    def __init__(self, lo_pct: float = 0.0, hi_pct: float = 100.0) -> None:
        extremes = (lo_pct, hi_pct) == (0.0, 100.0)
        self._frame = PerFrameRange() if extremes else PercentileRange(lo_pct, hi_pct)
        self.reset()

    def update(self, depth: np.ndarray, valid: np.ndarray | None = None) -> tuple[float, float]:
        values = _valid_values(depth, valid)
        if values.size:
            lo, hi = self._frame.update(values)  # the frame's valid values, selected once
            self.lo = min(self.lo, lo)
            self.hi = max(self.hi, hi)
        if self.hi < self.lo:
            return 0.0, 1.0
        return self.lo, self.hi

    def reset(self) -> None:
        self.lo = np.inf
        self.hi = -np.inf
