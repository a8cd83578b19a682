"""The model toolbar: primary model, device, scaling to ground truth and MC-dropout samples."""

from __future__ import annotations

from contextlib import ExitStack

from PySide6 import QtCore, QtWidgets

from endodepth.models import available
from endodepth.pipeline.source_models import listed_name
from endodepth.pipeline.viewer_state import ViewerState

DEVICES = ("auto", "cuda", "cpu")
ALIGN_TIP = "Median-scale relative depth to millimetres on the source's ground truth"


class ModelBar(QtWidgets.QToolBar):
    """Shows and changes a ViewerState; `model_chosen`/`device_chosen` ask the window to switch models."""

    model_chosen = QtCore.Signal(str)
    device_chosen = QtCore.Signal(str)

    def __init__(self, state: ViewerState, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__("Model", parent)
        self.setObjectName("toolbar-model")
        self.model_box = QtWidgets.QComboBox(self)
        self._add_items(available())
        self.model_box.setMinimumContentsLength(22)
        self.model_box.setSizeAdjustPolicy(QtWidgets.QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.model_box.setToolTip("Depth model (a registered name or a checkpoint file); "
                                  "\"(untrained)\": no trained weights, random output")
        self.device_box = QtWidgets.QComboBox(self)
        self.device_box.addItems(list(DEVICES))
        self.align_box = QtWidgets.QCheckBox("Scale to GT (mm)", self)
        self.align_box.setChecked(True)
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
        self.model_box.currentIndexChanged.connect(self._on_index)
        self.device_box.currentTextChanged.connect(self.device_chosen)

    def _add_items(self, names: list[str]) -> None:
        """Items shown by `listed_name` ("(untrained)" where so), each carrying the model's name."""
        for name in names:
            self.model_box.addItem(listed_name(name), name)

    def _on_index(self, index: int) -> None:
        name = self.model_box.itemData(index)
        if name:
            self.model_chosen.emit(name)

    def current_model(self) -> str:
        """The model name of the shown item."""
        return self.model_box.currentData() or ""

    def _show_model(self, name: str) -> None:
        self.model_box.setCurrentIndex(self.model_box.findData(name))

    def offer(self, names: list[str]) -> None:
        """The models the list offers (those that fit the source), keeping the shown one (no signal)."""
        with QtCore.QSignalBlocker(self.model_box):
            current = self.current_model()
            self.model_box.clear()
            self._add_items(names)
            if current in names:
                self._show_model(current)

    def show_state(self, state: ViewerState) -> None:
        """Show the state's primary model, device, scaling and MC samples without signalling back."""
        with ExitStack() as stack:
            for box in (self.model_box, self.device_box, self.align_box, self.mc_box):
                stack.enter_context(QtCore.QSignalBlocker(box))
            if state.primary and self.model_box.findData(state.primary) < 0:
                self._add_items([state.primary])
            if state.primary:
                self._show_model(state.primary)
            self.device_box.setCurrentText(state.device)
            self._show_align(state)
            self.mc_box.setValue(state.mc_samples)

    def _show_align(self, state: ViewerState) -> None:
        """Scaling to ground truth applies only to a source with it: without, the box is off and disabled
        (the user's choice stays in the state for the next source with ground truth)."""
        gt = state.ground_truth
        self.align_box.setEnabled(gt)
        self.align_box.setChecked(gt and state.align_to_gt)
        self.align_box.setToolTip(ALIGN_TIP if gt else f"{ALIGN_TIP}: the open source has no ground truth")

    def add_model(self, name: str) -> None:
        """Offer one more model (an adapted checkpoint) in the list, without switching to it."""
        with QtCore.QSignalBlocker(self.model_box):
            if self.model_box.findData(name) < 0:
                self._add_items([name])
