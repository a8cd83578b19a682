"""What the window draws per frame: only visible docks, the 3D view's items kept, camera fit, colorbar labels."""

from __future__ import annotations

import numpy as np
import pytest

from endodepth.qt.depth_display import tick_strings
from endodepth.vis.activation import activation_overlay
from endodepth.vis.camera import camera_fit

SHADING = "baseline-shading"


def test_hidden_docks_are_not_drawn_and_catch_up_when_shown(window, wait_frame, image_folder, qtbot):
    window.set_models([SHADING], "cpu")
    window.open_path(image_folder)
    wait_frame(window, 0, SHADING)
    qtbot.waitUntil(lambda: len(window.cloud_view.points) > 0, timeout=10000)
    scatter = window.cloud_view.scatter
    items_before = list(window.cloud_view.gl_view.items)
    shown_pos = scatter.pos.copy()
    for key in ("image", "cloud"):
        window.docks[key].hide()
    image_before = window.image_view.image_item.image
    window.seek(5)
    update = wait_frame(window, 5, SHADING)
    assert window.visible_views() == {"selectivity", "comparison"}
    assert window.worker.state.analyses == {"selectivity", "comparison"}
    assert window.image_view.image_item.image is image_before  # not redrawn while hidden
    np.testing.assert_array_equal(scatter.pos, shown_pos)
    window.docks["image"].show()
    window.docks["cloud"].show()
    assert not np.array_equal(image_before, update.view.rgb)
    qtbot.waitUntil(lambda: np.array_equal(window.image_view.image_item.image, update.view.rgb), timeout=5000)
    points = update.view.points
    assert window.cloud_view.scatter is scatter and window.cloud_view.gl_view.items == items_before
    assert len(scatter.pos) == len(points) and not np.array_equal(scatter.pos, shown_pos)
    np.testing.assert_allclose(window.cloud_view.points, points)


def test_camera_fit_looks_from_the_origin_and_frames_the_cloud():
    # a plane at z = 50 spanning x in [-20, 20], y in [-10, 10]
    xs, ys = np.meshgrid(np.linspace(-20, 20, 41), np.linspace(-10, 10, 21))
    points = np.stack([xs.ravel(), ys.ravel(), np.full(xs.size, 50.0)], axis=1)
    centre, distance, fov = camera_fit(points, aspect=1.0, margin=1.0)
    np.testing.assert_allclose(centre, [0, 0, 50])
    assert distance == pytest.approx(50)  # the orbit camera sits at the endoscope's origin
    half = np.percentile(np.abs(points[:, 0] / 50), 98)
    assert fov == pytest.approx(np.degrees(2 * np.arctan(half)))
    _, _, tall = camera_fit(points, aspect=4.0, margin=1.0)  # a wide view: y extent decides
    assert tall == pytest.approx(np.degrees(2 * np.arctan(4.0 * np.percentile(np.abs(points[:, 1] / 50), 98))))


@pytest.mark.parametrize("values, spacing", [([0.0013, 0.0014, 0.0015], 0.0001), ([1000.1, 1000.2], 0.1),
                                             ([100.0], 100.0), ([0.4, 0.41], 0.01)])
def test_colorbar_tick_labels_are_distinct_and_exact(values, spacing):
    labels = tick_strings(values, 1.0, spacing)
    assert len(set(labels)) == len(values)
    np.testing.assert_allclose([float(s) for s in labels], values, rtol=1e-9)


def test_activation_overlay_is_normalised_and_opaque_where_strong():
    act = np.zeros((20, 30), np.float32)
    act[5, 7] = 1e-3  # a faint unit: tiny absolute values
    act[10, 10] = 5e-4
    rgba = activation_overlay(act)
    assert rgba.shape == (20, 30, 4) and rgba.dtype == np.uint8
    assert rgba[5, 7, 3] == 240 and rgba[0, 0, 3] == 40  # strongest opaque, silent parts see-through
    assert rgba[0, 0, 3] < rgba[10, 10, 3] < rgba[5, 7, 3]


def test_comparison_grid_uses_the_canvas_shape():
    from endodepth.qt.comparison_view import grid_columns

    assert grid_columns(3, canvas_aspect=3.0, image_aspect=1.25) == 3  # a wide pane: one row
    assert grid_columns(3, canvas_aspect=0.5, image_aspect=1.25) == 1  # a tall pane: one column
    assert grid_columns(4, canvas_aspect=1.25, image_aspect=1.25) == 2
    assert grid_columns(1, canvas_aspect=9.0, image_aspect=1.0) == 1


def test_comparison_panels_keep_their_size_when_the_pane_is_resized(qtbot):
    from endodepth.analysis.comparison import GT
    from endodepth.pipeline.live_comparison import ComparisonSnapshot
    from endodepth.qt.comparison_view import ComparisonView

    view = ComparisonView()
    qtbot.addWidget(view)
    view.resize(300, 330)
    view.show()
    img = np.full((64, 80, 3), 200, np.uint8)
    view.show_snapshot(ComparisonSnapshot(0, ["a", "b"], GT, "mm", {"a": img, "b": img, GT: img}, "a",
                                          np.zeros((64, 80), np.float32), img, (10.0, 90.0), (0.0, 5.0), {}))
    view.resize(620, 330)
    qtbot.wait(50)
    shown = [view.boxes[i] for i in view._panels]
    assert len(shown) == 4 and view.canvas.ci.geometry().height() == view.canvas.height()
    heights = [box.sceneBoundingRect().height() for box in shown]
    assert min(heights) > 0.25 * view.canvas.height()


def test_screenshot_contains_the_3d_view(window, wait_frame, scared_keyframe, qtbot, tmp_path):
    import cv2
    from PySide6 import QtCore

    from endodepth.qt.app import save_screenshot

    window.set_models([SHADING], "cpu")
    window.open_path(scared_keyframe)
    wait_frame(window, 0, SHADING)
    qtbot.waitUntil(lambda: len(window.cloud_view.points) > 100, timeout=10000)
    qtbot.wait(100)
    path = save_screenshot(window, tmp_path / "window.png")
    shot = cv2.imread(str(path))
    box = window.cloud_view.gl_container
    top_left = box.mapTo(window, QtCore.QPoint(0, 0))
    pane = shot[top_left.y():top_left.y() + box.height(), top_left.x():top_left.x() + box.width()]
    if window.cloud_view.gl_view.gl_error:
        pytest.skip(f"no OpenGL here: {window.cloud_view.gl_view.gl_error}")
    distance = np.abs(pane.astype(int) - np.array([22, 18, 18])).sum(axis=2)  # to the view's background (BGR)
    assert (distance <= 6).mean() > 0.2  # the GL view's own picture, not the window behind it
    assert (distance > 60).mean() > 0.02  # with the cloud's points in it


def test_hidden_analysis_docks_are_not_computed(window, wait_frame, image_folder, qtbot):
    window.set_models(["meter-xxs"], "cpu")
    window.open_path(image_folder)
    wait_frame(window, 0, "meter-xxs")
    qtbot.waitUntil(lambda: window.last_update.selectivity is not None, timeout=30000)
    window.docks["selectivity"].hide()
    assert window.worker.state.analyses == {"comparison"}
    window.seek(3)
    assert wait_frame(window, 3, "meter-xxs").selectivity is None
    window.docks["selectivity"].show()  # shown again: the current frame is analysed and drawn
    qtbot.waitUntil(lambda: window.last_update.selectivity is not None
                    and window.selectivity_view.snapshot is window.last_update.selectivity, timeout=30000)
    assert window.last_update.result.index == 3
