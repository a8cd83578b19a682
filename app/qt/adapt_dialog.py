"""Model > Adapt to this video: the options of `train.adapt.AdaptJob`, which runs on its own QThread
(niced, so playback keeps its share of the CPU) while the dialog shows the loss curve, the progress and
the time left; Cancel stops it before anything is written. The Qt side only forwards."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from endodepth.errors import EndoDepthError
from endodepth.io.detect import open_source
from endodepth.models import available
from endodepth.threads import lower_this_thread
from endodepth.train.adapt import (
    DEFAULT_STEPS,
    STEREO_TEACHER,
    AdaptCancelled,
    AdaptJob,
    AdaptOptions,
    resolve_objective,
)
from endodepth.train.adapt_files import check_output, default_output

OBJECTIVE_CHOICES = ("stereo", "mono", "pseudo")
CHECKPOINT_FILTER = "Checkpoints (*.safetensors *.pth *.pt)"
NOT_LOSS = ("kept",)  # progress terms that are statistics, not parts of the loss


class AdaptRunner(QtCore.QObject):
    """Runs one AdaptJob on a reader of its own in the thread it is moved to; re-emits its callbacks."""

    progressed = QtCore.Signal(int, int, object)  # step, steps, {term: value}
    staged = QtCore.Signal(str)
    done = QtCore.Signal(object)  # AdaptResult
    failed = QtCore.Signal(str)
    cancelled = QtCore.Signal()

    def __init__(self, source_path: str, out: Path, options: AdaptOptions) -> None:
        super().__init__()
        self.source_path, self.out, self.options = source_path, out, options
        self._cancel = threading.Event()
        self._job: AdaptJob | None = None

    def cancel(self) -> None:
        """Stop the job at its next step (or before it starts); nothing is written."""
        self._cancel.set()
        if self._job is not None:
            self._job.cancel()

    @QtCore.Slot()
    def run(self) -> None:
        lower_this_thread()
        try:
            with open_source(self.source_path) as source:
                self.staged.emit("building the model and its adapters")
                self._job = AdaptJob(source, self.out, self.options, progress=self.progressed.emit,
                                     stage=self.staged.emit)
                if self._cancel.is_set():
                    self._job.cancel()
                result = self._job.run()
        except AdaptCancelled:
            self.cancelled.emit()
        except EndoDepthError as exc:
            self.failed.emit(str(exc))
        except Exception as exc:  # the window keeps running; the message says what broke
            self.failed.emit(f"{type(exc).__name__}: {exc}")
        else:
            self.done.emit(result)


class AdaptDialog(QtWidgets.QDialog):
    """Options, Start / Cancel, and the live view of a run; `adapted` carries the checkpoint written."""

    adapted = QtCore.Signal(str, str, bool)  # checkpoint, base model, stereo source

    def __init__(self, parent: QtWidgets.QWidget, source_path: str, frames: int, base: str) -> None:
        super().__init__(parent)
        self.setWindowTitle("Adapt to this video")
        self.source_path, self.base = source_path, base
        with open_source(source_path) as source:
            preset = resolve_objective("auto", source)
        self.stereo = preset == "stereo"
        self.objective = QtWidgets.QComboBox(self)
        self.objective.addItems(list(OBJECTIVE_CHOICES))
        self.objective.model().item(0).setEnabled(self.stereo)
        self.teacher = QtWidgets.QComboBox(self)
        self.teacher.setEditable(True)  # a checkpoint path may be typed in
        self.teacher.setToolTip("The model (name or checkpoint file) whose depth the adapted model learns")
        self.teacher.addItems(sorted((m for m in available() if m != base), key=lambda m: m.startswith("baseline")))
        self.steps = QtWidgets.QSpinBox(self)
        self.steps.setRange(1, 100_000)
        self.first, self.last = QtWidgets.QSpinBox(self), QtWidgets.QSpinBox(self)
        for box in (self.first, self.last):
            box.setRange(0, max(0, frames - 1))
        self.last.setValue(frames - 1)
        self.out = QtWidgets.QLineEdit(str(default_output(source_path)), self)
        browse = QtWidgets.QPushButton("Browse...", self)
        browse.clicked.connect(self._browse)

        self.plot = pg.PlotWidget(self)
        self.plot.setLabel("bottom", "step")
        self.plot.setLabel("left", "loss")
        self.plot.getAxis("left").enableAutoSIPrefix(False)
        self.plot.setMinimumSize(420, 180)
        self.curve = self.plot.plot([], [], pen=pg.mkPen("#4cc9f0", width=2))
        self.progress = QtWidgets.QProgressBar(self)
        self.status = QtWidgets.QLabel("Press Start: the video keeps playing while the model adapts.", self)
        self.status.setWordWrap(True)
        self.start_button = QtWidgets.QPushButton("Start", self)
        self.cancel_button = QtWidgets.QPushButton("Cancel", self)
        self.close_button = QtWidgets.QPushButton("Close", self)
        self.cancel_button.setEnabled(False)
        self.start_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.close_button.clicked.connect(self.close)

        form = QtWidgets.QFormLayout()
        form.addRow("Model", QtWidgets.QLabel(base, self))
        form.addRow("Objective", self.objective)
        form.addRow("Teacher (pseudo)", self.teacher)
        form.addRow("Steps", self.steps)
        frames_row = QtWidgets.QHBoxLayout()
        for text, box in (("from", self.first), ("to", self.last)):
            frames_row.addWidget(QtWidgets.QLabel(text, self))
            frames_row.addWidget(box)
        frames_row.addWidget(QtWidgets.QLabel("(the others are held out)", self), 1)
        form.addRow("Frames", frames_row)
        out_row = QtWidgets.QHBoxLayout()
        out_row.addWidget(self.out, 1)
        out_row.addWidget(browse)
        form.addRow("Save as", out_row)
        buttons = QtWidgets.QHBoxLayout()
        buttons.addStretch(1)
        for button in (self.start_button, self.cancel_button, self.close_button):
            buttons.addWidget(button)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addLayout(buttons)
        self.option_widgets = (self.objective, self.teacher, self.steps, self.first, self.last, self.out, browse)

        self.objective.currentTextChanged.connect(self._on_objective)
        self.objective.setCurrentText(preset)
        self._on_objective(preset)
        self.thread: QtCore.QThread | None = None
        self.runner: AdaptRunner | None = None
        self.losses: list[float] = []
        self._started_at: float | None = None
        self.result = None

    @property
    def running(self) -> bool:
        """Whether a job is under way."""
        return self.thread is not None

    def options(self) -> AdaptOptions:
        """The AdaptOptions the widgets describe (frames: the chosen range as [first, last + 1))."""
        first, last = sorted((self.first.value(), self.last.value()))
        whole = first == 0 and last == self.last.maximum()
        objective = self.objective.currentText()
        return AdaptOptions(model=self.base, objective=objective, steps=self.steps.value(),
                            frames=None if whole else (first, last + 1),
                            teacher=self.teacher.currentText() if objective == "pseudo" else None)

    def start(self) -> None:
        """Check the output path, then run the job on a new thread."""
        out = Path(self.out.text()).expanduser()
        try:
            check_output(out)
            out.parent.mkdir(parents=True, exist_ok=True)
        except (EndoDepthError, OSError) as exc:
            self.status.setText(f"cannot save there: {exc}")
            return
        self.losses, self._started_at, self.result = [], None, None
        self.curve.setData([], [])
        self.progress.setRange(0, self.steps.value())
        self.progress.setValue(0)
        self.runner = AdaptRunner(self.source_path, out, self.options())
        self.thread = QtCore.QThread(self)
        self.thread.setObjectName("endodepth-adapt")
        self.runner.moveToThread(self.thread)
        self.thread.started.connect(self.runner.run)
        self.runner.progressed.connect(self._on_progress)
        self.runner.staged.connect(self.status.setText)
        self.runner.done.connect(self._on_done)
        self.runner.failed.connect(self._on_failed)  # bound slots: queued into the GUI thread (a lambda is not)
        self.runner.cancelled.connect(self._on_cancelled)
        self._set_running(True)
        self.thread.start()

    def cancel(self) -> None:
        """Ask the running job to stop (the dialog says so when it has)."""
        if self.runner is not None:
            self.runner.cancel()
            self.status.setText("cancelling...")

    def stop(self, timeout_ms: int = 30000) -> None:
        """Cancel and wait for the job's thread (the window is closing; its queued signals are dropped)."""
        if self.thread is not None:
            self.cancel()
            self.thread.quit()
            self.thread.wait(timeout_ms)
            self.thread, self.runner = None, None

    def _on_objective(self, objective: str) -> None:
        self.steps.setValue(DEFAULT_STEPS[objective])
        self.teacher.setEnabled(objective == "pseudo" and not self.running)

    def _browse(self) -> None:
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Save adapted model as", self.out.text(),
                                                        CHECKPOINT_FILTER)
        if path:
            self.out.setText(path)

    def _set_running(self, running: bool) -> None:
        for widget in self.option_widgets:
            widget.setEnabled(not running)
        self.teacher.setEnabled(not running and self.objective.currentText() == "pseudo")
        self.start_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)

    def _on_progress(self, step: int, steps: int, terms: dict) -> None:
        now = time.perf_counter()
        if self._started_at is None:
            self._started_at = now
        self.losses.append(sum(v for k, v in terms.items() if k not in NOT_LOSS))
        self.curve.setData(list(range(1, len(self.losses) + 1)), self.losses)
        self.progress.setValue(step)
        left = (now - self._started_at) / max(1, step - 1) * (steps - step) if step > 1 else None
        eta = "" if left is None else f", about {_duration(left)} left"
        self.status.setText(f"step {step} / {steps}, loss {self.losses[-1]:.4f}{eta}")

    def _on_done(self, result) -> None:
        self.result = result
        card = result.card
        check = card.get("ground_truth_check")
        measured = "" if not check else (
            f"; abs_rel on {check['before']['frames']}: "
            f"{check['before']['abs_rel']:.3f} before, {check['after']['abs_rel']:.3f} after")
        self._finish(f"wrote {result.checkpoint} ({card['objective']}, {card['steps']} steps, "
                     f"{_duration(card['seconds'])}){measured}")
        self.adapted.emit(str(result.checkpoint), self.base, self.stereo)

    @QtCore.Slot(str)
    def _on_failed(self, message: str) -> None:
        self._finish(f"failed: {message}")

    @QtCore.Slot()
    def _on_cancelled(self) -> None:
        self._finish("cancelled: nothing was written")

    def _finish(self, message: str) -> None:
        self.status.setText(message)
        if self.thread is not None:
            self.thread.quit()
            self.thread.wait()
        self.thread, self.runner = None, None
        self._set_running(False)


def _duration(seconds: float) -> str:
    """`42 s` or `3 min 05 s`."""
    seconds = max(0, round(seconds))
    return f"{seconds} s" if seconds < 60 else f"{seconds // 60} min {seconds % 60:02d} s"


def adapt_to_video(window) -> AdaptDialog | None:
    """Model > Adapt to this video: the dialog for the open source and the primary model (the running
    one is shown again rather than a second started)."""
    dialog = getattr(window, "adapt_dialog", None)
    if dialog is None or not dialog.running:
        if window.info is None:
            window.show_notice("open a video first: adapting learns from the frames of the open source")
            return None
        try:
            dialog = AdaptDialog(window, window.info["path"], window.info["frames"],
                                 window.worker.state.primary or "default")
        except EndoDepthError as exc:
            window.show_error(str(exc))
            return None
        dialog.adapted.connect(lambda path, base, stereo: join_adapted(window, path, base, stereo))
        window.adapt_dialog = dialog
    dialog.show()
    dialog.raise_()
    return dialog


def join_adapted(window, path: str, base: str, stereo: bool) -> None:
    """The adapted checkpoint joins the model list and File > Open recent models, and the comparison
    dock shows it beside its base (and the stereo depth on a stereo source; ground truth when there is)."""
    window.recent_models.add(path)
    window.model_bar.add_model(path)
    # stereo first: the comparison aligns the others to the first model (or ground truth), so all are in mm
    window.worker.state.set_compared([*([STEREO_TEACHER] if stereo else []), path, base])
    dock = window.docks["comparison"]
    dock.show()
    dock.raise_()
    window.show_notice(f"adapted model {Path(path).name}: in the model list, compared with {base}")


def stop_adapting(window) -> None:
    """Cancel a running adaptation and wait for its thread (the window is closing)."""
    dialog = getattr(window, "adapt_dialog", None)
    if dialog is not None:
        dialog.stop()
