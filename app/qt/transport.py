"""Playback controls: play/pause, step, jump, timeline slider with frame index and time, speed, loop, mode."""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

SPEEDS = (0.25, 0.5, 1.0, 2.0, 4.0)


def format_time(seconds: float) -> str:
    """m:ss.mmm for the timeline label."""
    minutes, rest = divmod(max(0.0, seconds), 60.0)
    return f"{int(minutes)}:{rest:06.3f}"


class TransportBar(QtWidgets.QWidget):
    """Emits what the user asks for; the main window forwards it to the worker and calls `set_position`."""

    seek_requested = QtCore.Signal(int)
    play_toggled = QtCore.Signal(bool)
    speed_changed = QtCore.Signal(float)
    loop_changed = QtCore.Signal(bool)
    every_frame_changed = QtCore.Signal(bool)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self._count = 0
        self._fps = 25.0
        style = self.style()
        icon = QtWidgets.QStyle.StandardPixmap

        def button(pixmap, tip: str) -> QtWidgets.QToolButton:
            b = QtWidgets.QToolButton(self)
            b.setIcon(style.standardIcon(pixmap))
            b.setToolTip(tip)
            b.setAutoRaise(True)
            return b

        self.start_button = button(icon.SP_MediaSkipBackward, "Jump to start (Home)")
        self.back_button = button(icon.SP_MediaSeekBackward, "Previous frame (Left)")
        self.play_button = button(icon.SP_MediaPlay, "Play / pause (Space)")
        self.play_button.setCheckable(True)
        self.forward_button = button(icon.SP_MediaSeekForward, "Next frame (Right)")
        self.end_button = button(icon.SP_MediaSkipForward, "Jump to end (End)")
        self.slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal, self)
        self.slider.setTracking(True)
        self.slider.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
        self.position_label = QtWidgets.QLabel(self)
        self.position_label.setMinimumWidth(230)
        self.speed_box = QtWidgets.QComboBox(self)
        self.speed_box.addItems([f"{s:g}x" for s in SPEEDS])
        self.speed_box.setCurrentIndex(SPEEDS.index(1.0))
        self.speed_box.setToolTip("Playback speed (+ / -)")
        self.loop_box = QtWidgets.QCheckBox("Loop", self)
        self.every_frame_box = QtWidgets.QCheckBox("Every frame", self)
        self.every_frame_box.setToolTip(
            "Process every frame (slower than real time); off: real-time, stale frames are dropped"
        )
        row = QtWidgets.QHBoxLayout(self)
        row.setContentsMargins(4, 2, 4, 2)
        for w in (self.start_button, self.back_button, self.play_button, self.forward_button, self.end_button):
            row.addWidget(w)
        row.addWidget(self.slider, 1)
        for w in (self.position_label, self.speed_box, self.loop_box, self.every_frame_box):
            row.addWidget(w)

        self.start_button.clicked.connect(lambda: self.seek_requested.emit(0))
        self.end_button.clicked.connect(lambda: self.seek_requested.emit(max(0, self._count - 1)))
        self.back_button.clicked.connect(lambda: self.step(-1))
        self.forward_button.clicked.connect(lambda: self.step(1))
        self.play_button.toggled.connect(self._on_play)
        self.slider.valueChanged.connect(self._on_slider)
        self.speed_box.currentIndexChanged.connect(lambda i: self.speed_changed.emit(SPEEDS[i]))
        self.loop_box.toggled.connect(self.loop_changed)
        self.every_frame_box.toggled.connect(self.every_frame_changed)
        self.set_source(0, 25.0)

    @property
    def position(self) -> int:
        return self.slider.value()

    @property
    def speed(self) -> float:
        return SPEEDS[self.speed_box.currentIndex()]

    def set_source(self, count: int, fps: float) -> None:
        """New file: range of the slider, and back to frame 0."""
        self._count, self._fps = int(count), float(fps) or 25.0
        self.set_playing(False)
        with QtCore.QSignalBlocker(self.slider):
            self.slider.setRange(0, max(0, self._count - 1))
            self.slider.setValue(0)
        self._update_label(0)

    def set_position(self, index: int) -> None:
        """Show where playback is without emitting a seek."""
        with QtCore.QSignalBlocker(self.slider):
            self.slider.setValue(index)
        self._update_label(index)

    def set_playing(self, playing: bool) -> None:
        """Reflect the play state without emitting play_toggled."""
        with QtCore.QSignalBlocker(self.play_button):
            self.play_button.setChecked(playing)
        self._update_play_icon(playing)

    def step(self, delta: int) -> None:
        """Seek `delta` frames from the current one (clamped)."""
        if self._count:
            self.seek_requested.emit(min(max(0, self.position + delta), self._count - 1))

    def change_speed(self, delta: int) -> None:
        """Next faster (+1) or slower (-1) speed."""
        self.speed_box.setCurrentIndex(min(max(0, self.speed_box.currentIndex() + delta), len(SPEEDS) - 1))

    def _on_play(self, playing: bool) -> None:
        self._update_play_icon(playing)
        self.play_toggled.emit(playing)

    def _on_slider(self, value: int) -> None:
        self._update_label(value)
        self.seek_requested.emit(value)

    def _update_play_icon(self, playing: bool) -> None:
        icons = QtWidgets.QStyle.StandardPixmap
        pixmap = icons.SP_MediaPause if playing else icons.SP_MediaPlay
        self.play_button.setIcon(self.style().standardIcon(pixmap))

    def _update_label(self, index: int) -> None:
        last = max(0, self._count - 1)
        self.position_label.setText(
            f"frame {index} / {last}   {format_time(index / self._fps)} / {format_time(last / self._fps)}"
        )
