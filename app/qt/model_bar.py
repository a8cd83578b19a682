"""The model toolbar: primary model, device, scaling to ground truth and MC-dropout samples."""

from __future__ import annotations

from contextlib import ExitStack

from PySide6 import QtCore, QtWidgets

from endodepth.models import available
from endodepth.pipeline.viewer_state import ViewerState

DEVICES = ("auto", "cuda", "cpu")


class ModelBar(QtWidgets.QToolBar):
    """Shows and changes a ViewerState; `model_chosen`/`device_chosen` ask the window to switch models."""

    model_chosen = QtCore.Signal(str)
    device_chosen = QtCore.Signal(str)

    def __init__(self, state: ViewerState, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__("Model", parent)
        self.setObjectName("toolbar-model")
        self.model_box = QtWidgets.QComboBox(self)
        self.model_box.addItems(available())
        self.model_box.setMinimumContentsLength(22)
        self.model_box.setToolTip("Depth model (a registered name or a checkpoint file)")
        self.device_box = QtWidgets.QComboBox(self)
        self.device_box.addItems(list(DEVICES))
        self.align_box = QtWidgets.QCheckBox("Scale to GT (mm)", self)
        self.align_box.setChecked(True)
        self.align_box.setToolTip("When the source has ground truth, median-scale relative depth to millimetres")
        self.mc_box = QtWidgets.QSpinBox(self)
        self.mc_box.setRange(1, 32)
        self.mc_box.setPrefix("MC dropout x")
        self.mc_box.setToolTip(
            "Passes per frame with dropout on (1: off); models with dropout then show an uncertainty"
        )
        self.addWidget(QtWidgets.QLabel(" Model "))
        self.addWidget(self.model_box)
        self.addWidget(QtWidgets.QLabel(" Device "))
        self.addWidget(self.device_box)
        self.addWidget(self.align_box)
        self.addWidget(self.mc_box)
        self.mc_box.valueChanged.connect(state.set_mc_samples)
        self.align_box.toggled.connect(state.set_align_to_gt)
        self.model_box.currentTextChanged.connect(lambda name: self.model_chosen.emit(name) if name else None)
        self.device_box.currentTextChanged.connect(self.device_chosen)

    def offer(self, names: list[str]) -> None:
        """The models the list offers (those that fit the source), keeping the shown one (no signal)."""
        with QtCore.QSignalBlocker(self.model_box):
            current = self.model_box.currentText()
            self.model_box.clear()
            self.model_box.addItems(names)
            if current in names:
                self.model_box.setCurrentText(current)

    def show_state(self, state: ViewerState) -> None:
        """Show the state's primary model, device, scaling and MC samples without signalling back."""
        with ExitStack() as stack:
            for box in (self.model_box, self.device_box, self.align_box, self.mc_box):
                stack.enter_context(QtCore.QSignalBlocker(box))
            if state.primary and self.model_box.findText(state.primary) < 0:
                self.model_box.addItem(state.primary)
            if state.primary:
                self.model_box.setCurrentText(state.primary)
            self.device_box.setCurrentText(state.device)
            self.align_box.setChecked(state.align_to_gt)
            self.mc_box.setValue(state.mc_samples)

    def add_model(self, name: str) -> None:
        """Offer one more model (an adapted checkpoint) in the list, without switching to it."""
        with QtCore.QSignalBlocker(self.model_box):
            if self.model_box.findText(name) < 0:
                self.model_box.addItem(name)
