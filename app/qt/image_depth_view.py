"""Frame and colorized depth, side by side or overlaid, with a colorbar, hover readout and mask overlays."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from endodepth.pipeline.views import RANGE_POLICIES, DepthView, range_policy_factory
from endodepth.qt.depth_display import DepthColorBar
from endodepth.vis.backproject import pixel_to_point
from endodepth.vis.colormap import COLORMAPS, lut

OVERLAY_COLORS = {"fov": (0, 160, 255), "specular": (255, 255, 0)}


def image_box(layout: pg.GraphicsLayout, row: int, col: int) -> pg.ViewBox:
    """A ViewBox for images: y down, square pixels, no mouse menu."""
    box = layout.addViewBox(row=row, col=col, lockAspect=True, invertY=True, enableMenu=False)
    box.setDefaultPadding(0.0)
    return box


def mask_rgba(mask: np.ndarray, color: tuple[int, int, int], alpha: int = 110) -> np.ndarray:
    """A boolean mask as an RGBA overlay: `color` where True, transparent elsewhere."""
    out = np.zeros((*mask.shape, 4), np.uint8)
    out[mask] = (*color, alpha)
    return out


class RangeControls(QtWidgets.QWidget):
    """Colormap and range policy (per-frame, percentile, fixed numbers, global running)."""

    changed = QtCore.Signal()

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.colormap_box = QtWidgets.QComboBox(self)
        self.colormap_box.addItems(list(COLORMAPS))
        self.policy_box = QtWidgets.QComboBox(self)
        self.policy_box.addItems(list(RANGE_POLICIES))
        self.policy_box.setToolTip("How the colour range follows the depth: per-frame flickers; global/fixed do not")
        self.lo_box = QtWidgets.QDoubleSpinBox(self)
        self.hi_box = QtWidgets.QDoubleSpinBox(self)
        for box, value in ((self.lo_box, 0.0), (self.hi_box, 200.0)):
            box.setRange(-1e6, 1e6)
            box.setDecimals(3)
            box.setValue(value)
            box.setKeyboardTracking(False)
        self.lo_box.setPrefix("min ")
        self.hi_box.setPrefix("max ")
        row = QtWidgets.QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QtWidgets.QLabel("Colormap"))
        row.addWidget(self.colormap_box)
        row.addWidget(QtWidgets.QLabel("Range"))
        row.addWidget(self.policy_box)
        row.addWidget(self.lo_box)
        row.addWidget(self.hi_box)
        self.colormap_box.currentTextChanged.connect(self.changed)
        self.policy_box.currentTextChanged.connect(self._on_policy)
        self.lo_box.valueChanged.connect(self.changed)
        self.hi_box.valueChanged.connect(self.changed)
        self._on_policy(self.policy_box.currentText())

    def _on_policy(self, name: str) -> None:
        fixed = name == "fixed"
        self.lo_box.setVisible(fixed)
        self.hi_box.setVisible(fixed)
        self.changed.emit()

    def policy_factory(self):
        """Factory of the chosen core range policy (the worker's pipeline makes one per model)."""
        lo, hi = self.lo_box.value(), self.hi_box.value()
        return range_policy_factory(self.policy_box.currentText(), lo, max(hi, lo + 1e-6))

    @property
    def colormap_name(self) -> str:
        return self.colormap_box.currentText()

    def options(self) -> dict:
        return {
            "colormap": self.colormap_box.currentText(),
            "range": self.policy_box.currentText(),
            "fixed": [self.lo_box.value(), self.hi_box.value()],
        }

    def set_options(self, options: dict) -> None:
        if options.get("colormap") in COLORMAPS:
            self.colormap_box.setCurrentText(options["colormap"])
        if options.get("range") in RANGE_POLICIES:
            self.policy_box.setCurrentText(options["range"])
        lo, hi = options.get("fixed", (self.lo_box.value(), self.hi_box.value()))
        self.lo_box.setValue(float(lo))
        self.hi_box.setValue(float(hi))


class ImageDepthView(QtWidgets.QWidget):
    """Shows a frame and the worker's colorized depth; `hovered` carries the readout under the cursor.

    Colormap and range choices are forwarded (`ranges.changed`): the worker colorizes, the view draws.
    """

    hovered = QtCore.Signal(str)
    specular_toggled = QtCore.Signal(bool)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.ranges = RangeControls(self)
        self.mode_box = QtWidgets.QComboBox(self)
        self.mode_box.addItems(["side by side", "overlay"])
        self.opacity_slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal, self)
        self.opacity_slider.setRange(0, 100)
        self.opacity_slider.setValue(60)
        self.opacity_slider.setMaximumWidth(120)
        self.opacity_slider.setToolTip("Opacity of the depth over the image (overlay mode)")
        self.fov_box = QtWidgets.QCheckBox("FOV mask", self)
        self.specular_box = QtWidgets.QCheckBox("Specular", self)
        self.uncertainty_box = QtWidgets.QCheckBox("Uncertainty", self)
        self.uncertainty_box.setEnabled(False)
        self.uncertainty_box.setToolTip("Shown when the model gives an uncertainty (e.g. MC-dropout)")
        self.readout = QtWidgets.QLabel(" ", self)
        self.readout.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        self.route_label = QtWidgets.QLabel("", self)
        self.route_label.setToolTip("The metric head the model's router chose for this frame, and its probabilities")
        self.route_label.hide()

        self.canvas = pg.GraphicsLayoutWidget(self)
        layout = self.canvas.ci
        self.image_box = image_box(layout, 0, 0)
        self.depth_box = image_box(layout, 0, 1)
        self.depth_box.setXLink(self.image_box)
        self.depth_box.setYLink(self.image_box)
        self.colorbar = DepthColorBar(14)
        layout.addItem(self.colorbar, row=0, col=2)
        self.image_item = pg.ImageItem(axisOrder="row-major")
        self.depth_item = pg.ImageItem(axisOrder="row-major")
        self.overlay_item = pg.ImageItem(axisOrder="row-major")
        self.fov_item = pg.ImageItem(axisOrder="row-major")
        self.specular_item = pg.ImageItem(axisOrder="row-major")
        self.uncertainty_item = pg.ImageItem(axisOrder="row-major")
        self.image_box.addItem(self.image_item)
        self.image_box.addItem(self.overlay_item)
        for item in (self.fov_item, self.specular_item):
            self.image_box.addItem(item)
        self.depth_box.addItem(self.depth_item)
        self.depth_box.addItem(self.uncertainty_item)
        self.uncertainty_item.setOpacity(0.6)

        colouring = QtWidgets.QHBoxLayout()  # two rows, so that the dock can be narrow
        colouring.addWidget(self.ranges)
        colouring.addStretch(1)
        overlays = QtWidgets.QHBoxLayout()
        overlays.addWidget(self.mode_box)
        overlays.addWidget(self.opacity_slider)
        for w in (self.fov_box, self.specular_box, self.uncertainty_box):
            overlays.addWidget(w)
        overlays.addStretch(1)
        column = QtWidgets.QVBoxLayout(self)
        column.setContentsMargins(2, 2, 2, 2)
        column.addLayout(colouring)
        column.addLayout(overlays)
        column.addWidget(self.canvas, 1)
        column.addWidget(self.route_label)
        column.addWidget(self.readout)

        self._view: DepthView | None = None
        self.mode_box.currentTextChanged.connect(self._apply_mode)
        self.opacity_slider.valueChanged.connect(lambda v: self.overlay_item.setOpacity(v / 100.0))
        for box in (self.fov_box, self.uncertainty_box):
            box.toggled.connect(self._redraw)
        self.specular_box.toggled.connect(self.specular_toggled)
        self.specular_box.toggled.connect(self._redraw)
        self.canvas.scene().sigMouseMoved.connect(self._on_mouse)
        self.overlay_item.setOpacity(0.6)
        self._apply_mode(self.mode_box.currentText())

    def show_depth(self, view: DepthView) -> None:
        """Draw a frame and its colorized depth (as the worker coloured it), each image stretched
        over the frame's rectangle (the worker's display grid is scaled on screen)."""
        old = self._view
        first = old is None or (old.rgb.shape, old.step) != (view.rgb.shape, view.step)
        self._view = view
        self.uncertainty_box.setEnabled(view.uncertainty is not None)
        self.route_label.setText(view.route_note)
        self.route_label.setVisible(bool(view.route_note))
        self._redraw()
        if first:
            self._place(self._items())
            self.image_box.autoRange(padding=0)

    def _items(self) -> tuple[pg.ImageItem, ...]:
        return (self.image_item, self.depth_item, self.overlay_item, self.fov_item, self.specular_item,
                self.uncertainty_item)

    def _place(self, items) -> None:
        """Stretch each shown image over the frame's rectangle in frame pixels (so the readout and
        the view's range are in the frame's pixels whatever the grid)."""
        view = self._view
        height, width = view.rgb.shape[:2]
        rect = QtCore.QRectF(0, 0, width * view.step, height * view.step)
        for item in items:
            if item.image is not None:
                item.setRect(rect)

    def clear(self) -> None:
        """Forget the current file."""
        self._view = None
        self.route_label.hide()
        for item in self._items():
            item.clear()

    def options(self) -> dict:
        return {**self.ranges.options(), "mode": self.mode_box.currentText(),
                "opacity": self.opacity_slider.value(), "fov": self.fov_box.isChecked(),
                "specular": self.specular_box.isChecked()}

    def set_options(self, options: dict) -> None:
        self.ranges.set_options(options)
        if options.get("mode") in ("side by side", "overlay"):
            self.mode_box.setCurrentText(options["mode"])
        self.opacity_slider.setValue(int(options.get("opacity", self.opacity_slider.value())))
        self.fov_box.setChecked(bool(options.get("fov", False)))
        self.specular_box.setChecked(bool(options.get("specular", False)))

    def _redraw(self) -> None:
        view = self._view
        if view is None:
            return
        self._show(self.image_item, view.rgb)
        if view.colors is not None:
            self._show(self.depth_item, view.colors)
            self._show(self.overlay_item, view.colors)
        self.colorbar.show_depth(self.ranges.colormap_name, view.levels, view.unit)
        self._set_mask(self.fov_item, self.fov_box.isChecked(), None if view.fov is None else ~view.fov, "fov")
        self._set_mask(self.specular_item, self.specular_box.isChecked(), view.specular, "specular")
        show_unc = self.uncertainty_box.isChecked() and view.uncertainty is not None
        self.uncertainty_item.setVisible(show_unc)
        if show_unc:
            self._show(self.uncertainty_item, view.uncertainty, levels=(0, view.uncertainty_top), lut=lut("gray"))

    def _show(self, item: pg.ImageItem, image: np.ndarray, **options) -> None:
        """setImage (uint8 RGB as it is unless `options` say otherwise), placing the item over the
        frame again when the image's shape changed."""
        before = None if item.image is None else item.image.shape[:2]
        item.setImage(image, autoLevels=False, **{"levels": None, **options})
        if before != image.shape[:2]:
            self._place([item])

    def _set_mask(self, item: pg.ImageItem, show: bool, mask: np.ndarray | None, kind: str) -> None:
        item.setVisible(show and mask is not None)
        if show and mask is not None:
            self._show(item, mask_rgba(mask, OVERLAY_COLORS[kind]))

    def _apply_mode(self, mode: str) -> None:
        layout = self.canvas.ci
        overlay = mode == "overlay"
        self.overlay_item.setVisible(overlay)
        self.opacity_slider.setEnabled(overlay)
        if overlay and self.depth_box in layout.items:
            layout.removeItem(self.depth_box)
            self.depth_box.setVisible(False)
        elif not overlay and self.depth_box not in layout.items:
            layout.removeItem(self.colorbar)
            layout.addItem(self.depth_box, row=0, col=1)
            layout.addItem(self.colorbar, row=0, col=2)
            self.depth_box.setVisible(True)

    def _on_mouse(self, pos) -> None:
        view = self._view
        if view is None:
            return
        for box in (self.image_box, self.depth_box):
            if box.isVisible() and box.sceneBoundingRect().contains(pos):
                p = box.mapSceneToView(pos)
                u, v = int(np.floor(p.x())), int(np.floor(p.y()))
                width, height = view.size
                if 0 <= u < width and 0 <= v < height:
                    self._report(u, v)
                    return
        self.readout.setText(" ")

    def _report(self, u: int, v: int) -> None:
        view = self._view
        z = view.depth_at(u, v)
        if not np.isfinite(z):
            text = f"(u={u}, v={v})  no depth"
        else:
            x, y, zz = pixel_to_point(u, v, z, view.K)
            text = (f"(u={u}, v={v})  depth {z:.4g} {view.unit}   "
                    f"X,Y,Z = ({x:.4g}, {y:.4g}, {zz:.4g}) {view.unit}{view.K_note}")
        self.readout.setText(text)
        self.hovered.emit(text)
