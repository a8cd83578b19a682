"""The Reconstruction dock: frames offered while fusing grow a mesh off the GUI thread; export and distances."""

from __future__ import annotations

import json

import numpy as np
import open3d as o3d
import pytest
from PySide6 import QtGui

from endodepth.frame import Frame
from endodepth.geometry.fusion import MeshArrays
from endodepth.kinds import METRIC_MM, RELATIVE
from endodepth.qt.reconstruction_view import AMBIENT, ReconstructionView, mesh_colors
from endodepth.vis.camera import to_display

W, H = 96, 72
K = np.array([[90.0, 0, W / 2], [0, 90.0, H / 2], [0, 0, 1]])


def frames(n: int):
    """A plane at z = 60 mm seen by cameras moving sideways (poses: first camera -> camera)."""
    rgb = np.full((H, W, 3), 120, np.uint8)
    for i in range(n):
        pose = np.eye(4)
        pose[0, 3] = -2.0 * i
        yield Frame(i, 0.0, rgb, K, False, np.full((H, W), 60.0, np.float32), None, pose)


def test_fusing_grows_a_mesh_that_exports_and_measures(qtbot, tmp_path):
    view = ReconstructionView()
    qtbot.addWidget(view)
    view.start_button.setChecked(True)
    for i, f in enumerate(frames(4)):  # one at a time: a busy fusion drops frames (the newest wins)
        view.offer(f, f.gt_depth, METRIC_MM)
        qtbot.waitUntil(lambda i=i: view.live.reconstruction.counts.fused == i + 1, timeout=20000)
    view.start_button.setChecked(False)  # stop: the final mesh is drawn
    assert len(view.mesh) > 100 and np.median(np.abs(view.mesh.vertices[:, 2] - 60.0)) < 0.2
    assert "4 fused" in view.status.text() and "poses: source" in view.status.text()
    assert len(view.path) == 4 and np.allclose(view.path[:, 0], [0, 2, 4, 6])
    out = view.export_mesh(tmp_path / "m.ply")
    assert len(o3d.io.read_triangle_mesh(str(out)).triangles) == len(view.mesh)
    view.add_pick(np.array([0.0, 0.0, 60.0]))
    view.add_pick(np.array([3.0, 4.0, 60.0]))
    assert view.distances == [5.0] and "5.00" in view.measure_label.text()


def test_relative_depth_without_ground_truth_uses_the_assumed_distance(qtbot):
    view = ReconstructionView()
    qtbot.addWidget(view)
    view.start_button.setChecked(True)
    f = next(frames(1))
    view.offer(Frame(0, 0.0, f.rgb, K, False, None, None, f.pose), np.ones((H, W), np.float32), RELATIVE)
    assert "assumed 50 mm" in view._describe
    view.start_button.setChecked(False)


def test_depth_colouring_follows_z():
    mesh = MeshArrays(np.array([[0, 0, 10], [0, 0, 50], [0, 0, 90]], np.float32), np.zeros((0, 3), np.int32),
                      np.full((3, 3), 0.5, np.float32))
    assert np.allclose(mesh_colors(mesh, False)[:, :3], 0.5)
    by_depth = mesh_colors(mesh, True)
    assert not np.allclose(by_depth[0], by_depth[2])


def test_the_window_lists_the_dock_in_its_view_menu(window):
    view_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&View")
    toggle = next(a for a in view_menu.actions() if a.text() == "Reconstruction")
    assert not window.docks["reconstruction"].isVisible()
    toggle.trigger()
    assert window.docks["reconstruction"].isVisible()


def test_a_frame_shown_again_is_not_fused_twice(qtbot):
    view = ReconstructionView()
    qtbot.addWidget(view)
    view.start_button.setChecked(True)
    first, second = frames(2)
    for f in (first, second, first):  # a loop back to the start shows frame 0 again
        view.offer(f, f.gt_depth, METRIC_MM)
    view.start_button.setChecked(False)
    assert view.live.reconstruction.counts.fused == 2 and len(view.path) == 2


def plane(z: float, half: float = 30.0, n: int = 30, colour: float = 1.0) -> MeshArrays:
    """A square grid at depth z (mm) facing the first camera, of one grey."""
    u, v = np.meshgrid(np.linspace(-half, half, n), np.linspace(-half, half, n))
    vertices = np.stack([u.ravel(), v.ravel(), np.full(u.size, z)], 1).astype(np.float32)
    i = np.arange(n * n).reshape(n, n)[:-1, :-1].ravel()
    triangles = np.concatenate([np.stack([i, i + 1, i + n], 1), np.stack([i + 1, i + n + 1, i + n], 1)])
    return MeshArrays(vertices, triangles.astype(np.int32), np.full_like(vertices, colour))


def shown_view(qtbot, mesh: MeshArrays) -> ReconstructionView:
    view = ReconstructionView()
    qtbot.addWidget(view)
    view.resize(640, 480)
    view.show()
    qtbot.waitUntil(lambda: view.gl_view.isExposed() and view.gl_view.width() > 100)
    view.show_mesh(mesh, np.array([[0.0, 0, 0], [5.0, 0, 0]]))
    view.reset_view()
    if view.gl_view.gl_error:
        pytest.skip(f"no OpenGL here: {view.gl_view.gl_error}")
    view.gl_view.update()  # the window paints by itself (buffers upload) before a grab shows the items
    x, y = (int(c) for c in view.gl_view.project(to_display(mesh.vertices.mean(0, keepdims=True)))[0][0])
    qtbot.waitUntil(lambda: drawn(view)[y, x].max() > 40, timeout=10000)  # the background is (18, 18, 22)
    return view


def drawn(view: ReconstructionView) -> np.ndarray:
    """The GL view's picture (H, W, 3) uint8."""
    image = view.gl_view.grabFramebuffer().convertToFormat(QtGui.QImage.Format.Format_RGB888)
    rows = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine())
    return rows[:, : 3 * image.width()].reshape(image.height(), image.width(), 3)


def test_a_surface_facing_the_viewer_is_drawn_bright(qtbot):
    """Headlight shading: a white plane seen about 30 degrees off its normal keeps most of its colour, whichever
    way its triangles wind (pyqtgraph's 'shaded' leaves it at 0.2 of its colour, or lights only one side)."""
    turned = plane(60.0)
    turned.triangles = np.ascontiguousarray(turned.triangles[:, ::-1])  # the other winding: normals turned around
    for mesh in (plane(60.0), turned):
        view = shown_view(qtbot, mesh)
        x, y = (int(c) for c in view.gl_view.project(to_display(np.array([[0.0, 0.0, 60.0]], np.float32)))[0][0])
        red, _, blue = drawn(view)[y, x].astype(int)
        assert red > 255 * (AMBIENT + 0.3) and abs(red - blue) < 10


def test_shift_click_picks_the_front_surface_and_measures_mm(qtbot):
    front, back = plane(60.0, n=20), plane(80.0, n=20)
    both = MeshArrays(np.vstack([front.vertices, back.vertices]),
                      np.vstack([front.triangles, back.triangles + len(front.vertices)]),
                      np.vstack([front.colors, back.colors]))
    view = shown_view(qtbot, both)
    targets = np.array([[-10.0, 5.0, 60.0], [12.0, -4.0, 60.0]])
    xy, front_of_camera = view.gl_view.project(to_display(targets.astype(np.float32)))
    assert front_of_camera.all()
    picked = [view.pick_at(*p) for p in xy]
    for point, target in zip(picked, targets):
        assert point is not None and np.linalg.norm(point - target) < 0.3  # on the front plane, not the one behind
    assert view.distances == [pytest.approx(float(np.linalg.norm(targets[1] - targets[0])), abs=0.5)]
    assert view.pick_at(2.0, 2.0) is None  # the corner of the view: no surface there


def test_the_window_keeps_the_dock_in_sessions_and_layouts(window, qtbot):
    from endodepth.qt.app import VIEWS
    from endodepth.qt.main_window import MainWindow
    from endodepth.qt.settings import settings

    assert set(VIEWS) == set(window.docks)  # every dock can be named in --views
    view = window.reconstruction_view
    view.color_box.setCurrentIndex(1)
    session = window.session()
    assert session["reconstruction"]["color"] == 1
    view.color_box.setCurrentIndex(0)
    window.apply_session(session)
    assert view.color_box.currentIndex() == 1
    window.docks["reconstruction"].show()
    window.save_settings()
    again = MainWindow(settings())
    qtbot.addWidget(again)
    again.show()
    assert again.docks["reconstruction"].isVisible() and again.reconstruction_view.color_box.currentIndex() == 1
    again.shutdown()


def test_cli_views_and_fuse_grow_a_mesh(qtbot, scared_keyframe, tmp_path):
    from endodepth.qt.app import run_app

    stats_path = tmp_path / "stats.json"
    assert run_app([str(scared_keyframe), "--model", "baseline-shading", "--device", "cpu", "--views",
                    "image,reconstruction", "--fuse", "--every-frame", "--quit-after", "6",
                    "--stats-out", str(stats_path)]) == 0
    fused = json.loads(stats_path.read_text())["reconstruction"]
    assert fused["fused_frames"] >= 3 and fused["triangles"] > 100 and fused["cameras"] == fused["fused_frames"]
