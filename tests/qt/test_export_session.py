"""Exports (files exist and decode to what was shown), measurements, sessions and the CLI's --stats-out."""

from __future__ import annotations

import csv
import json

import cv2
import numpy as np
import pytest
from PySide6 import QtCore

from endodepth.errors import InputError
from endodepth.pipeline.view_export import export_frame
from endodepth.pipeline.views import depth_view
from endodepth.qt import settings as prefs
from endodepth.vis.camera import to_display

SHADING = "baseline-shading"


@pytest.fixture
def shown(window, wait_frame, image_folder):
    window.set_models([SHADING], "cpu")
    window.open_path(image_folder)
    update = wait_frame(window, 0, SHADING)
    return window, depth_view(update.result, SHADING)


def test_current_frame_exports_decode_to_the_displayed_data(shown, tmp_path):
    import open3d as o3d

    _, view = shown
    files = export_frame(view, tmp_path / "out", "f0", {"png16", "npz", "color", "ply"})
    assert sorted(p.name for p in files) == ["f0_cloud.ply", "f0_depth.npz", "f0_depth.png", "f0_depth_color.png"]
    expected = np.where(view.valid, view.depth, np.nan)
    stored = cv2.imread(str(tmp_path / "out" / "f0_depth.png"), cv2.IMREAD_UNCHANGED)
    assert stored.dtype == np.uint16 and stored.shape == view.depth.shape
    meta = json.loads((tmp_path / "out" / "f0_depth.json").read_text())
    decoded = np.where(stored > 0, meta["offset"] + stored / meta["scale"], np.nan)
    np.testing.assert_array_equal(np.isnan(decoded), np.isnan(expected))
    np.testing.assert_allclose(decoded[view.valid], expected[view.valid], atol=1.0 / meta["scale"])
    with np.load(tmp_path / "out" / "f0_depth.npz") as npz:
        np.testing.assert_array_equal(npz["depth"], expected.astype(np.float32))
        np.testing.assert_array_equal(npz["K"], view.K)
    colored = cv2.cvtColor(cv2.imread(str(tmp_path / "out" / "f0_depth_color.png")), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(colored, view.colors)
    cloud = o3d.io.read_point_cloud(str(tmp_path / "out" / "f0_cloud.ply"))
    np.testing.assert_allclose(np.asarray(cloud.points), view.points, rtol=1e-6)


def test_measure_two_picked_points_export_csv_and_save_session(shown, qtbot, tmp_path):
    window, _ = shown
    cloud = window.cloud_view
    qtbot.waitUntil(lambda: len(cloud.points) > 100)
    points = cloud.points.copy()
    xy, front = cloud.gl_view.project(to_display(points))
    i, j = int(np.argmin(xy[:, 0] + 1000 * ~front)), int(np.argmax(xy[:, 0] - 1000 * ~front))
    a = cloud.pick_at(*xy[i])
    b = cloud.pick_at(*xy[j])
    assert np.linalg.norm(xy[[np.flatnonzero((points == a).all(1))[0]]] - xy[i]) < 1.0
    assert len(cloud.measurements) == 1 and cloud.table.rowCount() == 1
    m = cloud.measurements[0]
    assert m.distance == pytest.approx(float(np.linalg.norm(b - a)), rel=1e-6) and m.unit == "relative"
    assert m.distance > 0

    path = cloud.export_csv(tmp_path / "m.csv")
    rows = list(csv.DictReader(path.open()))
    assert len(rows) == 1 and float(rows[0]["distance"]) == pytest.approx(m.distance)

    session = prefs.save_session(tmp_path / "s.json", window.session())
    data = prefs.load_session(session)
    assert data["models"] == [SHADING] and data["file"].endswith("frames")
    assert data["measurements"][0]["distance"] == pytest.approx(m.distance)
    cloud.clear_measurements()
    window.apply_session(data)
    assert len(cloud.measurements) == 1
    (tmp_path / "bad.json").write_text("[1, 2]")
    with pytest.raises(InputError, match=r"bad\.json"):
        prefs.load_session(tmp_path / "bad.json")


def test_cli_plays_n_frames_and_writes_stats(qtbot, image_folder, tmp_path):
    from endodepth.qt.app import run_app

    stats_path, shot = tmp_path / "stats.json", tmp_path / "shot.png"
    code = run_app([str(image_folder), "--model", SHADING, "--device", "cpu", "--quit-after", "6",
                    "--stats-out", str(stats_path), "--screenshot", str(shot), "--size", "900x600"])
    assert code == 0
    stats = json.loads(stats_path.read_text())
    assert stats["frames_shown"] == 6
    assert stats["frames_dropped"] >= 0 and stats["frames_not_drawn"] >= 0 and stats["display_fps"] > 0 and stats["gui_longest_stall_ms"] > 0
    assert stats["models"] == [SHADING] and stats["inference_ms_mean"] > 0
    image = cv2.imread(str(shot))
    assert image.shape[0] >= 600 and image.shape[1] >= 900 and image.std() > 10  # not a blank picture


def test_without_a_path_the_bundled_sample_opens_with_the_default_model(qtbot, tmp_path):
    from endodepth.qt.app import run_app
    from endodepth.qt.worker import default_model_name
    from endodepth.resources import sample_clip_path

    stats_path = tmp_path / "stats.json"
    assert run_app(["--device", "cpu", "--quit-after", "2", "--stats-out", str(stats_path)]) == 0
    stats = json.loads(stats_path.read_text())
    assert stats["file"] == str(sample_clip_path()) and stats["frames_shown"] == 2
    assert stats["models"] == [default_model_name()[0]]


def test_export_dialog_range_runs_behind_a_progress_dialog(shown, qtbot, tmp_path):
    from endodepth.qt.export import ExportDialog

    window, _ = shown
    dialog = ExportDialog(window, window.worker, window.last_update, "turbo")
    qtbot.addWidget(dialog)
    dialog.folder_edit.setText(str(tmp_path / "range"))
    dialog.stem_edit.setText("r")
    dialog.scope.setCurrentText("frame range")
    dialog.first.setValue(1)
    dialog.last.setValue(3)
    dialog.depth_format.setCurrentText("png16")
    dialog.video_view.setCurrentText("depth")
    dialog._run()
    names = sorted(p.name for p in (tmp_path / "range").iterdir())
    assert names == ["r_000001.json", "r_000001.png", "r_000002.json", "r_000002.png", "r_000003.json",
                     "r_000003.png", "r_depth.mp4"]
    assert cv2.imread(str(tmp_path / "range" / "r_000002.png"), cv2.IMREAD_UNCHANGED).dtype == np.uint16
    assert "exported 4 file(s)" in window.labels.notice.text()


def test_dropping_a_folder_opens_it(window, qtbot, wait_frame, image_folder):
    from PySide6 import QtGui

    window.set_models([SHADING], "cpu")
    mime = QtCore.QMimeData()
    mime.setUrls([QtCore.QUrl.fromLocalFile(str(image_folder))])
    event = QtGui.QDropEvent(QtCore.QPointF(10, 10), QtCore.Qt.DropAction.CopyAction, mime,
                             QtCore.Qt.MouseButton.LeftButton, QtCore.Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)
    wait_frame(window, 0, SHADING)
    assert window.info["path"] == str(image_folder)
    assert window.recent_menu.actions()[0].text() == str(image_folder.resolve())
