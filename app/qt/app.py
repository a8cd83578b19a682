"""`endodepth-gui [PATH] [--stereo mono|sbs|stacked] [--model NAME_OR_CHECKPOINT ...] [--device auto|cuda|cpu]`:
create the application, the window, open PATH (or the bundled sample clip) and run; `--play --quit-after N
--stats-out FILE.json` plays N frames and writes playback statistics; `--screenshot FILE` saves the window;
`--views LIST` chooses the docks shown; `--fuse` starts the Reconstruction dock fusing."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from endodepth.commands.options import add_device, size_type
from endodepth.io.stereo import LAYOUT_CHOICES
from endodepth.pipeline.stats import timing_summary

HEARTBEAT_MS = 10
VIEWS = ("image", "cloud", "selectivity", "comparison", "reconstruction")  # the keys of MainWindow.docks
STALL_MS = 50.0  # the target: no GUI-thread stall longer than this


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="endodepth-gui", description="EndoDepth viewer.")
    p.add_argument("path", nargs="?", help="video, image folder, SCARED keyframe or dataset (default: bundled sample)")
    p.add_argument("--stereo", choices=LAYOUT_CHOICES,
                   help="how the video holds its views: sbs (side by side), stacked (left over right) with a "
                        "calibration beside it, or mono (default: detected from that calibration)")
    p.add_argument("--model", action="append", metavar="NAME_OR_CHECKPOINT",
                   help="depth model; repeat to compare models (the first one is shown in the main views)")
    add_device(p, default=None)
    p.add_argument("--play", action="store_true", help="start playing once the first frame is shown")
    p.add_argument("--quit-after", type=int, metavar="N",
                   help="quit after N frames were shown (status 2 when none can be: the file or model is unusable)")
    p.add_argument("--stats-out", metavar="FILE.json", help="write playback statistics when quitting")
    p.add_argument("--every-frame", action="store_true", help="process every frame instead of real-time playback")
    p.add_argument("--screenshot", metavar="FILE.png", help="save a picture of the window when quitting")
    p.add_argument("--size", type=size_type(minimum=100), default=(1600, 1000), metavar="WxH",
                   help="window size (default 1600x1000)")
    p.add_argument(
        "--views", metavar="LIST", help=f"comma-separated docks to show, of {','.join(VIEWS)} (default: as saved)"
    )
    p.add_argument("--fuse", action="store_true",
                   help="show the Reconstruction dock and fuse the frames shown into a mesh from the first one on")
    return p


class Heartbeat(QtCore.QObject):
    """A fast QTimer on the GUI thread: the longest gap between ticks is the longest stall.

    For each gap it also takes the GUI thread's own CPU time: a long gap with little CPU is time
    the thread waited (for the GIL held by the inference thread, or for a core on a loaded machine)."""

    def __init__(self, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.timer = QtCore.QTimer(self)
        self.timer.setTimerType(QtCore.Qt.TimerType.PreciseTimer)
        self.timer.timeout.connect(self._tick)
        self.longest_ms = 0.0
        self.longest_cpu_ms = 0.0
        self.stalls: list[tuple[float, float, float]] = []  # (s since start, gap ms, CPU ms) over STALL_MS
        self.cpu_ms = 0.0  # the GUI thread's CPU time since start (its busy time, insensitive to load)
        self._last: tuple[float, float] | None = None

    def start(self) -> None:
        self._last = (time.perf_counter(), time.thread_time())
        self._t0 = self._last[0]
        self.timer.start(HEARTBEAT_MS)

    def _tick(self) -> None:
        now = (time.perf_counter(), time.thread_time())
        if self._last is not None:
            gap, cpu = ((a - b) * 1e3 for a, b in zip(now, self._last))
            if gap > self.longest_ms:
                self.longest_ms, self.longest_cpu_ms = gap, cpu
            if gap > STALL_MS:
                self.stalls.append((now[0] - self._t0, gap, cpu))
            self.cpu_ms += cpu
        self._last = now


class PlaybackRecorder(QtCore.QObject):
    """Counts shown frames after playback starts and writes the --stats-out numbers."""

    def __init__(self, window, quit_after: int | None, stats_out: str | None, screenshot: str | None) -> None:
        super().__init__(window)
        self.window, self.quit_after, self.stats_out, self.screenshot = window, quit_after, stats_out, screenshot
        self.heartbeat = Heartbeat(self)
        self.shown = 0
        self.first_index: int | None = None
        self.last_index = 0
        self.t0: float | None = None
        self.infer_ms: list[float] = []
        self.done = False
        self.any_shown = False  # a frame was drawn (playing or not)
        window.frame_shown.connect(self._on_frame)

    def start(self) -> None:
        self.t0 = time.perf_counter()
        self.heartbeat.start()
        for values in self.window.draw_ms.values():
            values.clear()

    def _on_frame(self, index: int) -> None:
        self.any_shown = True
        if self.t0 is None or self.done:
            return
        self.shown += 1
        self.first_index = index if self.first_index is None else self.first_index
        self.last_index = index
        update = self.window.last_update
        if update is not None:
            self.infer_ms.append(float(update.result.timings.get("infer_ms", float("nan"))))
        if self.quit_after is not None and self.shown >= self.quit_after:
            self.finish()

    def stats(self) -> dict:
        elapsed = time.perf_counter() - (self.t0 or time.perf_counter())
        runner = self.window.worker.stats()
        infer = np.asarray(self.infer_ms, float)
        return {
            "frames_shown": self.shown,
            "frames_dropped": int(runner["dropped"]),
            "frames_not_drawn": self.window.gui_dropped,
            "first_frame": self.first_index,
            "last_frame": self.last_index,
            "seconds": elapsed,
            "display_fps": self.shown / elapsed if elapsed > 0 else 0.0,
            "source_fps": self.window.info["fps"] if self.window.info else None,
            "inference_ms_mean": float(np.nanmean(infer)) if infer.size else None,
            "inference_ms_p95": float(np.nanpercentile(infer, 95)) if infer.size else None,
            "inference_fps": 1e3 / float(np.nanmean(infer)) if infer.size else None,
            "gui_longest_stall_ms": self.heartbeat.longest_ms,
            "gui_longest_stall_cpu_ms": self.heartbeat.longest_cpu_ms,
            "gui_stalls_over_50ms": len(self.heartbeat.stalls),
            "gui_worst_stalls": [{"at_s": t, "ms": gap, "cpu_ms": cpu}
                                 for t, gap, cpu in sorted(self.heartbeat.stalls, key=lambda s: -s[1])[:5]],
            "gui_cpu_ms_per_frame": self.heartbeat.cpu_ms / self.shown if self.shown else None,
            "gui_cpu_fraction": self.heartbeat.cpu_ms / 1e3 / elapsed if elapsed > 0 else None,
            "gui_slot_ms": {name: timing_summary(values) for name, values in self.window.draw_ms.items()},
            "load_average_1min": os.getloadavg()[0],
            "device": runner["device"],
            "models": self.window.worker.state.models,
            "compared": self.window.worker.state.compared,
            "file": self.window.info["path"] if self.window.info else None,
            "reconstruction": self.window.reconstruction_view.summary(),
        }

    @QtCore.Slot(str)
    def fail(self, message: str) -> None:
        """An error before the first frame was shown (the file cannot be opened, the model cannot be
        built): a scripted run would wait forever, so it says why on stderr and ends with status 2."""
        if self.done or self.any_shown:
            return
        self.done = True
        print(f"endodepth-gui: error: {message}", file=sys.stderr)
        self.window.close()
        QtWidgets.QApplication.instance().exit(2)

    def finish(self) -> None:
        """Write statistics and the screenshot, then close the window."""
        if self.done:
            return
        self.done = True
        self.window.play(False)
        self.window.reconstruction_view.start_button.setChecked(False)  # the final mesh is drawn
        if self.stats_out:
            Path(self.stats_out).write_text(json.dumps(self.stats(), indent=2))
        if self.screenshot:
            save_screenshot(self.window, self.screenshot)
        self.window.close()


def save_screenshot(window: QtWidgets.QWidget, path: str | Path) -> Path:
    """The window as drawn, with the picture of the 3D view painted in (QWidget.grab does not see
    into the native GL window the 3D view draws in)."""
    from endodepth.errors import InputError
    from endodepth.io.atomic import atomic_write
    from endodepth.qt.point_cloud_view import PointCloudView
    from endodepth.qt.reconstruction_view import ReconstructionView

    QtWidgets.QApplication.processEvents()
    pixmap = window.grab()
    painter = QtGui.QPainter(pixmap)
    for view in [*window.findChildren(PointCloudView), *window.findChildren(ReconstructionView)]:
        box = view.gl_container
        if box.isVisible() and box.window() is window:
            painter.drawImage(QtCore.QRect(box.mapTo(window, QtCore.QPoint(0, 0)), box.size()),
                              view.gl_view.grabFramebuffer())
    painter.end()
    with atomic_write(path) as tmp:
        if not pixmap.save(str(tmp)):
            raise InputError(path, "could not save the screenshot (use .png or .jpg)")
    return Path(path)


def apply_style(app: QtWidgets.QApplication) -> None:
    """Fusion with a dark palette, plus the bundled stylesheet."""
    from importlib.resources import files

    app.setStyle("Fusion")
    palette = QtGui.QPalette()
    dark, base, text = QtGui.QColor(37, 39, 44), QtGui.QColor(26, 27, 31), QtGui.QColor(225, 228, 232)
    role = QtGui.QPalette.ColorRole
    for r, c in ((role.Window, dark), (role.Base, base), (role.AlternateBase, dark), (role.Button, dark),
                 (role.WindowText, text), (role.Text, text), (role.ButtonText, text),
                 (role.ToolTipBase, base), (role.ToolTipText, text),
                 (role.Highlight, QtGui.QColor(64, 128, 200)), (role.HighlightedText, QtGui.QColor(255, 255, 255))):
        palette.setColor(r, c)
    palette.setColor(QtGui.QPalette.ColorGroup.Disabled, role.Text, QtGui.QColor(120, 120, 120))
    palette.setColor(QtGui.QPalette.ColorGroup.Disabled, role.ButtonText, QtGui.QColor(120, 120, 120))
    app.setPalette(palette)
    qss = files("endodepth.resources").joinpath("style.qss")
    if qss.is_file():
        app.setStyleSheet(qss.read_text())


def initial_models(args, store) -> tuple[list[str], str | None]:
    """Models from the command line, else the saved ones, else the bundled default (notice if it is absent)."""
    from endodepth.qt.settings import saved_state
    from endodepth.qt.worker import default_model_name

    if args.model:
        return list(args.model), None
    saved = [str(m) for m in saved_state(store).get("models") or []]
    if saved and args.path is not None:
        return saved, None
    name, notice = default_model_name()
    return [name], notice


def bundled_sample() -> Path:
    """The synthetic sample clip shipped with the package."""
    from endodepth.resources import sample_clip_path

    return sample_clip_path()


def run_app(argv: list[str]) -> int:
    """Entry point of `endodepth-gui`; returns the exit code."""
    args = build_parser().parse_args(argv)
    import pyqtgraph as pg

    pg.setConfigOptions(imageAxisOrder="row-major", antialias=True)
    # One GL context group: a floating (re-parented) 3D dock keeps its shaders.
    QtCore.QCoreApplication.setAttribute(QtCore.Qt.ApplicationAttribute.AA_ShareOpenGLContexts)
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(["endodepth-gui"])
    app.setOrganizationName("EndoDepth")
    app.setApplicationName("endodepth-gui")
    apply_style(app)

    from endodepth.pipeline.source_models import stereo_models
    from endodepth.qt import settings as prefs
    from endodepth.qt.main_window import MainWindow

    # read every model's card now, before playback: it imports the adapter libraries (peft, transformers:
    # about 0.4 s holding the interpreter lock), which on the worker thread stalled the first second shown
    stereo_models()
    store = prefs.settings()
    window = MainWindow(store)
    width, height = args.size
    fresh_layout = store.value("state") is None or bool(args.screenshot)
    if store.value("geometry") is None or args.screenshot:
        window.resize(width, height)
    models, notice = initial_models(args, store)
    path = args.path or str(bundled_sample())
    recorder = PlaybackRecorder(window, args.quit_after, args.stats_out, args.screenshot)
    scripted = args.quit_after is not None or bool(args.screenshot)  # ends by itself: no dialogs
    window.quiet = scripted
    if scripted:
        # to the recorder's slot: it runs on the GUI thread (a lambda would run on the worker's, which
        # the window's shutdown then waits for: a hang, or a crash at teardown); before the file is opened
        window.worker.error.connect(recorder.fail, QtCore.Qt.ConnectionType.QueuedConnection)
    window.transport.every_frame_box.setChecked(args.every_frame)
    if args.quit_after is not None:
        window.transport.loop_box.setChecked(True)
    if args.views:
        shown = {v.strip() for v in args.views.split(",")}
        if not shown <= set(VIEWS):
            raise SystemExit(f"endodepth-gui: --views: unknown view(s) {', '.join(sorted(shown - set(VIEWS)))}")
        for key, dock in window.docks.items():
            dock.setVisible(key in shown)
    if args.fuse:
        window.docks["reconstruction"].show()
        window.reconstruction_view.start_button.setChecked(True)
    window.show()
    if fresh_layout:
        window.size_docks()
    if len(models) > 1:
        window.worker.state.set_compared(models[:4])
    window.set_models(models[:1], args.device)
    window.open_path(path, args.stereo)
    if notice:
        window.show_notice(notice)
    if args.play or args.quit_after is not None:
        def start_when_ready(_index: int) -> None:
            window.frame_shown.disconnect(start_when_ready)
            recorder.start()
            window.play(True)

        window.frame_shown.connect(start_when_ready)
    elif args.screenshot:
        window.frame_shown.connect(lambda _i: QtCore.QTimer.singleShot(300, recorder.finish))
    return app.exec()
