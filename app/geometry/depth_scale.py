"""Depth in millimetres for fusion: metric output as it is, relative output scaled to a reference.

Per-frame median scaling to ground truth when frames carry it; a metric reference per frame from
another source when one is given (the hook for stereo depth: `reference=lambda frame: depth_mm`); else one
scale for the whole clip from the median depth of its first frames and an assumed working distance.
Relative depth with none of these cannot be fused in mm: `choose_scaling` says so.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from endodepth.analysis.depth import as_depth, valid_mask
from endodepth.errors import EndoDepthError
from endodepth.frame import Frame
from endodepth.kinds import finite_positive, is_metric

Reference = Callable[[Frame], "np.ndarray | None"]
CLIP_FRAMES = 5  # the clip scale is the median over this many first frames
MIN_REFERENCE_PIXELS = 100


class DepthToMM:
    """Converts one model output (its kind stated) into depth mm; `description` says how, for the output."""

    def __init__(self, kind: str, mode: str, reference: Reference | None = None,
                 assumed_depth_mm: float | None = None, reference_name: str = "ground truth"):
        self.kind, self.mode = kind, mode
        self._reference = reference
        self._assumed = assumed_depth_mm
        self._reference_name = reference_name
        self._medians: list[float] = []
        self.scale: float | None = 1.0 if mode == "metric" else None

    @property
    def description(self) -> str:
        """How depth becomes mm, in a phrase for the command's output and the dock's status."""
        if self.mode == "metric":
            return "metric depth (mm), unscaled"
        if self.mode == "reference":
            return f"relative depth scaled to {self._reference_name} per frame (median ratio)"
        scale = "" if self.scale is None else f" (x{self.scale:.4g})"
        return (f"relative depth, one scale for the clip{scale}: the median depth of its first "
                f"{CLIP_FRAMES} frames set to the assumed {self._assumed:g} mm")

    @property
    def ready(self) -> bool:
        """Whether frames can be converted now (a clip scale needs its first frames seen first)."""
        return self.mode != "clip" or self.scale is not None

    def observe(self, depth: np.ndarray) -> None:
        """Feed one of the clip's first frames' output; the clip scale is fixed after CLIP_FRAMES of them."""
        values = as_depth(depth, self.kind)
        good = values[finite_positive(values) & np.isfinite(values)]
        if good.size:
            self._medians.append(float(np.median(good)))
        if len(self._medians) >= CLIP_FRAMES:
            self.fix()

    def fix(self) -> None:
        """Fix the clip scale from the first frames seen so far (a clip shorter than CLIP_FRAMES)."""
        if self.mode == "clip" and self._medians:
            self.scale = float(self._assumed / np.median(self._medians))

    def __call__(self, depth: np.ndarray, frame: Frame) -> np.ndarray | None:
        """Depth mm of `frame` (NaN unknown); None when its reference has too few pixels to scale to."""
        values = as_depth(depth, self.kind)
        if self.mode in ("metric", "clip"):
            if self.scale is None:
                raise RuntimeError("clip scale used before its first frames were observed")
            return (values * np.float32(self.scale)).astype(np.float32)
        ref = self._reference(frame)
        if ref is None:
            return None
        valid = valid_mask(ref, 0.0, np.inf) & finite_positive(values) & np.isfinite(values)
        if valid.sum() < MIN_REFERENCE_PIXELS:
            return None
        return (values * np.float32(np.median(ref[valid]) / np.median(values[valid]))).astype(np.float32)


def ground_truth(frame: Frame) -> np.ndarray | None:
    """The frame's own ground-truth depth (mm) as a scaling reference."""
    return frame.gt_depth


def choose_scaling(kind: str, has_ground_truth: bool, where: str, assumed_depth_mm: float | None = None,
                   reference: Reference | None = None, reference_name: str = "") -> DepthToMM:
    """The conversion for a model of `kind` on a source: metric as is; relative to `reference` (e.g. stereo)
    when given, else to ground truth when the source has it, else to the assumed working distance."""
    if is_metric(kind):
        return DepthToMM(kind, "metric")
    if reference is not None:
        return DepthToMM(kind, "reference", reference, reference_name=reference_name or "the reference")
    if has_ground_truth:
        return DepthToMM(kind, "reference", ground_truth)
    if assumed_depth_mm is not None:
        if not assumed_depth_mm > 0:
            raise EndoDepthError(f"--assume-depth must be positive mm, not {assumed_depth_mm:g}")
        return DepthToMM(kind, "clip", assumed_depth_mm=assumed_depth_mm)
    raise EndoDepthError(
        f"{where}: {kind} depth has no way to be scaled to mm (no ground truth); use a metric model, "
        "a source with ground truth, or --assume-depth MM (one scale for the clip)"
    )
