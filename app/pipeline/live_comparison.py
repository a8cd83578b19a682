"""The viewer's model comparison of one frame, presented: the core Comparison coloured on one shared
range for every depth panel, with the difference map of the first model that has one, and what its
per-frame errors are against (ground truth, else a stereo reference: "errors vs stereo (not ground truth)")."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from endodepth.analysis.comparison import GT, compare
from endodepth.pipeline.processing import FrameResult
from endodepth.vis.colormap import colorize
from endodepth.vis.resample import display_step

PANEL_WIDTH = 480  # pixels across of each comparison panel's image (the panels are small)


@dataclass
class ComparisonSnapshot:
    """The core Comparison of one frame, coloured (one shared range for every depth panel)."""

    frame: int
    names: list[str]
    reference: str
    unit: str
    colors: dict[str, np.ndarray]          # model (and GT when present) -> colorized aligned depth (display size)
    difference_model: str | None           # whose |depth - reference| is shown
    difference: np.ndarray | None          # float32, NaN where invalid
    difference_colors: np.ndarray | None
    range: tuple[float, float]
    difference_range: tuple[float, float]
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)  # model -> metric -> value
    difference_mean: float | None = None   # mean |difference| over the full-resolution map
    errors_label: str = ""                 # what `metrics` are errors against ("" when there are none)
    earlier_metrics: dict[int, dict[str, dict[str, float]]] = field(default_factory=dict)  # frame -> metrics
    # of frames analysed after they were shown (their ground truth came late), for the errors over time


def shown_name(name: str | None) -> str:
    """A model's name as a view shows it: a checkpoint path by its file name (the full path goes in a tooltip)."""
    if not name:
        return ""
    path = Path(name)
    return path.name if len(path.parts) > 1 else name


def errors_label(measured_against: str | None) -> str:
    """How the errors over time are labelled: against ground truth, or against a model that is not it."""
    if measured_against is None:
        return ""
    return "errors vs ground truth" if measured_against == GT else f"errors vs {measured_against} (not ground truth)"


def comparison_snapshot(result: FrameResult, models: Sequence[str], colormap: str | None,
                        reference: str | None = None) -> ComparisonSnapshot | None:
    """The comparison of those of `models` (and `reference`) that ran on this frame (None for fewer than
    two); on a frame without ground truth they are aligned to and measured against `reference`."""
    names = [n for n in dict.fromkeys([*models, *([reference] if reference else [])]) if n in result.results]
    if len(names) < 2:
        return None
    gt = result.frame.gt_depth
    comp = compare({n: result.full_result(n) for n in names}, gt=gt, valid=result.frame_valid,
                   reference=reference if gt is None and reference in names else None)
    cmap = colormap or "turbo"
    lo, hi = comp.range
    step = display_step(result.frame.rgb.shape[1], PANEL_WIDTH)
    shown = comp.valid[::step, ::step]
    colors = {n: colorize(d[::step, ::step], cmap, lo, hi, invalid=~shown) for n, d in comp.aligned.items()}
    if gt is not None:
        colors[GT] = colorize(gt[::step, ::step], cmap, lo, hi, invalid=~shown)
    diff_model = next((n for n in names if n in comp.difference), None)
    diff = comp.difference.get(diff_model)
    diff_colors = diff_mean = None
    if diff is not None:
        small = diff[::step, ::step]
        diff_colors = colorize(small, "magma", *comp.difference_range, invalid=~np.isfinite(small))
        diff_mean = float(np.nanmean(diff)) if np.isfinite(diff).any() else float("nan")
    return ComparisonSnapshot(result.index, names, comp.reference, comp.unit, colors, diff_model, diff,
                              diff_colors, comp.range, comp.difference_range, comp.metrics, diff_mean,
                              errors_label(comp.measured_against))
