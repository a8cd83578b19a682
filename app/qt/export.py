"""File > Export: the current frame (16-bit PNG, NPZ, colorized PNG, PLY) or a frame range (depth per frame
and a rendered video); the core's export_range runs in a thread behind a cancellable QProgressDialog."""

from __future__ import annotations

from pathlib import Path

from PySide6 import QtCore, QtWidgets

from endodepth.io.detect import open_source
from endodepth.pipeline.view_export import VIDEO_VIEWS, Cancelled, RangeExport, export_frame, export_range
from endodepth.pipeline.views import full_view


class RangeExporter(QtCore.QObject):
    """Runs export_range for a source path (opened with the viewer's stereo layout choice) and a model in its
    own thread; `progress` after each frame."""

    progress = QtCore.Signal(int)
    done = QtCore.Signal(list)
    failed = QtCore.Signal(str)

    def __init__(self, source_path: str, model, name: str, job: RangeExport, layout: str | None = None) -> None:
        super().__init__()
        self.source_path, self.model, self.name, self.job = source_path, model, name, job
        self.layout = layout
        self.cancelled = False

    @QtCore.Slot()
    def run(self) -> None:
        """Open a reader of its own (the viewer's stays undisturbed) and export."""
        try:
            with open_source(self.source_path, stereo=self.layout) as source:
                self.done.emit(export_range(source, self.model, self.job, self.name, self.progress.emit,
                                            lambda: self.cancelled))
        except Cancelled:
            self.done.emit([])
        except Exception as exc:
            self.failed.emit(f"{type(exc).__name__}: {exc}")


class ExportDialog(QtWidgets.QDialog):
    """Choose what to export; the range export runs in a thread with a cancellable progress dialog."""

    def __init__(self, parent, worker, update, colormap: str) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export")
        self.worker, self.update_, self.colormap = worker, update, colormap
        result = update.result
        # the primary model's view of this frame as drawn, at the frame's resolution
        self.view = full_view(result, update.primary, update.scale.get(update.primary), colormap)
        self.count = max(1, worker.frame_count())
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
        except Exception as exc:
            QtWidgets.QMessageBox.warning(self, "Export failed", f"{type(exc).__name__}: {exc}")
            return
        if self.written:
            self.parent().show_notice(f"exported {len(self.written)} file(s) to {folder}")
        self.accept()

    def export_range(self, folder: Path, stem: str, first: int, last: int) -> list[Path]:
        """Run the range export in a thread; a modal progress dialog can cancel it."""
        state, primary = self.worker.state, self.update_.primary
        job = RangeExport(folder, stem, first, last, self.depth_format.currentText(), self.video_view.currentText(),
                          colormap=self.colormap, range_policy=state.post.range_policy, align_to_gt=state.align_to_gt)
        exporter = RangeExporter(state.file, self.worker.model(primary), primary, job, state.layout)
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
