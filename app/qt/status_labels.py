"""The status bar's labels: the open source on the left (shortened to fit, whole in its tooltip), then the
permanent ones: frame, stage timings, frame rates, device, thread budget, ground truth still being read,
last notice."""

from __future__ import annotations

import math

from PySide6 import QtCore, QtGui, QtWidgets


class ElidedLabel(QtWidgets.QLabel):
    """A one-line label that asks for no width and shows as much of its text as fits, ending in an
    ellipsis (a plain QLabel is cut off mid-letter); the whole text is in its tooltip."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.full_text = ""
        self.setSizePolicy(QtWidgets.QSizePolicy.Policy.Ignored, QtWidgets.QSizePolicy.Policy.Preferred)

    def show_text(self, text: str, tooltip: str | None = None) -> None:
        """Show `text` (shortened to the label's width), with `tooltip` (default: the text)."""
        self.full_text = text
        self.setToolTip(tooltip or text)
        self._elide()

    def resizeEvent(self, event: QtGui.QResizeEvent) -> None:
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        width = self.contentsRect().width()
        self.setText(self.fontMetrics().elidedText(self.full_text, QtCore.Qt.TextElideMode.ElideRight, width))


def source_text(info: dict) -> str:
    """One line on an opened source (Source.describe()): file name, kind, frames, size, fps, ground truth, K."""
    gt = ", ground truth" if info["ground_truth"] else ""
    k = ", K assumed (default FOV)" if info["intrinsics_assumed"] else ", calibrated K"
    return f"{info['name']}: {info['kind']}, {info['frames']} frames, {info['size']} @ {info['fps']:g} fps{gt}{k}"


class StatusLabels:
    """Labels added to a status bar, and the text of the live numbers."""

    def __init__(self, status: QtWidgets.QStatusBar) -> None:
        self.source = ElidedLabel()  # a normal widget: a temporary message (hover, errors) covers it a while
        status.addWidget(self.source, 1)
        self.frame = QtWidgets.QLabel("no file")
        self.timing = QtWidgets.QLabel("")
        self.fps = QtWidgets.QLabel("")
        self.device = QtWidgets.QLabel("")
        self.threads = QtWidgets.QLabel("")
        self.ground_truth = QtWidgets.QLabel("")
        self.notice = QtWidgets.QLabel("")
        for label in (self.frame, self.timing, self.fps, self.device, self.threads, self.ground_truth, self.notice):
            status.addPermanentWidget(label)

    def show_source(self, info: dict) -> None:
        """The opened source's line, its full path in the tooltip."""
        text = source_text(info)
        self.source.show_text(text, f"{info['path']}\n{text}")

    def show_stats(self, stats: dict, shown_fps: float, not_drawn: int) -> None:
        """Runner.stats() numbers, the displayed frame rate and the results the GUI did not draw."""
        self.timing.setText(f"decode {_ms(stats['decode_ms'])}  infer {_ms(stats['infer_ms'])}")
        self.timing.setToolTip(f"mean over the last second; p95: decode {_ms(stats['decode_ms_p95'])}, "
                               f"infer {_ms(stats['infer_ms_p95'])}")
        self.fps.setText(f"{shown_fps:.1f} fps shown, {stats['dropped']} dropped, {not_drawn} not drawn")
        gpu = f", GPU {stats['gpu_memory_mb']:.0f} MiB" if "gpu_memory_mb" in stats else ""
        self.device.setText(f"device: {stats['device']}{gpu}")
        self.threads.setText(stats.get("threads", ""))
        self.threads.setToolTip(stats.get("thread_budget", ""))
        pending = stats.get("gt_pending", False)
        self.ground_truth.setText("ground truth: reading (indexing/decoding)..." if pending else "")


def _ms(value: float) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.0f} ms"
