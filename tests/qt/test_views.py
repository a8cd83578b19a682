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
