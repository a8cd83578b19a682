import numpy as np
import pytest

from endodepth.synth import SynthSettings, is_heldout, random_settings, render_scene, render_sequence, render_view
from endodepth.synth.camera import intrinsics

W, H = 80, 64


def test_same_seed_same_sequence_other_seed_differs():
    a = render_sequence(3, W, H, seed=7, scene="tube")
    b = render_sequence(3, W, H, seed=7, scene="tube")
    c = render_sequence(3, W, H, seed=8, scene="tube")
    np.testing.assert_array_equal(a.rgb, b.rgb)
    np.testing.assert_array_equal(a.depth, b.depth)
    np.testing.assert_array_equal(a.poses, b.poses)
    assert not np.array_equal(a.rgb, c.rgb)


def test_head_on_plane_has_constant_depth(make_plane):
    K = intrinsics(W, H, 0.82)
    view = render_view(make_plane(42.0), np.eye(4), K, W, H)
    np.testing.assert_allclose(view.depth, 42.0, rtol=1e-5)


def test_tilted_plane_depth_is_analytic(make_plane):
    # plane z = z0 + y tan(a); the ray through row v has y/z = (v - cy) / fy, so z = z0 / (1 - tan(a) (v - cy) / fy)
    z0, tilt = 60.0, 35.0
    K = intrinsics(W, H, 0.9)
    view = render_view(make_plane(z0, tilt), np.eye(4), K, W, H)
    rows = (np.arange(H) - K[1, 2]) / K[1, 1]
    expected = z0 / (1 - np.tan(np.radians(tilt)) * rows)
    np.testing.assert_allclose(view.depth, np.broadcast_to(expected[:, None], (H, W)), rtol=1e-4)


def test_radiance_falls_off_with_the_square_of_distance(make_plane):
    K = intrinsics(W, H, 0.82)
    near = render_view(make_plane(40.0), np.eye(4), K, W, H).radiance
    far = render_view(make_plane(80.0), np.eye(4), K, W, H).radiance
    assert near.min() > 0
    np.testing.assert_allclose(far / near, 0.25, rtol=1e-3)


def test_poses_map_keyframe_points_into_each_frame():
    seq = render_sequence(12, W, H, seed=3, scene="surface", fov_mask=False)
    K, xyz = seq.K, seq.xyz
    v, u = np.mgrid[8:H - 8:4, 8:W - 8:4]
    X0 = xyz[0, v.ravel(), u.ravel()]
    X0 = X0[np.isfinite(X0).all(1)]
    assert len(X0) > 50
    for i in (5, 11):
        assert not np.allclose(seq.poses[i], np.eye(4))  # the camera did move
        Xi = X0 @ seq.poses[i][:3, :3].T + seq.poses[i][:3, 3]
        uv = (Xi @ K.T)[:, :2] / Xi[:, 2:]
        inside = (uv[:, 0] > 0) & (uv[:, 0] < W - 1) & (uv[:, 1] > 0) & (uv[:, 1] < H - 1)
        cols, rows = np.round(uv[inside]).astype(int).T
        seen = xyz[i, rows, cols]
        err = np.linalg.norm(seen - Xi[inside], axis=1)
        # pixel rounding moves the point by < 1 px; occluded points may differ: look at most of them
        assert np.nanpercentile(err, 75) < 0.03 * np.median(Xi[:, 2])


def test_right_view_sees_the_same_points_shifted_by_the_baseline(make_plane):
    seq = render_scene(make_plane(50.0, 20.0), W, H, SynthSettings(fov_mask=False), seed=0, stereo=True)
    calib = seq.calibration()
    left = seq.xyz[0].reshape(-1, 3)
    in_right = left @ calib.R.T + calib.T
    uv = (in_right @ seq.K.T)[:, :2] / in_right[:, 2:]
    inside = (uv[:, 0] > 0) & (uv[:, 0] < W - 1)
    cols, rows = np.round(uv[inside]).astype(int).T
    # the plane varies with y only, and a horizontal baseline keeps rows: depth must agree exactly
    np.testing.assert_allclose(seq.right_xyz[0][rows, cols, 2], in_right[inside, 2], rtol=1e-4)
    assert calib.T[0] == pytest.approx(-seq.baseline_mm)


def test_field_of_view_mask_is_a_circle_with_nan_depth_and_black_pixels(make_plane):
    seq = render_scene(make_plane(50.0), W, H, SynthSettings(fov_mask=True, fov_radius=0.9), seed=0)
    u, v = np.meshgrid(np.arange(W) - (W - 1) / 2, np.arange(H) - (H - 1) / 2)
    expected = np.hypot(u, v) <= 0.9 * W / 2
    np.testing.assert_array_equal(seq.fov_mask, expected)
    assert np.isnan(seq.depth[0][~expected]).all()
    assert np.isfinite(seq.depth[0][expected]).all()
    outside = np.hypot(u, v) > 0.9 * W / 2 + 1
    assert (seq.rgb[0][outside] == 0).all()
    assert seq.rgb[0][expected].mean() > 20


def test_random_settings_are_seeded_and_render():
    a = random_settings(np.random.default_rng(5))
    assert a == random_settings(np.random.default_rng(5))
    assert a != random_settings(np.random.default_rng(6))
    seq = render_sequence(2, W, H, seed=5, scene="random")
    assert seq.rgb.shape == (2, H, W, 3) and seq.rgb.dtype == np.uint8
    assert seq.depth.shape == (2, H, W) and seq.depth.dtype == np.float32
    assert np.isfinite(seq.depth).mean() > 0.3


def test_heldout_seeds():
    assert not is_heldout(999_999) and is_heldout(1_000_000)


def test_unknown_setting_is_refused():
    with pytest.raises(TypeError, match="nonsense"):
        render_sequence(1, W, H, seed=0, nonsense=1)
