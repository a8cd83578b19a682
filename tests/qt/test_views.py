"""Views fed with synthetic arrays: what the items hold."""

from __future__ import annotations

import numpy as np

from endodepth.pipeline.views import DepthView
from endodepth.qt.image_depth_view import OVERLAY_COLORS, ImageDepthView
from endodepth.vis.backproject import pixel_to_point


def synthetic_view(with_uncertainty: bool) -> DepthView:
    h, w = 48, 64
    rgb = np.random.default_rng(0).integers(0, 255, (h, w, 3), dtype=np.uint8)
    depth = np.linspace(20, 80, h * w, dtype=np.float32).reshape(h, w)
    colors = np.zeros((h, w, 3), np.uint8)
    colors[..., 1] = 200
    fov = np.ones((h, w), bool)
    fov[:, :8] = False
    return DepthView(index=3, rgb=rgb, depth=depth, valid=fov.copy(), K=np.array([[50.0, 0, 32], [0, 50, 24], [0, 0, 1]]),
                     unit="mm", colors=colors, levels=(20.0, 80.0), points=None, point_colors=None,
                     uncertainty=depth * 0.1 if with_uncertainty else None, fov=fov, specular=None, pose=None,
                     K_assumed=False, model="synthetic")


def test_image_view_draws_masks_uncertainty_overlay_and_hover(qtbot):
    view = ImageDepthView()
    qtbot.addWidget(view)
    data = synthetic_view(with_uncertainty=True)
    view.show_depth(data)
    np.testing.assert_array_equal(view.depth_item.image, data.colors)
    assert view.colorbar.levels() == (20.0, 80.0)
    view.fov_box.setChecked(True)
    fov = view.fov_item.image
    assert fov.shape == (48, 64, 4) and tuple(fov[0, 0, :3]) == OVERLAY_COLORS["fov"] and fov[0, 20, 3] == 0
    assert view.uncertainty_box.isEnabled()
    view.uncertainty_box.setChecked(True)
    assert view.uncertainty_item.isVisible()
    np.testing.assert_array_equal(view.uncertainty_item.image, data.uncertainty)
    view.mode_box.setCurrentText("overlay")
    assert view.overlay_item.isVisible() and view.depth_box not in view.canvas.ci.items
    view.opacity_slider.setValue(25)
    assert view.overlay_item.opacity() == 0.25
    view.mode_box.setCurrentText("side by side")
    assert view.depth_box in view.canvas.ci.items
    view._report(40, 10)
    z = float(data.depth[10, 40])
    x, y, _ = pixel_to_point(40, 10, z, data.K)
    assert f"depth {z:.4g} mm" in view.readout.text() and f"{x:.4g}, {y:.4g}" in view.readout.text()
    view._report(2, 10)  # outside the field of view
    assert "no depth" in view.readout.text()
    view.show_depth(synthetic_view(with_uncertainty=False))
    assert not view.uncertainty_box.isEnabled() and not view.uncertainty_item.isVisible()


def test_a_display_grid_is_stretched_over_the_frame_and_read_in_frame_pixels(qtbot):
    import dataclasses

    view = ImageDepthView()
    qtbot.addWidget(view)
    full = synthetic_view(with_uncertainty=True)
    grid = dataclasses.replace(full, rgb=full.rgb[::2, ::2].copy(), depth=full.depth[::2, ::2].copy(),
                               valid=full.valid[::2, ::2].copy(), colors=full.colors[::2, ::2].copy(),
                               uncertainty=full.uncertainty[::2, ::2].copy(), fov=full.fov[::2, ::2].copy(),
                               step=2, frame_size=(64, 48), uncertainty_top=7.5)
    view.show_depth(grid)
    view.fov_box.setChecked(True)
    view.uncertainty_box.setChecked(True)
    for item in (view.image_item, view.depth_item, view.fov_item, view.uncertainty_item):
        rect = item.mapRectToParent(item.boundingRect())
        assert (rect.width(), rect.height()) == (64.0, 48.0), item  # the frame's rectangle, in frame pixels
    np.testing.assert_array_equal(view.depth_item.image, grid.colors)
    assert view.uncertainty_item.levels is not None and tuple(view.uncertainty_item.levels) == (0, 7.5)
    view._report(41, 11)  # frame pixel (41, 11) lies in grid pixel (20, 5)
    z = float(full.depth[10, 40])
    x, y, _ = pixel_to_point(41, 11, z, full.K)
    assert f"(u=41, v=11)  depth {z:.4g} mm" in view.readout.text() and f"{x:.4g}, {y:.4g}" in view.readout.text()


def test_the_cloud_draws_the_worker_colours_and_accumulates_its_keyframe_points(qtbot, scared_keyframe):
    from endodepth.io.detect import open_source
    from endodepth.models import create
    from endodepth.pipeline.processing import Pipeline
    from endodepth.pipeline.viewer_state import default_post
    from endodepth.pipeline.views import ACCUMULATED_FRAMES, depth_view
    from endodepth.qt.point_cloud_view import PointCloudView
    from endodepth.vis.backproject import to_keyframe
    from endodepth.vis.camera import to_display
    from endodepth.vis.colormap import colorize

    with open_source(scared_keyframe) as source:
        pipe = Pipeline(source, [create("baseline-shading")], post=default_post())
        views = [depth_view(pipe.process(i), "baseline-shading", 40.0) for i in (0, 1)]
    cloud = PointCloudView()
    qtbot.addWidget(cloud)
    cloud.color_box.setCurrentIndex(1)  # depth colours
    cloud.show_depth(views[0])
    first = views[0]
    lo, hi = first.levels
    expected = colorize(first.points[None, :, 2], "turbo", lo, hi)[0] / 255.0
    np.testing.assert_allclose(cloud.scatter.color[:, :3], expected, atol=1 / 255 + 1e-6)
    np.testing.assert_allclose(cloud.scatter.pos, to_display(first.points), rtol=1e-6)
    cloud.accumulate_box.setChecked(True)
    cloud.show_depth(views[1])
    kept = [to_keyframe(v.points[::ACCUMULATED_FRAMES], v.pose) for v in views]
    np.testing.assert_allclose(cloud.points, np.concatenate(kept), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(cloud.scatter.pos, to_display(np.concatenate(kept)), rtol=1e-5, atol=1e-4)
