"""The 3D view's camera fit and the activation overlay: geometry and colouring without Qt."""

from __future__ import annotations

import numpy as np
import pytest

from endodepth.vis.activation import activation_overlay
from endodepth.vis.camera import camera_fit, from_display, orbit_fit, to_display


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


def test_orbit_fit_keeps_the_box_in_view_from_any_direction():
    rng = np.random.default_rng(0)
    points = rng.uniform([-30, -10, 40], [30, 10, 90], (2000, 3))
    np.testing.assert_allclose(from_display(to_display(points)), points, rtol=1e-6)
    for aspect in (0.5, 1.0, 2.0):
        centre, distance = orbit_fit(points, aspect, fov_deg=45.0, margin=1.0)
        np.testing.assert_allclose(centre, [0, 0, 65], atol=1.5)
        radius = np.linalg.norm(points - centre, axis=1).max()
        # the narrower half-angle (vertical when wide) sees a sphere round the box from the orbit distance
        narrower = np.arctan(np.tan(np.radians(22.5)) / max(1.0, aspect))
        assert radius / distance <= np.tan(narrower) * 1.02 and radius / distance > 0.8 * np.tan(narrower)


def test_activation_overlay_is_normalised_and_opaque_where_strong():
    act = np.zeros((20, 30), np.float32)
    act[5, 7] = 1e-3  # a faint unit: tiny absolute values
    act[10, 10] = 5e-4
    rgba = activation_overlay(act)
    assert rgba.shape == (20, 30, 4) and rgba.dtype == np.uint8
    assert rgba[5, 7, 3] == 240 and rgba[0, 0, 3] == 40  # strongest opaque, silent parts see-through
    assert rgba[0, 0, 3] < rgba[10, 10, 3] < rgba[5, 7, 3]


def test_display_axes_turn_camera_y_down_into_gl_z_up():
    np.testing.assert_array_equal(to_display(np.array([[1.0, 2.0, 3.0]])), [[1.0, 3.0, -2.0]])
