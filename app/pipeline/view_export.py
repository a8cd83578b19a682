"""Export what the viewer shows: one frame (depth PNG/NPZ, colours, cloud) or a frame range (depth per
frame, NPZ or 16-bit PNG, and a rendered mp4).

Used by the window's File > Export and by `endodepth infer --video`. The scale to millimetres is
per frame, as the viewer shows it: a relative model aligned to ground truth gets each frame's own
GT median ratio (frames without ground truth stay relative); metric models are in mm throughout.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from endodepth.errors import EndoDepthError
from endodepth.io.export import write_depth_npz, write_depth_png16, write_point_cloud, write_rgb_png
from endodepth.io.source import Source
from endodepth.io.video import write_video
from endodepth.kinds import METRIC_MM, RELATIVE
from endodepth.models.base import DepthEstimator
from endodepth.pipeline.processing import FrameResult, Pipeline, PostOptions
from endodepth.pipeline.views import DepthView, depth_view, range_policy_factory, scales_to_mm
from endodepth.vis.colormap import RangePolicy

DEPTH_FORMATS = ("npz", "png16", "none")
VIDEO_VIEWS = ("none", "depth", "image | depth")


class Cancelled(EndoDepthError):
    """The export was cancelled; the video being written is discarded (depth files already written stay)."""


@dataclass(frozen=True)
class RangeExport:
    """What to write: frames `first`..`last` (inclusive) as `<stem>_<index>.<ext>` in `folder`, and the
    video of `video_view` at `video` (default `<folder>/<stem>_<view>.mp4`)."""

    folder: Path
    stem: str
    first: int
    last: int
    depth_format: str = "npz"
    video_view: str = "image | depth"
    video: Path | None = None
    colormap: str = "turbo"
    range_policy: Callable[[], RangePolicy] = range_policy_factory("global")  # noqa: RUF009 (a shared, stateless factory)
    align_to_gt: bool = True

    def video_path(self) -> Path | None:
        """Where the video goes (None: no video)."""
        if self.video_view == "none":
            return None
        return self.video or Path(self.folder) / f"{self.stem}_{self.video_view.replace(' | ', '_')}.mp4"


def depth_to_write(view: DepthView) -> tuple[np.ndarray, str]:
    """The displayed depth with NaN outside the valid pixels, and its kind for the exporters."""
    depth = np.where(view.valid, view.depth, np.nan).astype(np.float32)
    return depth, METRIC_MM if view.unit == "mm" else RELATIVE


def export_frame(view: DepthView, folder: Path, stem: str, what: set[str]) -> list[Path]:
    """Write the chosen outputs ("png16", "npz", "color", "ply") of one frame; returns the files."""
    folder.mkdir(parents=True, exist_ok=True)
    depth, kind = depth_to_write(view)
    written = []
    if "png16" in what:
        written.append(write_depth_png16(folder / f"{stem}_depth.png", depth, kind))
    if "npz" in what:
        written.append(write_depth_npz(folder / f"{stem}_depth.npz", depth, view.K, kind))
    if "color" in what and view.colors is not None:
        written.append(write_rgb_png(folder / f"{stem}_depth_color.png", view.colors))
    if "ply" in what and view.points is not None:
        written.append(write_point_cloud(folder / f"{stem}_cloud.ply", view.points, view.point_colors))
    return written


def render(view: DepthView, layout: str) -> np.ndarray:
    """One video frame (RGB) of the chosen view."""
    colors = view.colors if view.colors is not None else np.zeros_like(view.rgb)
    return np.concatenate([view.rgb, colors], axis=1) if layout == "image | depth" else colors


def export_range(
    source: Source, model: DepthEstimator, job: RangeExport, name: str | None = None,
    progress: Callable[[int], None] | None = None, cancelled: Callable[[], bool] | None = None,
    on_result: Callable[[FrameResult], None] | None = None,
) -> list[Path]:
    """Run `model` (called `name`, default its own) on every frame of the range in order and write
    what `job` asks; `on_result(result)` sees each frame's result (so a caller writing more per frame
    needs no second pass), `progress(n)` after each frame, `cancelled()` checked before each (then
    Cancelled is raised). Files are written atomically; returns them, the video last."""
    if job.depth_format not in DEPTH_FORMATS or job.video_view not in VIDEO_VIEWS:
        raise EndoDepthError(f"export: depth format {job.depth_format!r} or video view {job.video_view!r} unknown")
    if not 0 <= job.first <= job.last < len(source):
        raise EndoDepthError(f"export: frames {job.first}-{job.last} are not within the {len(source)} frames")
    name = name or model.name
    pipeline = Pipeline(source, {name: model},
                        post=PostOptions(max_points=None, colormap=job.colormap, range_policy=job.range_policy))
    folder = Path(job.folder)
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    frames = _frames(pipeline, name, job, written, progress, cancelled, on_result)
    video = job.video_path()
    if video is None:
        for _ in frames:
            pass
        return written
    video.parent.mkdir(parents=True, exist_ok=True)
    write_video(video, frames, pipeline.fps)
    return [*written, video]


def _frames(pipeline: Pipeline, name: str, job: RangeExport, written: list[Path],
            progress: Callable[[int], None] | None, cancelled: Callable[[], bool] | None,
            on_result: Callable[[FrameResult], None] | None) -> Iterator[np.ndarray]:
    """Process the range, writing each frame's depth; yields each rendered video frame."""
    for n, i in enumerate(range(job.first, job.last + 1)):
        if cancelled is not None and cancelled():
            raise Cancelled("export cancelled")
        result = pipeline.process(i)
        if on_result is not None:
            on_result(result)
        view = depth_view(result, name, scales_to_mm(result, job.align_to_gt).get(name))
        if job.depth_format != "none":
            depth, kind = depth_to_write(view)
            stem = Path(job.folder) / f"{job.stem}_{i:06d}"
            if job.depth_format == "npz":
                written.append(write_depth_npz(stem.with_suffix(".npz"), depth, view.K, kind))
            else:
                written.append(write_depth_png16(stem.with_suffix(".png"), depth, kind))
        yield render(view, job.video_view)
        if progress is not None:
            progress(n + 1)
