"""Two to four models on one frame: shared colour scale after scale alignment, linked zoom/pan,
absolute difference map, and per-frame errors over time against ground truth, or against stereo depth
on a stereo source without it (labelled "errors vs stereo (not ground truth)")."""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from endodepth.analysis.comparison import GT
from endodepth.pipeline.live_comparison import ComparisonSnapshot, shown_name
from endodepth.pipeline.source_models import listed_name
from endodepth.qt.depth_display import DepthColorBar, show_rgb

MAX_MODELS = 4
PANELS = MAX_MODELS + 2  # models, ground truth, difference
METRICS = ("abs_rel", "rmse", "a1")
PENS = ("#4cc9f0", "#f72585", "#b5e48c", "#ffb703")


def grid_columns(panels: int, canvas_aspect: float, image_aspect: float) -> int:
    """Columns of the grid that shows `panels` images (width/height `image_aspect`) largest on a
    canvas of `canvas_aspect` (width/height)."""
    if panels <= 1:
        return 1

    def scale(cols: int) -> float:
        rows = math.ceil(panels / cols)
        return min(canvas_aspect / cols / image_aspect, 1.0 / rows)

    return max(range(1, panels + 1), key=lambda cols: (scale(cols), -cols))


class PanelTitle(pg.LabelItem):
    """A panel title that asks for no width: the grid engine gives more of the spare width to columns
    whose items prefer less, so titles sized to their text made the columns unequal (and the linked,
    aspect-locked image in the narrowest one cropped)."""

    def updateMin(self) -> None:
        super().updateMin()
        height = self._sizeHint[QtCore.Qt.SizeHint.PreferredSize][1]
        self.setMinimumWidth(0)
        self._sizeHint[QtCore.Qt.SizeHint.MinimumSize] = (0, height)
        self._sizeHint[QtCore.Qt.SizeHint.PreferredSize] = (0, height)


class ComparisonView(QtWidgets.QWidget):
    """Displays snapshots; `models_changed` carries the chosen model names (2-4)."""

    models_changed = QtCore.Signal(list)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.model_list = QtWidgets.QListWidget(self)
        # long names (depth-anything-v2-vits-metric-bins-router (untrained)) wrap at their hyphens, never cut off
        self.model_list.setMaximumWidth(210)
        self.model_list.setWordWrap(True)
        self.model_list.setTextElideMode(QtCore.Qt.TextElideMode.ElideNone)
        self.model_list.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.model_list.setToolTip(f"Tick 2 to {MAX_MODELS} models to compare")
        self.metric_box = QtWidgets.QComboBox(self)
        self.metric_box.addItems(list(METRICS))
        self.summary = QtWidgets.QLabel("Tick two to four models.", self)
        self.summary.setWordWrap(True)

        self.canvas = pg.GraphicsLayoutWidget(self)
        self.canvas.ci.setSpacing(2)
        self.canvas.ci.setContentsMargins(2, 2, 2, 2)
        self.boxes: list[pg.ViewBox] = []
        self.items: list[pg.ImageItem] = []
        self.titles: list[pg.LabelItem] = []
        for _ in range(PANELS):
            title = PanelTitle("", size="8pt")
            title.setMaximumHeight(18)
            self.titles.append(title)
            box = pg.ViewBox(lockAspect=True, invertY=True, enableMenu=False)
            box.setDefaultPadding(0.0)
            if self.boxes:
                box.setXLink(self.boxes[0])
                box.setYLink(self.boxes[0])
            item = pg.ImageItem(axisOrder="row-major")
            box.addItem(item)
            self.boxes.append(box)
            self.items.append(item)
        self.diff_item = self.items[-1]
        self.colorbar = DepthColorBar(12)
        self.metric_plot = pg.PlotWidget(self)
        self.metric_plot.setLabel("bottom", "frame")
        self.metric_plot.getAxis("left").enableAutoSIPrefix(False)
        # top right, one row (the plot is short: a column of names would be clipped after the first)
        self.metric_plot.addLegend(offset=(-10, 5), colCount=MAX_MODELS)
        self.metric_plot.setMinimumHeight(110)
        self.metric_plot.setMaximumHeight(170)
        self.curves: dict[str, pg.PlotDataItem] = {}
        # what the plot needs while it has no errors to draw, in the plot (a child of the ViewBox: no data bounds)
        self.metric_note = pg.TextItem("", color="#aab", anchor=(0.5, 0.5))
        self.metric_note.setParentItem(self.metric_plot.getViewBox())
        self.metric_plot.getViewBox().sigResized.connect(self._place_note)
        self._panels: list[int] | None = None
        self._image_aspect = 1.25  # width / height of the compared images
        self.hint = pg.LabelItem(f"Tick 2 to {MAX_MODELS} models on the left to compare them", color="#aab")

        side = QtWidgets.QVBoxLayout()
        side.addWidget(QtWidgets.QLabel("Models"))
        side.addWidget(self.model_list, 1)
        side.addWidget(QtWidgets.QLabel("Metric over time"))
        side.addWidget(self.metric_box)
        main = QtWidgets.QHBoxLayout()
        main.addLayout(side)
        plots = QtWidgets.QVBoxLayout()
        plots.addWidget(self.canvas, 1)
        plots.addWidget(self.metric_plot)
        main.addLayout(plots, 1)
        column = QtWidgets.QVBoxLayout(self)
        column.setContentsMargins(2, 2, 2, 2)
        column.addLayout(main, 1)
        column.addWidget(self.summary)

        self.history: dict[str, dict[int, dict[str, float]]] = {}
        self.errors_label = ""  # what the history's errors are against (ComparisonSnapshot.errors_label)
        self.snapshot: ComparisonSnapshot | None = None
        self.colormap_name = "turbo"
        self.model_list.itemChanged.connect(self._on_item_changed)
        self.metric_box.currentTextChanged.connect(lambda _: self._draw_metrics())
        self._arrange([])
        self._draw_metrics()

    def set_available(self, names: list[str], checked: list[str]) -> None:
        """The models one can tick, and which are ticked (no signal)."""
        with QtCore.QSignalBlocker(self.model_list):
            self.model_list.clear()
            for name in names:
                item = QtWidgets.QListWidgetItem(listed_name(name, shown_name(name)))
                item.setData(QtCore.Qt.ItemDataRole.UserRole, name)
                item.setToolTip(name)
                item.setFlags(item.flags() | QtCore.Qt.ItemFlag.ItemIsUserCheckable)
                item.setCheckState(QtCore.Qt.CheckState.Checked if name in checked else QtCore.Qt.CheckState.Unchecked)
                self.model_list.addItem(item)

    def checked(self) -> list[str]:
        return [self.model_list.item(i).data(QtCore.Qt.ItemDataRole.UserRole) for i in range(self.model_list.count())
                if self.model_list.item(i).checkState() == QtCore.Qt.CheckState.Checked]

    def clear(self) -> None:
        """New file or new model set: forget the metric history and the images."""
        self.history.clear()
        self.errors_label = ""
        self.snapshot = None
        for item in self.items:
            item.clear()
        self._arrange([])
        self._draw_metrics()

    def show_snapshot(self, snap: ComparisonSnapshot) -> None:
        """Draw each model (and GT) with the shared range, the difference map and the metric history."""
        names = [n for n in snap.names if n in snap.colors] + ([GT] if GT in snap.colors else [])
        panels = list(range(len(names))) + ([PANELS - 1] if snap.difference_colors is not None else [])
        height, width = next(iter(snap.colors.values())).shape[:2]
        self._image_aspect = width / height
        first = self._arrange(panels) or self.snapshot is None
        self.snapshot = snap
        for i, name in enumerate(names):
            show_rgb(self.items[i], snap.colors[name])
            self._title(i, shown_name(name) + (" (reference)" if name == snap.reference and name != GT else ""))
        if snap.difference_colors is not None:
            show_rgb(self.diff_item, snap.difference_colors)
            reference = "GT" if snap.reference == GT else snap.reference
            self._title(-1, f"|{shown_name(snap.difference_model)} - {shown_name(reference)}|")
        self.colorbar.show_depth(self.colormap_name, snap.range, snap.unit)
        if snap.errors_label != self.errors_label and snap.metrics:  # errors against another reference
            self.history.clear()
            self.errors_label = snap.errors_label
        for frame, metrics in (*snap.earlier_metrics.items(), (snap.frame, snap.metrics)):
            for name, row in metrics.items():
                self.history.setdefault(name, {})[frame] = row
        self._draw_metrics()
        mean_diff = float("nan") if snap.difference_mean is None else snap.difference_mean
        errors = (f"; over time: {snap.errors_label}" if snap.metrics else
                  "  (no ground truth or stereo: errors over time need a SCARED, plain or stereo source)")
        self.summary.setText(f"frame {snap.frame}: aligned to {snap.reference}; |difference| mean {mean_diff:.4g}, "
                             f"colours 0-{snap.difference_range[1]:.3g} {snap.unit} (magma){errors}")
        if first:  # fit once the grid has its new geometry
            QtCore.QTimer.singleShot(0, self._fit)

    def resizeEvent(self, event) -> None:
        """A new pane shape may want another grid; the images are fitted again."""
        super().resizeEvent(event)
        if self.snapshot is not None:
            panels, self._panels = self._panels, None
            self._arrange(panels)
            QtCore.QTimer.singleShot(0, self._fit)

    def _fit(self) -> None:
        """Show the whole image in the (linked) panels."""
        if self.snapshot is not None:
            height, width = next(iter(self.snapshot.colors.values())).shape[:2]
            self.boxes[0].setRange(QtCore.QRectF(0, 0, width, height), padding=0)

    def _title(self, i: int, text: str) -> None:
        """Set a panel title, shortened so that it fits its column."""
        text = text if len(text) <= 36 else text[:35] + "\u2026"
        if self.titles[i].text != text:
            self.titles[i].setText(text)

    def _arrange(self, panels: list[int]) -> bool:
        """Put the panels in a near-square grid (title above each) with the colorbar on the right;
        True when the arrangement changed."""
        if panels == self._panels:
            return False
        layout = self.canvas.ci
        layout.clear()
        cols = grid_columns(len(panels), self.canvas.width() / max(1, self.canvas.height()), self._image_aspect)
        for k, i in enumerate(panels):
            row, col = 2 * (k // cols), k % cols
            layout.addItem(self.titles[i], row=row, col=col)
            layout.addItem(self.boxes[i], row=row + 1, col=col)
            layout.layout.setRowStretchFactor(row, 0)
            layout.layout.setRowStretchFactor(row + 1, 1)
        for col in range(cols):
            layout.layout.setColumnStretchFactor(col, 1)
        if panels:
            layout.addItem(self.colorbar, row=0, col=cols, rowspan=2 * math.ceil(len(panels) / cols))
            layout.layout.setColumnStretchFactor(cols, 0)
        else:
            layout.addItem(self.hint, row=0, col=0)
        self._panels = list(panels)
        self.canvas.ci.setGeometry(self.canvas.range)  # the re-filled grid takes the whole canvas again
        return True

    def _draw_metrics(self) -> None:
        metric = self.metric_box.currentText()
        self.metric_plot.setLabel("left", metric)
        self.metric_plot.setTitle(f"{metric}, {self.errors_label}" if self.errors_label else None, size="9pt")
        for name in list(self.curves):
            if name not in self.history:
                self.metric_plot.removeItem(self.curves.pop(name))
        for i, (name, rows) in enumerate(self.history.items()):
            if name not in self.curves:
                self.curves[name] = self.metric_plot.plot(pen=pg.mkPen(PENS[i % len(PENS)], width=2),
                                                          symbol="o", symbolSize=4, name=shown_name(name))
            frames = np.array(sorted(rows), float)
            self.curves[name].setData(frames, np.array([rows[int(f)][metric] for f in frames], float))
        self.metric_note.setText("" if any(self.history.values()) else self._missing_errors())
        self.metric_note.setVisible(bool(self.metric_note.toPlainText()))
        self._place_note()

    def _missing_errors(self) -> str:
        """Why there are no errors over time: fewer than two models compared, or nothing to measure them against
        (errors are against ground truth, or stereo depth on a stereo source; never against another model)."""
        if self.snapshot is None:  # with two ticked: the first comparison is on its way
            return "" if len(self.checked()) >= 2 else (
                f"Errors over time: tick 2 to {MAX_MODELS} models (measured against ground truth, "
                "or stereo depth on a stereo source)")
        return ("No errors over time: the source has no ground truth and no stereo depth to measure "
                "against (a SCARED, plain or stereo source has)")

    def _place_note(self) -> None:
        """The note centred in the plot's area, wrapped to its width."""
        rect = self.metric_plot.getViewBox().boundingRect()
        self.metric_note.setTextWidth(max(50.0, rect.width() - 16))
        self.metric_note.setPos(rect.center())

    def _on_item_changed(self, _item: QtWidgets.QListWidgetItem) -> None:
        checked = self.checked()
        if len(checked) > MAX_MODELS:
            with QtCore.QSignalBlocker(self.model_list):
                _item.setCheckState(QtCore.Qt.CheckState.Unchecked)
            return
        self.models_changed.emit(checked)
