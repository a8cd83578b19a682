"""What the window draws per frame: only visible docks, the 3D view's items kept, camera fit, colorbar labels."""

from __future__ import annotations

import numpy as np
import pytest

from endodepth.qt.depth_display import tick_strings

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


@pytest.mark.parametrize("values, spacing", [([0.0013, 0.0014, 0.0015], 0.0001), ([1000.1, 1000.2], 0.1),
                                             ([100.0], 100.0), ([0.4, 0.41], 0.01)])
def test_colorbar_tick_labels_are_distinct_and_exact(values, spacing):
    labels = tick_strings(values, 1.0, spacing)
    assert len(set(labels)) == len(values)
    np.testing.assert_allclose([float(s) for s in labels], values, rtol=1e-9)


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


def test_a_checkpoint_is_listed_and_titled_by_its_file_name(qtbot, tmp_path):
    from endodepth.pipeline.live_comparison import ComparisonSnapshot
    from endodepth.qt.comparison_view import ComparisonView

    ckpt = str(tmp_path / "models" / "clip.adapted.safetensors")
    view = ComparisonView()
    qtbot.addWidget(view)
    view.set_available(["default", ckpt], [ckpt])
    assert [view.model_list.item(i).text() for i in range(2)] == ["default", "clip.adapted.safetensors"]
    assert view.model_list.item(1).toolTip() == ckpt and view.checked() == [ckpt]
    img = np.full((64, 80, 3), 200, np.uint8)
    view.show_snapshot(ComparisonSnapshot(0, ["default", ckpt], "default", "mm", {"default": img, ckpt: img},
                                          ckpt, np.zeros((64, 80), np.float32), img, (10.0, 90.0), (0.0, 5.0), {}))
    titles = [view.titles[i].text for i in view._panels]
    assert any("clip.adapted.safetensors" in t for t in titles) and not any(str(tmp_path) in t for t in titles)


def test_four_compared_models_get_equal_columns_and_whole_images(qtbot):
    from endodepth.pipeline.live_comparison import ComparisonSnapshot
    from endodepth.qt.comparison_view import ComparisonView

    names = ["a", "depth-anything-v2-vits-metric-bins-router", "metric-bins", "b"]  # titles of unequal widths
    view = ComparisonView()
    qtbot.addWidget(view)
    view.resize(1400, 800)
    view.show()
    img = np.full((72, 128, 3), 200, np.uint8)
    view.show_snapshot(ComparisonSnapshot(0, names, names[0], "mm", {n: img for n in names}, names[1],
                                          np.zeros((72, 128), np.float32), img, (10.0, 90.0), (0.0, 5.0), {}))
    qtbot.wait(100)
    shown = [view.boxes[i] for i in view._panels]
    assert len(shown) == 5 and len({round(box.sceneBoundingRect().x()) for box in shown}) == 3
    widths = [box.sceneBoundingRect().width() for box in shown]
    assert max(widths) - min(widths) < 2, widths
    for box in shown:
        (x0, x1), (y0, y1) = box.viewRange()
        assert x0 <= 0.5 and x1 >= 127.5 and y0 <= 0.5 and y1 >= 71.5, box.viewRange()  # nothing cropped
