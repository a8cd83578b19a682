"""The Reconstruction dock: frames offered while fusing grow a mesh off the GUI thread; export and distances."""

from __future__ import annotations

import numpy as np
import open3d as o3d

from endodepth.frame import Frame
from endodepth.kinds import METRIC_MM, RELATIVE
from endodepth.qt.reconstruction_view import ReconstructionView, mesh_colors

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
    from endodepth.geometry.fusion import MeshArrays

    mesh = MeshArrays(np.array([[0, 0, 10], [0, 0, 50], [0, 0, 90]], np.float32), np.zeros((0, 3), np.int32),
                      np.full((3, 3), 0.5, np.float32))
    assert np.allclose(mesh_colors(mesh, False)[:, :3], 0.5)
    by_depth = mesh_colors(mesh, True)
    assert not np.allclose(by_depth[0], by_depth[2])


def test_the_window_lists_the_dock_in_its_view_menu(window):
    view_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&View")
    toggle = next(a for a in view_menu.actions() if a.text() == "Reconstruction")
    assert not window.reconstruction_view.dock.isVisible()
    toggle.trigger()
    assert window.reconstruction_view.dock.isVisible()
