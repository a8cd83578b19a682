"""Neuron depth selectivity of one layer: units x depth-bins responses, mean selectivity over time, a unit's map."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from endodepth.pipeline.live_selectivity import SelectivitySnapshot
from endodepth.qt.depth_display import show_rgb
from endodepth.qt.image_depth_view import image_box
from endodepth.vis.colormap import lut


class SelectivityView(QtWidgets.QWidget):
    """Displays snapshots; `layer_changed`/`unit_changed` tell the worker what to accumulate and map."""

    layer_changed = QtCore.Signal(str)
    unit_changed = QtCore.Signal(int)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.layer_box = QtWidgets.QComboBox(self)
        self.layer_box.setMinimumContentsLength(18)
        self.unit_box = QtWidgets.QSpinBox(self)
        self.unit_box.setRange(-1, 100_000)
        self.unit_box.setValue(-1)
        self.unit_box.setSpecialValueText("most selective")
        self.unit_box.setPrefix("unit ")
        self.summary = QtWidgets.QLabel("Open a file to accumulate responses.", self)
        self.summary.setWordWrap(True)  # wraps instead of widening the dock
        self.summary.setSizePolicy(QtWidgets.QSizePolicy.Policy.Ignored, QtWidgets.QSizePolicy.Policy.Preferred)
        self.note = QtWidgets.QLabel(self)  # in place of the plots when the model has no layers
        self.note.setObjectName("selectivity-note")
        self.note.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        self.note.setWordWrap(True)
        self.note.hide()

        self.canvas = pg.GraphicsLayoutWidget(self)
        layout = self.canvas.ci
        self.matrix_plot = layout.addPlot(row=0, col=0, title="responses (units sorted by preferred depth)")
        self.matrix_plot.setLabel("bottom", "depth bin")
        self.matrix_plot.setLabel("left", "unit (sorted)")
        self.matrix_plot.invertY(True)
        self.matrix_item = pg.ImageItem(axisOrder="row-major")
        self.matrix_item.setLookupTable(lut("viridis"))
        self.matrix_plot.addItem(self.matrix_item)
        self.mean_plot = layout.addPlot(row=1, col=0, title="mean depth selectivity of the layer")
        self.mean_plot.setLabel("bottom", "frames seen")
        self.mean_curve = self.mean_plot.plot(pen=pg.mkPen("#f0a030", width=2))
        self.map_box = image_box(layout, 0, 1)
        layout.addLabel("activation of the unit over the frame", row=1, col=1)
        self.frame_item = pg.ImageItem(axisOrder="row-major")
        self.map_item = pg.ImageItem(axisOrder="row-major")
        self.map_box.addItem(self.frame_item)
        self.map_box.addItem(self.map_item)
        layout.layout.setColumnStretchFactor(0, 3)
        layout.layout.setColumnStretchFactor(1, 2)

        controls = QtWidgets.QHBoxLayout()
        controls.addWidget(QtWidgets.QLabel("Layer"))
        controls.addWidget(self.layer_box)
        controls.addWidget(self.unit_box)
        controls.addWidget(self.summary, 1)
        column = QtWidgets.QVBoxLayout(self)
        column.setContentsMargins(2, 2, 2, 2)
        column.addLayout(controls)
        column.addWidget(self.canvas, 1)
        column.addWidget(self.note, 1)

        self.history: list[tuple[int, float]] = []
        self.snapshot: SelectivitySnapshot | None = None
        self.layer_box.currentTextChanged.connect(self._on_layer)
        self.unit_box.valueChanged.connect(self.unit_changed)

    def set_layers(self, layers: list[str], current: str | None = None,
                   note: str = "this model exposes no layers to analyse") -> None:
        """The current model's layers (no signal for the programmatic change); without layers the
        plots give way to `note`, one line."""
        with QtCore.QSignalBlocker(self.layer_box):
            self.layer_box.clear()
            self.layer_box.addItems(layers)
            if current in layers:
                self.layer_box.setCurrentText(current)
        self.note.setText(note)
        self.note.setVisible(not layers)
        self.canvas.setVisible(bool(layers))
        self.clear()

    def clear(self) -> None:
        self.history.clear()
        self.snapshot = None
        self.mean_curve.setData([], [])
        for item in (self.matrix_item, self.frame_item, self.map_item):
            item.clear()
        self.summary.setText("accumulating..." if self.layer_box.count() else "")

    def show_snapshot(self, snap: SelectivitySnapshot, rgb: np.ndarray) -> None:
        """Draw the accumulated responses, the running mean and the shown unit's map over the
        snapshot's frame (`rgb` when the snapshot has none)."""
        self.snapshot = snap
        if not self.history or self.history[-1][0] != snap.frames:
            self.history.append((snap.frames, snap.mean))
        frames, means = zip(*self.history)
        self.mean_curve.setData(np.asarray(frames, float), np.asarray(means, float))
        matrix = np.nan_to_num(snap.matrix, nan=0.0)
        self.matrix_item.setImage(matrix, autoLevels=False, levels=(0.0, 1.0))
        self.matrix_item.setRect(QtCore.QRectF(0, 0, matrix.shape[1], matrix.shape[0]))
        frame = rgb if snap.frame is None else snap.frame
        first = self.frame_item.image is None or self.frame_item.image.shape != frame.shape
        show_rgb(self.frame_item, frame)
        if snap.overlay is not None:
            show_rgb(self.map_item, snap.overlay)
        if first:
            self.map_box.autoRange(padding=0)
        edges = snap.bin_edges
        self.summary.setText(
            f"{snap.layer}: {matrix.shape[0]} units x {matrix.shape[1]} bins "
            f"({edges[1]:.3g}-{edges[-1]:.3g} {snap.unit}), mean DS {snap.mean:.3f} over {snap.frames} frames; "
            f"unit {snap.shown_unit} DS {snap.selectivity[snap.shown_unit]:.3f}"
        )

    def options(self) -> dict:
        return {"layer": self.layer_box.currentText(), "unit": self.unit_box.value()}

    def _on_layer(self, layer: str) -> None:
        self.clear()
        if layer:
            self.layer_changed.emit(layer)
