"""The status bar's permanent labels: frame, stage timings, frame rates, device, thread budget,
ground truth still being read, last notice."""

from __future__ import annotations

import math

from PySide6 import QtWidgets


class StatusLabels:
    """Labels added to a status bar, and the text of the live numbers."""

    def __init__(self, status: QtWidgets.QStatusBar) -> None:
        self.frame = QtWidgets.QLabel("no file")
        self.timing = QtWidgets.QLabel("")
        self.fps = QtWidgets.QLabel("")
        self.device = QtWidgets.QLabel("")
        self.threads = QtWidgets.QLabel("")
        self.ground_truth = QtWidgets.QLabel("")
        self.notice = QtWidgets.QLabel("")
        for label in (self.frame, self.timing, self.fps, self.device, self.threads, self.ground_truth, self.notice):
            status.addPermanentWidget(label)

    def show_stats(self, stats: dict, shown_fps: float, not_drawn: int) -> None:
        """Runner.stats() numbers, the displayed frame rate and the results the GUI did not draw."""
        self.timing.setText(
            f"decode {_ms(stats['decode_ms'])} (p95 {_ms(stats['decode_ms_p95'])})  "
            f"infer {_ms(stats['infer_ms'])} (p95 {_ms(stats['infer_ms_p95'])})")
        self.fps.setText(f"{shown_fps:.1f} fps shown, {stats['dropped']} dropped, {not_drawn} not drawn")
        gpu = f", GPU {stats['gpu_memory_mb']:.0f} MiB" if "gpu_memory_mb" in stats else ""
        self.device.setText(f"device: {stats['device']}{gpu}")
        self.threads.setText(stats.get("threads", ""))
        self.threads.setToolTip(stats.get("thread_budget", ""))
        pending = stats.get("gt_pending", False)
        self.ground_truth.setText("ground truth: reading (indexing/decoding)..." if pending else "")


def _ms(value: float) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.0f} ms"
