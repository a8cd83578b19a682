"""The "Reconstruction" dock: fuse the frames the video plays into a mesh that grows live (LiveFusion does the
work on its own thread; this widget only forwards frames and draws snapshots a few times a second)."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
import pyqtgraph.opengl as gl
from pyqtgraph.opengl import shaders
from PySide6 import QtCore, QtGui, QtWidgets

from endodepth.errors import EndoDepthError
from endodepth.geometry.depth_scale import choose_scaling
from endodepth.geometry.fusion import FusionSettings, MeshArrays, write_mesh
from endodepth.geometry.odometry import AUTO, resolve_pose_mode
from endodepth.geometry.reconstruction import LiveFusion, Reconstruction
from endodepth.qt.point_cloud_view import PickingGLView
from endodepth.vis.camera import from_display, orbit_fit, to_display
from endodepth.vis.colormap import colorize

REFRESH_MS = 300  # the mesh is redrawn at about 3 Hz
ASSUMED_DEPTH_MM = 50.0  # relative depth without ground truth: the clip's first frames are set to this median
VIEW_FOV = 45.0  # degrees, horizontal
AMBIENT = 0.35  # the share of a vertex colour a surface keeps when it is seen edge-on

# A headlight: the light sits at the viewer, so what faces the viewer is lit at its full colour whichever way one
# orbits, and both sides of the surface are lit (pyqtgraph's "shaded" lights from a fixed direction behind the
# scene, which leaves a surface facing the viewer at a fifth of its colour: drawn dark).
HEADLIGHT = shaders.ShaderProgram("endodepth-headlight", [
    shaders.VertexShader("""
        uniform mat4 u_mvp;
        uniform mat3 u_normal;
        attribute vec4 a_position;
        attribute vec3 a_normal;
        attribute vec4 a_color;
        varying vec4 v_color;
        varying vec3 v_normal;
        void main() {
            v_normal = normalize(u_normal * a_normal);
            v_color = a_color;
            gl_Position = u_mvp * a_position;
        }
    """),
    shaders.FragmentShader(f"""
        #ifdef GL_ES
        precision mediump float;
        #endif
        varying vec4 v_color;
        varying vec3 v_normal;
        void main() {{
            float facing = abs(normalize(v_normal).z);
            gl_FragColor = vec4(v_color.rgb * ({AMBIENT} + {1 - AMBIENT} * facing), v_color.a);
        }}
    """),
])


def mesh_colors(mesh: MeshArrays, by_depth: bool, colormap: str = "turbo") -> np.ndarray:
    """RGBA (V, 4) float colours of the vertices: the fused image colour, or depth (z of the first camera)."""
    rgba = np.ones((len(mesh.vertices), 4), np.float32)
    if by_depth and len(mesh.vertices):
        z = mesh.vertices[None, :, 2]
        lo, hi = np.percentile(z, [2, 98])
        rgba[:, :3] = colorize(z, colormap, float(lo), float(hi))[0] / 255.0
    else:
        rgba[:, :3] = mesh.colors
    return rgba


class ReconstructionView(QtWidgets.QWidget):
    """Start/stop fusing, the live mesh and camera path, colouring, Export mesh..., Shift+click distances."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self._gl_parent = QtGui.QWindow()  # the container owns the GL window (see PointCloudView)
        self.gl_view = PickingGLView(parent=self._gl_parent)
        self.gl_view.setBackgroundColor((18, 18, 22))
        self.gl_container = self.gl_view.container(self)
        self.mesh_item = gl.GLMeshItem(smooth=True, shader=HEADLIGHT, glOptions="opaque")
        self.mesh_item.setVisible(False)
        self.path_item = gl.GLLinePlotItem(pos=np.zeros((0, 3), np.float32), color=(1.0, 0.85, 0.1, 1.0),
                                           width=2.5, mode="line_strip")
        self.camera_marks = gl.GLScatterPlotItem(pos=np.zeros((0, 3), np.float32), size=6.0,
                                                 color=(1.0, 0.85, 0.1, 1.0), pxMode=True)
        self.pick_item = gl.GLLinePlotItem(pos=np.zeros((0, 3), np.float32), color=(1.0, 0.2, 0.8, 1.0),
                                           width=3.0, mode="lines")
        self.pick_marks = gl.GLScatterPlotItem(pos=np.zeros((0, 3), np.float32), size=9.0, color=(1.0, 0.2, 0.8, 1.0),
                                               pxMode=True)
        for marks in (self.camera_marks, self.pick_marks):
            marks.setGLOptions("translucent")  # the default, additive, turns yellow on blue into white
        for item in (self.mesh_item, self.path_item, self.camera_marks, self.pick_item, self.pick_marks):
            self.gl_view.addItem(item)

        self.start_button = QtWidgets.QPushButton("Start fusing", self)
        self.start_button.setCheckable(True)
        self.start_button.setToolTip("Fuse every frame the video shows from now on into one surface")
        self.color_box = QtWidgets.QComboBox(self)
        self.color_box.addItems(["image colours", "depth colours"])
        self.voxel_box = QtWidgets.QDoubleSpinBox(self)
        self.voxel_box.setRange(0.2, 10.0)
        self.voxel_box.setSingleStep(0.5)
        self.voxel_box.setValue(1.0)
        self.voxel_box.setSuffix(" mm voxel")
        self.export_button = QtWidgets.QPushButton("Export mesh...", self)
        self.reset_button = QtWidgets.QPushButton("Reset view", self)
        self.status = QtWidgets.QLabel("Press Start fusing and play the video.", self)
        self.status.setWordWrap(True)
        self.measure_label = QtWidgets.QLabel("Measure: Shift+click two surface points", self)

        controls = QtWidgets.QHBoxLayout()
        for w in (self.start_button, self.color_box, self.voxel_box, self.export_button, self.reset_button):
            controls.addWidget(w)
        controls.addStretch(1)
        column = QtWidgets.QVBoxLayout(self)
        column.setContentsMargins(2, 2, 2, 2)
        column.addLayout(controls)
        column.addWidget(self.gl_container, 1)
        column.addWidget(self.status)
        column.addWidget(self.measure_label)

        self.live: LiveFusion | None = None
        self.mesh = MeshArrays(np.zeros((0, 3), np.float32), np.zeros((0, 3), np.int32), np.zeros((0, 3), np.float32))
        self.path = np.zeros((0, 3))
        self.normals = np.zeros((0, 3), np.float32)
        self.picks: list[np.ndarray] = []
        self.distances: list[float] = []
        self._version = 0
        self._generation: int | None = None
        self._offered: set[int] = set()  # frame numbers fused since Start
        self._closed = False  # the window is closing: results still queued are not fused
        self._describe = ""
        self._needs_reset = True
        self._fitted: tuple | None = None  # the camera reset_view chose last
        self.timer = QtCore.QTimer(self)
        self.timer.setInterval(REFRESH_MS)
        self.timer.timeout.connect(self.refresh)

        self.start_button.toggled.connect(self.set_fusing)
        self.color_box.currentIndexChanged.connect(lambda _: self._draw_mesh())
        self.export_button.clicked.connect(self._export_dialog)
        self.reset_button.clicked.connect(self.reset_view)
        self.gl_view.picked.connect(self.pick_at)

    # --- driven by the window ---------------------------------------------------------------

    @QtCore.Slot(object)
    def offer_update(self, update) -> None:
        """Forward a worker result (its primary model's depth at the frame's resolution) to the fusion while
        fusing; cheap and non-blocking. Frames whose ground truth is still being read come again when it
        arrives (the worker's `gt_arrived`)."""
        result = update.result
        if self._closed or not self.start_button.isChecked():
            return
        if update.primary not in result.results or update.gt_pending:
            return
        if self._generation is not None and update.generation != self._generation:
            self.start_button.setChecked(False)  # another file or model: this reconstruction is finished
            return
        self._generation = update.generation
        # upsampled to the frame on the fusion thread, not here
        self.offer(result.frame, partial(result.full_output, update.primary), result.results[update.primary].kind)

    def offer(self, frame, depth, kind: str) -> None:
        """Fuse `frame` with `depth` of `kind` (an array, or a callable that returns it); the first frame
        offered after Start sets up the reconstruction. Each frame is fused once: shown again (a loop, a
        step back) it is passed over."""
        if frame.index in self._offered:
            return
        self._offered.add(frame.index)
        if self.live is None:
            try:
                self.live = self._start(frame, kind)
            except EndoDepthError as exc:
                self.status.setText(str(exc))
                self.start_button.setChecked(False)
                return
        self.live.offer(frame, depth)

    def _start(self, frame, kind: str) -> LiveFusion:
        has_gt = frame.gt_depth is not None
        scaling = choose_scaling(kind, has_gt, frame.source or "frame", ASSUMED_DEPTH_MM)
        pose_mode = resolve_pose_mode(AUTO, frame.pose is not None, frame.source or "frame")
        settings = FusionSettings(voxel_mm=self.voxel_box.value())
        recon = Reconstruction(frame.K, frame.size, scaling, pose_mode, settings)
        self._describe = f"poses: {pose_mode}; depth: {scaling.description}"
        self.voxel_box.setEnabled(False)
        self._needs_reset = True
        return LiveFusion(recon)

    def set_fusing(self, on: bool) -> None:
        """Start a new reconstruction (the old mesh is replaced) or stop the current one (its mesh stays)."""
        self.start_button.setText("Stop fusing" if on else "Start fusing")
        if on:
            self.live, self._generation, self._version = None, None, 0
            self._offered.clear()
            self.clear_measurements()
            self.timer.start()
            self.status.setText("Fusing: play the video...")
        elif self.live is not None:
            self.live.stop()
            self.refresh()
            self.timer.stop()
            self.voxel_box.setEnabled(True)

    def refresh(self) -> None:
        """Draw the newest snapshot when there is one (called by the timer)."""
        if self.live is None:
            return
        if self.live.error:
            self.status.setText(self.live.error)
        snap = self.live.snapshot()
        if snap is None or snap.version == self._version:
            return
        self._version = snap.version
        self.show_mesh(snap.mesh, snap.path, snap.normals)
        counts = self.live.reconstruction.counts
        self.status.setText(f"{counts.summary()} frames, {len(self.mesh):,} triangles; {self._describe}"
                            + (f"; {self.live.dropped} frames dropped (fusion busy)" if self.live.dropped else ""))
        if len(self.mesh) and (self._needs_reset or self._camera() == self._fitted):
            self.reset_view()  # the view follows the growing mesh until the user orbits or zooms

    def show_mesh(self, mesh: MeshArrays, path: np.ndarray, normals: np.ndarray | None = None) -> None:
        """Draw `mesh` (mm, first fused camera) and the camera path; the normals are computed when not given."""
        self.mesh, self.path = mesh, np.asarray(path, np.float64).reshape(-1, 3)
        self.normals = mesh.vertex_normals() if normals is None else normals
        self._draw_mesh()
        self._draw_path()

    def _draw_mesh(self) -> None:
        self.mesh_item.setVisible(len(self.mesh) > 0)
        if not len(self.mesh):
            return
        colors = mesh_colors(self.mesh, self.color_box.currentIndex() == 1)
        data = gl.MeshData(vertexes=to_display(self.mesh.vertices), faces=self.mesh.triangles, vertexColors=colors)
        # pyqtgraph would compute the normals in a Python loop over the vertices: hand it numpy's instead
        data._vertexNormals = to_display(self.normals)
        self.mesh_item.setMeshData(meshdata=data, smooth=True, shader=HEADLIGHT)

    def _draw_path(self) -> None:
        """The fused cameras' centres joined in order: a line, and a dot at each camera."""
        path = to_display(np.asarray(self.path, np.float32).reshape(-1, 3))
        self.path_item.setData(pos=path)
        self.camera_marks.setData(pos=path)

    def reset_view(self) -> None:
        """Look at the mesh and the camera path from the first camera's side, above and a little to the left so
        the relief shows, from far enough away that both fit in the view."""
        self._needs_reset = False
        if not len(self.mesh.vertices):
            return
        aspect = self.gl_view.width() / max(1, self.gl_view.height())
        centre, distance = orbit_fit(np.vstack([self.mesh.vertices, np.repeat(self.path, 50, axis=0)]), aspect,
                                     VIEW_FOV)
        self.gl_view.opts["center"] = QtGui.QVector3D(*map(float, to_display(centre[None].astype(np.float32))[0]))
        self.gl_view.opts["fov"] = VIEW_FOV
        self.gl_view.setCameraPosition(distance=distance, elevation=25.0, azimuth=-110.0)
        self._fitted = self._camera()

    def _camera(self) -> tuple:
        """Where the view's camera is now (centre, distance, angles): to tell whether the user moved it."""
        o = self.gl_view.opts
        centre = o["center"]
        return (centre.x(), centre.y(), centre.z(), float(o["distance"]), float(o["azimuth"]), float(o["elevation"]))

    # --- measuring and export -------------------------------------------------------------

    def pick_at(self, x: float, y: float) -> np.ndarray | None:
        """The surface point (mm) under pixel (x, y): where the view's ray through it first meets the mesh, so a
        fold in front hides what lies behind it; every second pick measures the distance to the one before."""
        origin, direction = self.gl_view.ray(x, y)
        point = self.mesh.first_hit(from_display(origin)[0], from_display(direction)[0])
        return None if point is None else self.add_pick(point)

    def add_pick(self, point: np.ndarray) -> np.ndarray:
        """One picked surface point (mm); a pair becomes a measurement."""
        self.picks.append(np.asarray(point, np.float64))
        if len(self.picks) % 2 == 0:
            self.distances.append(float(np.linalg.norm(self.picks[-1] - self.picks[-2])))
            self.measure_label.setText("Distances (mm): " + ", ".join(f"{d:.2f}" for d in self.distances[-8:]))
        else:
            self.measure_label.setText("Measure: Shift+click the second point")
        self._draw_picks()
        return point

    def _draw_picks(self) -> None:
        points = np.array(self.picks, np.float32).reshape(-1, 3)
        self.pick_marks.setData(pos=to_display(points))
        self.pick_item.setData(pos=to_display(points[: len(points) // 2 * 2]))

    def clear_measurements(self) -> None:
        self.picks.clear()
        self.distances.clear()
        self._draw_picks()
        self.measure_label.setText("Measure: Shift+click two surface points")

    def export_mesh(self, path: str | Path) -> Path:
        """Write the current mesh (PLY or OBJ by suffix; first fused frame's camera coordinates, mm)."""
        if not len(self.mesh):
            raise EndoDepthError("no mesh to export yet: start fusing and play the video")
        return write_mesh(path, self.mesh)

    def _export_dialog(self) -> None:
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Export mesh", "reconstruction.ply",
                                                        "Meshes (*.ply *.obj)")
        if path:
            try:
                self.status.setText(f"wrote {self.export_mesh(path)}")
            except EndoDepthError as exc:
                self.status.setText(str(exc))

    def summary(self) -> dict:
        """What the dock holds now, for --stats-out: frames fused, mesh size, cameras on the path."""
        fused = self.live.reconstruction.counts.fused if self.live is not None else 0
        return {"fused_frames": fused, "triangles": len(self.mesh), "vertices": len(self.mesh.vertices),
                "cameras": len(self.path)}

    def options(self) -> dict:
        """What settings and sessions keep: the colouring and the voxel size."""
        return {"color": self.color_box.currentIndex(), "voxel_mm": self.voxel_box.value()}

    def set_options(self, options: dict) -> None:
        self.color_box.setCurrentIndex(int(options.get("color", 0)))
        self.voxel_box.setValue(float(options.get("voxel_mm", 1.0)))

    def shutdown(self) -> None:
        """Stop the fusion thread (window closing); later results are not fused."""
        self._closed = True
        if self.live is not None:
            self.live.stop(timeout=1.0)

