"""File > Export: the current frame (16-bit PNG, NPZ, colorized PNG, PLY) or a frame range (depth per frame
and a rendered video), the range in a worker thread behind a cancellable QProgressDialog."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PySide6 import QtCore, QtWidgets

from endodepth.io.atomic import atomic_write
from endodepth.io.export import write_depth_npz, write_depth_png16, write_point_cloud, write_rgb_png
from endodepth.io.detect import open_source
from endodepth.pipeline.runner import Pipeline, PostOptions
from endodepth.qt.depth_display import DepthView, depth_view

VIDEO_VIEWS = ("none", "depth", "image | depth")


class Cancelled(Exception):
    """The user pressed Cancel; the file being written is discarded."""


def depth_to_write(view: DepthView) -> tuple[np.ndarray, str]:
    """The displayed depth with NaN outside the valid pixels, and its kind for the exporters."""
    depth = np.where(view.valid, view.depth, np.nan).astype(np.float32)
    return depth, "metric-mm" if view.unit == "mm" else "relative"


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


@dataclass
class RangeJob:
    """A frame range to export with the current models; video_view is one of VIDEO_VIEWS."""

    source_path: str
    models: dict
    model: str
    first: int
    last: int
    folder: Path
    stem: str
    depth_format: str           # "npz", "png16" or "none"
    video_view: str
    colormap: str
    range_policy: object
    scales: dict


class RangeExporter(QtCore.QObject):
    """Runs a RangeJob in its own thread (every frame, in order); `progress` after each frame."""

    progress = QtCore.Signal(int)
    done = QtCore.Signal(list)
    failed = QtCore.Signal(str)

    def __init__(self, job: RangeJob) -> None:
        super().__init__()
        self.job = job
        self.cancelled = False

    @QtCore.Slot()
    def run(self) -> None:
        job = self.job
        try:
            source = open_source(job.source_path)
            try:
                pipeline = Pipeline(source, {job.model: job.models[job.model]},
                                    post=PostOptions(max_points=None, colormap=job.colormap,
                                                     range_policy=job.range_policy))
                self.done.emit(self._export(pipeline))
            finally:
                source.close()
        except Cancelled:
            self.done.emit([])
        except Exception as exc:  # noqa: BLE001 - reported in the dialog
            self.failed.emit(f"{type(exc).__name__}: {exc}")

    def _export(self, pipeline: Pipeline) -> list[Path]:
        job = self.job
        job.folder.mkdir(parents=True, exist_ok=True)
        written: list[Path] = []
        video_path = job.folder / f"{job.stem}_{job.video_view.replace(' | ', '_')}.mp4"
        if job.video_view == "none":
            self._frames(pipeline, written, None)
            return written
        with atomic_write(video_path) as tmp:
            writer: list = []
            try:
                self._frames(pipeline, written, (tmp, writer))
            finally:
                if writer:
                    writer[0].release()
        return written + [video_path]

    def _frames(self, pipeline: Pipeline, written: list[Path], video) -> None:
        job = self.job
        for n, i in enumerate(range(job.first, job.last + 1)):
            if self.cancelled:
                raise Cancelled()
            view = depth_view(pipeline.process(i), job.model, job.scales.get(job.model))
            if job.depth_format != "none":
                depth, kind = depth_to_write(view)
                stem = job.folder / f"{job.stem}_{i:06d}"
                if job.depth_format == "npz":
                    written.append(write_depth_npz(stem.with_suffix(".npz"), depth, view.K, kind))
                else:
                    written.append(write_depth_png16(stem.with_suffix(".png"), depth, kind))
            if video is not None:
                tmp, writer = video
                frame = render(view, job.video_view)
                if not writer:
                    size = (frame.shape[1], frame.shape[0])
                    writer.append(cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), pipeline.fps, size))
                writer[0].write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
            self.progress.emit(n + 1)


class ExportDialog(QtWidgets.QDialog):
    """Choose what to export; the range export runs in a thread with a cancellable progress dialog."""

    def __init__(self, parent, worker, update, colormap: str) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export")
        self.worker, self.update_, self.colormap = worker, update, colormap
        result = update.result
        # the worker already derived the primary model's view for this frame (window.last_update always has one)
        self.view = update.view if update.view is not None else depth_view(result, update.primary,
                                                                            update.scale.get(update.primary))
        self.count = len(worker.runner.pipeline) if worker.runner.pipeline is not None else 1
        self.folder_edit = QtWidgets.QLineEdit(str(Path.home() / "endodepth-export"), self)
        browse = QtWidgets.QPushButton("Browse...", self)
        browse.clicked.connect(self._browse)
        self.stem_edit = QtWidgets.QLineEdit(f"frame{result.index:06d}", self)
        self.scope = QtWidgets.QComboBox(self)
        self.scope.addItems(["current frame", "frame range", "whole video"])
        self.checks = {key: QtWidgets.QCheckBox(text, self) for key, text in (
            ("png16", "depth 16-bit PNG (+ scale JSON)"), ("npz", "depth NPZ (float, K)"),
            ("color", "colorized depth PNG"), ("ply", "point cloud PLY"))}
        for box in self.checks.values():
            box.setChecked(True)
        self.first = QtWidgets.QSpinBox(self)
        self.last = QtWidgets.QSpinBox(self)
        for box in (self.first, self.last):
            box.setRange(0, max(0, self.count - 1))
        self.first.setValue(result.index)
        self.last.setValue(min(self.count - 1, result.index + 49))
        self.depth_format = QtWidgets.QComboBox(self)
        self.depth_format.addItems(["npz", "png16", "none"])
        self.video_view = QtWidgets.QComboBox(self)
        self.video_view.addItems(list(VIDEO_VIEWS))
        self.video_view.setCurrentText("image | depth")

        form = QtWidgets.QFormLayout(self)
        folder_row = QtWidgets.QHBoxLayout()
        folder_row.addWidget(self.folder_edit, 1)
        folder_row.addWidget(browse)
        form.addRow("Folder", folder_row)
        form.addRow("Name", self.stem_edit)
        form.addRow("Export", self.scope)
        for box in self.checks.values():
            form.addRow("", box)
        form.addRow("First frame", self.first)
        form.addRow("Last frame", self.last)
        form.addRow("Depth per frame", self.depth_format)
        form.addRow("Rendered video", self.video_view)
        buttons = QtWidgets.QDialogButtonBox(
            QtWidgets.QDialogButtonBox.StandardButton.Ok | QtWidgets.QDialogButtonBox.StandardButton.Cancel, self)
        buttons.accepted.connect(self._run)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self.scope.currentTextChanged.connect(self._on_scope)
        self._on_scope(self.scope.currentText())
        self.written: list[Path] = []

    def _on_scope(self, scope: str) -> None:
        single = scope == "current frame"
        for box in self.checks.values():
            box.setEnabled(single)
        for w in (self.first, self.last):
            w.setEnabled(scope == "frame range")
        for w in (self.depth_format, self.video_view):
            w.setEnabled(not single)

    def _browse(self) -> None:
        folder = QtWidgets.QFileDialog.getExistingDirectory(self, "Export to", self.folder_edit.text())
        if folder:
            self.folder_edit.setText(folder)

    def _run(self) -> None:
        folder, stem = Path(self.folder_edit.text()).expanduser(), self.stem_edit.text() or "export"
        try:
            if self.scope.currentText() == "current frame":
                what = {k for k, box in self.checks.items() if box.isChecked()}
                self.written = export_frame(self.view, folder, stem, what)
            else:
                first, last = (self.first.value(), self.last.value()) if self.scope.currentText() == "frame range" \
                    else (0, self.count - 1)
                self.written = self.export_range(folder, stem, min(first, last), max(first, last))
        except Exception as exc:  # noqa: BLE001 - shown to the user
            QtWidgets.QMessageBox.warning(self, "Export failed", f"{type(exc).__name__}: {exc}")
            return
        if self.written:
            self.parent().show_notice(f"exported {len(self.written)} file(s) to {folder}")
        self.accept()

    def export_range(self, folder: Path, stem: str, first: int, last: int) -> list[Path]:
        """Run the range export in a thread; a modal progress dialog can cancel it."""
        pipeline = self.worker.runner.pipeline
        primary = self.update_.primary
        job = RangeJob(str(pipeline.source.path), pipeline.models, primary, first, last, folder, stem,
                       self.depth_format.currentText(), self.video_view.currentText(), self.colormap,
                       pipeline.post.range_policy, self.update_.scale)
        exporter = RangeExporter(job)
        thread = QtCore.QThread(self)
        exporter.moveToThread(thread)
        progress = QtWidgets.QProgressDialog("Exporting...", "Cancel", 0, last - first + 1, self)
        progress.setWindowModality(QtCore.Qt.WindowModality.WindowModal)
        progress.setMinimumDuration(0)
        outcome: dict = {}
        loop = QtCore.QEventLoop(self)
        exporter.progress.connect(progress.setValue)
        exporter.done.connect(lambda files: (outcome.setdefault("files", files), loop.quit()))
        exporter.failed.connect(lambda msg: (outcome.setdefault("error", msg), loop.quit()))
        progress.canceled.connect(lambda: setattr(exporter, "cancelled", True))
        thread.started.connect(exporter.run)
        thread.start()
        loop.exec()
        thread.quit()
        thread.wait()
        progress.close()
        if "error" in outcome:
            raise RuntimeError(outcome["error"])
        return outcome["files"]
