"""Live 3D point cloud (pyqtgraph.opengl) back-projected with the frame's K, with a point budget and a Measure tool."""

from __future__ import annotations

import time
from collections import deque
from pathlib import Path

import numpy as np
import pyqtgraph.opengl as gl
from pyqtgraph.opengl.GLViewWidget import GLViewMixin
from PySide6 import QtCore, QtGui, QtOpenGL, QtWidgets

from endodepth.io.measurements import Measurement, measurement_from_dict, write_measurements_csv
from endodepth.pipeline.views import ACCUMULATED_FRAMES, DepthView
from endodepth.vis.backproject import stride_for_budget
from endodepth.vis.camera import camera_fit, to_display

DEFAULT_BUDGET = 30_000  # software OpenGL (no GPU) draws this many points in ~10 ms; raise it with a GPU
PICK_RADIUS_PX = 25.0
VIEW_ELEVATION, VIEW_AZIMUTH = 20.0, 30.0  # degrees off the endoscope's axis for the initial view


class PickingGLView(GLViewMixin, QtOpenGL.QOpenGLWindow):
    """pyqtgraph's GL view as a native window (shown through `container()`), reporting Shift+clicks
    (pixel position) instead of orbiting.

    A QOpenGLWidget would make Qt compose the whole main window through OpenGL on every repaint;
    with software OpenGL (no GPU) that stalled the GUI thread by 100-800 ms. A window of its own
    leaves the rest of the main window on the cheap raster path.
    """

    picked = QtCore.Signal(float, float)
    gl_error: str | None = None
    paint_ms: deque | None = None  # when set, each paint's milliseconds are appended

    def devicePixelRatioF(self) -> float:
        return float(self.devicePixelRatio())

    def container(self, parent: QtWidgets.QWidget) -> QtWidgets.QWidget:
        """The widget that holds this window inside `parent`'s layout."""
        widget = QtWidgets.QWidget.createWindowContainer(self, parent)
        widget.setMinimumSize(200, 150)
        widget.setFocusPolicy(QtCore.Qt.FocusPolicy.ClickFocus)
        return widget

    def initializeGL(self) -> None:
        """Without a usable OpenGL (e.g. Qt's offscreen platform) the view stays blank instead of failing."""
        try:
            super().initializeGL()
        except RuntimeError as exc:
            self.gl_error = str(exc)

    def paintGL(self, *args, **kwargs) -> None:
        if self.gl_error is None:
            start = time.perf_counter()
            super().paintGL(*args, **kwargs)
            if self.paint_ms is not None:
                self.paint_ms.append(1e3 * (time.perf_counter() - start))

    def mousePressEvent(self, ev: QtGui.QMouseEvent) -> None:
        shift = ev.modifiers() & QtCore.Qt.KeyboardModifier.ShiftModifier
        if shift and ev.button() == QtCore.Qt.MouseButton.LeftButton:
            pos = ev.position()
            self.picked.emit(pos.x(), pos.y())
            ev.accept()
            return
        super().mousePressEvent(ev)

    def _mvp(self) -> tuple[np.ndarray, int, int]:
        """The projection times view matrix (4x4, display coordinates to clip space) and the view's size."""
        w, h = max(1, self.width()), max(1, self.height())
        viewport = (0, 0, w, h)
        mvp = self.projectionMatrix(viewport, viewport) * self.viewMatrix()
        return np.array(mvp.data(), dtype=np.float64).reshape(4, 4).T, w, h

    def project(self, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Widget pixel coordinates (N, 2) of display points and whether each is in front of the camera."""
        m, w, h = self._mvp()
        clip = np.c_[pos, np.ones(len(pos))] @ m.T
        front = clip[:, 3] > 1e-9
        ndc = clip[:, :2] / np.where(front, clip[:, 3], 1.0)[:, None]
        xy = np.stack([(ndc[:, 0] + 1) * 0.5 * w, (1 - ndc[:, 1]) * 0.5 * h], axis=1)
        return xy, front

    def ray(self, x: float, y: float) -> tuple[np.ndarray, np.ndarray]:
        """Origin (on the near plane) and unit direction, in display coordinates, of the ray through pixel (x, y)."""
        m, w, h = self._mvp()
        ndc = (2.0 * x / w - 1.0, 1.0 - 2.0 * y / h)
        near, far = (np.linalg.solve(m, [*ndc, z, 1.0]) for z in (-1.0, 1.0))
        near, far = near[:3] / near[3], far[:3] / far[3]
        return near, (far - near) / np.linalg.norm(far - near)


class PointCloudView(QtWidgets.QWidget):
    """Draws the worker's back-projected cloud; Shift+click picks points for 3D distances (listed, exportable).

    `budget_changed` asks the worker for another point budget (it chooses the stride).
    """

    measurements_changed = QtCore.Signal()
    budget_changed = QtCore.Signal(int)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        # Created as the child of a placeholder so that Python does not own it: the container
        # takes it over and deletes it (a Python-owned one would be deleted twice).
        self._gl_parent = QtGui.QWindow()
        self.gl_view = PickingGLView(parent=self._gl_parent)
        self.gl_view.setBackgroundColor((18, 18, 22))
        self.gl_container = self.gl_view.container(self)
        self.scatter = gl.GLScatterPlotItem(pos=np.zeros((0, 3), np.float32), size=3.0, pxMode=True)
        self.scatter.setGLOptions("opaque")
        self.gl_view.addItem(self.scatter)
        self.pick_marks = gl.GLScatterPlotItem(pos=np.zeros((0, 3), np.float32), size=10.0,
                                               color=(1.0, 0.2, 0.8, 1.0), pxMode=True)
        self.pick_marks.setGLOptions("translucent")
        self.pick_line = gl.GLLinePlotItem(pos=np.zeros((0, 3), np.float32), color=(1.0, 0.2, 0.8, 1.0),
                                           width=2.0, mode="lines")
        self.gl_view.addItem(self.pick_line)
        self.gl_view.addItem(self.pick_marks)
        self.pick_line.setVisible(False)
        self.pick_marks.setVisible(False)

        self.color_box = QtWidgets.QComboBox(self)
        self.color_box.addItems(["image colours", "depth colours"])
        self.budget_box = QtWidgets.QSpinBox(self)
        self.budget_box.setRange(1_000, 2_000_000)
        self.budget_box.setSingleStep(10_000)
        self.budget_box.setValue(DEFAULT_BUDGET)
        self.budget_box.setSuffix(" pts")
        self.budget_box.setToolTip(
            "Point budget: the pixel stride is chosen so that at most this many points are drawn"
        )
        self.accumulate_box = QtWidgets.QCheckBox("Accumulate (poses)", self)
        self.accumulate_box.setToolTip(
            f"Keep the last {ACCUMULATED_FRAMES} frames in keyframe coordinates when the source gives camera poses"
        )
        self.accumulate_box.setEnabled(False)
        self.reset_button = QtWidgets.QPushButton("Reset view", self)
        self.info = QtWidgets.QLabel(" ", self)
        self.info.setWordWrap(True)

        self.table = QtWidgets.QTableWidget(0, 3, self)
        self.table.setHorizontalHeaderLabels(["frame", "distance", "unit"])
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.verticalHeader().setVisible(False)
        self.table.setMaximumHeight(84)
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.export_button = QtWidgets.QPushButton("Export CSV...", self)
        self.clear_button = QtWidgets.QPushButton("Clear", self)

        controls = QtWidgets.QHBoxLayout()
        for w in (self.color_box, self.budget_box, self.accumulate_box, self.reset_button):
            controls.addWidget(w)
        controls.addStretch(1)
        measure_buttons = QtWidgets.QVBoxLayout()
        measure_buttons.addWidget(QtWidgets.QLabel("Measure:\nShift+click\ntwo points"))
        measure_buttons.addWidget(self.export_button)
        measure_buttons.addWidget(self.clear_button)
        measure_buttons.addStretch(1)
        measure = QtWidgets.QHBoxLayout()
        measure.addWidget(self.table, 1)
        measure.addLayout(measure_buttons)
        column = QtWidgets.QVBoxLayout(self)
        column.setContentsMargins(2, 2, 2, 2)
        column.addLayout(controls)
        column.addWidget(self.gl_container, 1)
        column.addWidget(self.info)
        column.addLayout(measure)

        self.points = np.zeros((0, 3), np.float32)
        self.stride = 1
        self.unit = "relative"
        self.measurements: list[Measurement] = []
        self._pending: np.ndarray | None = None
        self._history: deque = deque(maxlen=ACCUMULATED_FRAMES)
        self._frame_index = 0
        self._needs_reset = True
        self._view: DepthView | None = None

        self.reset_button.clicked.connect(self.reset_view)
        self.gl_view.picked.connect(self.pick_at)
        self.export_button.clicked.connect(self._export_dialog)
        self.clear_button.clicked.connect(self.clear_measurements)
        self.color_box.currentIndexChanged.connect(self._rebuild)
        self.budget_box.valueChanged.connect(self.budget_changed)
        self.accumulate_box.toggled.connect(lambda _: (self._history.clear(), self._rebuild()))

    def show_depth(self, view: DepthView) -> None:
        """Draw a frame's cloud (by depth in the image view's colours, or in the image's)."""
        self._view = view
        self.accumulate_box.setEnabled(view.pose is not None)
        self._rebuild()

    def clear(self) -> None:
        """New file: no points, camera reset on the next frame, measurements kept."""
        self._view = None
        self._history.clear()
        self._needs_reset = True
        self._pending = None
        self.points = np.zeros((0, 3), np.float32)
        self.scatter.setData(pos=self.points)
        self._draw_picks()

    def _rebuild(self) -> None:
        """Show the worker's cloud as it prepared it (colours, GL axes, keyframe coordinates)."""
        view = self._view
        if view is None or view.points is None:
            return
        self.stride = stride_for_budget(*view.size[::-1], self.budget_box.value())
        points, shown = view.points, view.display_points
        by_depth = self.color_box.currentIndex() == 1 or view.point_rgba is None
        rgba = view.point_depth_rgba if by_depth else view.point_rgba
        if rgba is None:
            rgba = np.ones((len(points), 4), np.float32)
        if self.accumulate_box.isChecked() and view.keyframe_points is not None:
            # every ACCUMULATED_FRAMES-th point of each frame: the accumulated cloud stays within the budget
            self._history.append((*view.keyframe_points, rgba[::ACCUMULATED_FRAMES]))
            points, shown, rgba = (np.concatenate(parts) for parts in zip(*self._history, strict=True))
        self._frame_index = view.index
        self.points, self.unit = points, view.unit
        self.scatter.setData(pos=shown, color=rgba)
        note = "" if not view.K_assumed else "  K assumed (default FOV: fx=0.82W, fy=1.02H)"
        self.info.setText(f"{len(points):,} points, stride {self.stride}, units: {view.unit}{note}")
        if self._needs_reset and len(points):
            self.reset_view()

    def reset_view(self) -> None:
        """Orbit a little away from the endoscope's viewpoint (so the relief shows at once), at its
        distance from the tissue and with a field of view that fits the cloud."""
        self._needs_reset = False
        if not len(self.points):
            return
        aspect = self.gl_view.width() / max(1, self.gl_view.height())
        centre, distance, fov = camera_fit(self.points, aspect, margin=1.35)
        self.gl_view.opts["center"] = QtGui.QVector3D(*map(float, to_display(centre[None])[0]))
        self.gl_view.opts["fov"] = fov
        self.gl_view.setCameraPosition(distance=distance, elevation=VIEW_ELEVATION, azimuth=-90.0 + VIEW_AZIMUTH)

    def pick_at(self, x: float, y: float) -> np.ndarray | None:
        """Pick the drawn point nearest to widget pixel (x, y); every second pick completes a measurement."""
        if not len(self.points):
            return None
        xy, front = self.gl_view.project(to_display(self.points))
        d2 = np.where(front, ((xy - (x, y)) ** 2).sum(axis=1), np.inf)
        i = int(np.argmin(d2))
        if d2[i] > PICK_RADIUS_PX ** 2:
            return None
        point = self.points[i].astype(np.float64)
        if self._pending is None:
            self._pending = point
        else:
            self.add_measurement(Measurement(self._frame_index, tuple(self._pending), tuple(point), self.unit))
            self._pending = None
        self._draw_picks()
        return point

    def add_measurement(self, m: Measurement) -> None:
        self.measurements.append(m)
        row = self.table.rowCount()
        self.table.insertRow(row)
        for col, text in enumerate((str(m.frame), f"{m.distance:.4g}", m.unit)):
            self.table.setItem(row, col, QtWidgets.QTableWidgetItem(text))
        self._draw_picks()
        self.measurements_changed.emit()

    def set_measurements(self, items: list[dict]) -> None:
        """Restore measurements from a session."""
        self.clear_measurements()
        for item in items:
            self.add_measurement(measurement_from_dict(item))

    def clear_measurements(self) -> None:
        self.measurements.clear()
        self._pending = None
        self.table.setRowCount(0)
        self._draw_picks()
        self.measurements_changed.emit()

    def export_csv(self, path: str | Path) -> Path:
        """Write the measurements as CSV (atomically)."""
        return write_measurements_csv(path, self.measurements)

    def options(self) -> dict:
        return {"color": self.color_box.currentIndex(), "budget": self.budget_box.value(),
                "accumulate": self.accumulate_box.isChecked()}

    def set_options(self, options: dict) -> None:
        self.color_box.setCurrentIndex(int(options.get("color", 0)))
        self.budget_box.setValue(int(options.get("budget", DEFAULT_BUDGET)))
        self.accumulate_box.setChecked(bool(options.get("accumulate", False)))

    def _draw_picks(self) -> None:
        ends = [p for m in self.measurements[-20:] for p in (m.a, m.b)]
        marks = ends + ([tuple(self._pending)] if self._pending is not None else [])
        marks_arr = np.asarray(marks, np.float32).reshape(-1, 3)
        self.pick_marks.setData(pos=to_display(marks_arr))
        self.pick_marks.setVisible(len(marks_arr) > 0)
        self.pick_line.setData(pos=to_display(np.asarray(ends, np.float32).reshape(-1, 3)))
        self.pick_line.setVisible(len(ends) > 0)

    def _export_dialog(self) -> None:
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Export measurements", "measurements.csv", "CSV (*.csv)")
        if path:
            self.export_csv(path)
