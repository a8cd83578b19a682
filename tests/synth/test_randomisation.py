"""Generator version 2 (domain randomisation) and the held-out style: instruments, light, camera, ranges."""

import numpy as np
import pytest

from endodepth.synth import SynthSettings, View, random_settings, render_scene, render_view
from endodepth.synth.camera import intrinsics, pixel_rays
from endodepth.synth.heldout_style import HELDOUT_TISSUES, heldout_style_settings
from endodepth.synth.instruments import Capsule, Instrument, cast
from endodepth.synth.lighting import Lighting
from endodepth.synth.render import add_instruments
from endodepth.synth.settings import SURFACE_TISSUES, TUBE_TISSUES

W, H = 80, 64


def _shaft(start, axis, length=200.0, radius=3.0, frames=1) -> Instrument:
    axis = np.asarray(axis, float) / np.linalg.norm(axis)
    return Instrument((Capsule(np.asarray(start, float), axis, length, radius),), np.full(3, 0.2, np.float32),
                      1.0, 40.0, np.zeros((frames, 3)))


def test_version_1_is_the_default_and_version_2_keeps_its_scene():
    v1 = random_settings(np.random.default_rng(11))
    assert v1 == random_settings(np.random.default_rng(11), version=1)
    v2 = random_settings(np.random.default_rng(11), version=2)
    same = ("scene", "tube_radius", "distance", "tilt", "fold_count", "tissues", "speed", "roll")
    assert all(getattr(v1, f) == getattr(v2, f) for f in same)
    assert v2.falloff != 2.0 and v2.texture_scale != 1.0
    with pytest.raises(ValueError, match="version"):
        random_settings(np.random.default_rng(0), version=3)


def test_a_shaft_across_the_view_has_its_analytic_depth():
    # a shaft along x at depth 40 mm, 3 mm radius: the ray through the centre row hits it at 40 - 3 mm
    K = intrinsics(W, H, 0.82)
    rays = pixel_rays(K, W, H).reshape(-1, 3).astype(np.float64)
    t, normal = cast(_shaft([-100.0, 0.0, 40.0], [1, 0, 0]), rays, 0)
    centre = (H // 2) * W + W // 2
    ray = rays[centre]
    # exact: |t*ray - (., 0, 40)| in y, z = 3  ->  (t ry)^2 + (t - 40)^2 = 9
    a, b, c = ray[1] ** 2 + 1, -80.0, 1600.0 - 9.0
    assert t[centre] == pytest.approx((-b - np.sqrt(b * b - 4 * a * c)) / (2 * a), rel=1e-9)
    assert normal[centre] @ np.array([0, 0, -1.0]) > 0.99
    assert np.isinf(t[0]) and np.isinf(t[-1])  # the top and bottom rows miss a 6 mm shaft at 40 mm


def test_instruments_cover_the_tissue_in_front_of_it_and_hide_behind_it(make_plane):
    settings = SynthSettings(fov_mask=False, instruments=2)
    seq = render_scene(make_plane(60.0), 160, 128, settings, seed=3, stereo=True)
    plain = render_scene(make_plane(60.0), 160, 128, settings.replace(instruments=0), seed=3)
    covered = seq.depth[0] < 60.0 - 1e-3
    assert 0.01 < covered.mean() < 0.8  # some instrument, not all of the view
    assert (seq.depth[0][~covered] == pytest.approx(60.0, rel=1e-5))
    assert np.abs(seq.rgb[0][covered].astype(int) - plain.rgb[0][covered].astype(int)).mean() > 5
    assert (seq.right_depth[0] < 60.0 - 1e-3).any()


def test_a_shaft_hides_behind_nearer_tissue_and_fills_where_there_is_none():
    K = intrinsics(W, H, 0.82)
    depth = np.full((H, W), 100.0, np.float32)
    depth[:, : W // 2] = 30.0  # tissue in front of the 40 mm shaft on the left
    depth[:, -5:] = np.nan  # no surface on the far right
    view = View(depth.copy(), np.ones((H, W, 3), np.float32))
    add_instruments(view, [_shaft([-100.0, 0.0, 40.0], [1, 0, 0])], 0, K, Lighting(), np.ones((H, W), bool),
                    np.zeros(3))
    row = view.depth[H // 2]
    np.testing.assert_array_equal(row[: W // 2], 30.0)
    assert (row[W // 2:] < 40.0).all() and (row[W // 2:] > 36.9).all()
    assert (view.radiance[H // 2, W // 2:] != 1.0).all() and (view.radiance[H // 2, : W // 2] == 1.0).all()
    np.testing.assert_array_equal(view.depth[0], depth[0], strict=False)  # rows the shaft misses are unchanged


def test_centred_light_is_unchanged_and_an_offset_one_moves_the_bright_spot(make_plane):
    K = intrinsics(W, H, 0.82)
    centred = render_view(make_plane(30.0), np.eye(4), K, W, H, spot_exponent=4.0).radiance
    same = render_view(make_plane(30.0), np.eye(4), K, W, H, lighting=Lighting(4.0)).radiance
    np.testing.assert_array_equal(centred, same)
    tilted = render_view(make_plane(30.0), np.eye(4), K, W, H, lighting=Lighting(4.0, tilt=(20.0, 0.0))).radiance
    cols = np.arange(W)
    centroid = [(r.sum(axis=(0, 2)) * cols).sum() / r.sum() for r in (centred, tilted)]
    assert centroid[1] > centroid[0] + 2  # the spot points right, so the right side is brighter
    slow = render_view(make_plane(80.0), np.eye(4), K, W, H, lighting=Lighting(4.0, falloff=1.0)).radiance
    far = render_view(make_plane(80.0), np.eye(4), K, W, H, lighting=Lighting(4.0)).radiance
    distance = 80.0 * np.linalg.norm(pixel_rays(K, W, H), axis=2)  # irradiance ~ (50 / d)^1 instead of ^2
    np.testing.assert_allclose(slow[..., 0] / far[..., 0], distance / 50.0, rtol=1e-4)


def test_heldout_style_draws_only_what_training_never_draws():
    train = [random_settings(np.random.default_rng(s), version=v) for s in range(150) for v in (1, 2)]
    held = [heldout_style_settings(np.random.default_rng(1_000_000 + s)) for s in range(50)]
    assert set(HELDOUT_TISSUES).isdisjoint(TUBE_TISSUES + SURFACE_TISSUES)
    assert all(set(h.tissues) <= set(HELDOUT_TISSUES) for h in held)
    for name in ("falloff", "texture_scale", "gamma", "saturation", "spot_exponent"):
        lo, hi = min(getattr(t, name) for t in train), max(getattr(t, name) for t in train)
        values = [getattr(h, name) for h in held]
        assert all(v < lo for v in values) or all(v > hi for v in values), name
    assert all(len(h.lights) == 2 and np.hypot(*h.lights[0]) > 4.4 for h in held)
    # the spot tilt: training draws each axis within 12 deg, the held-out style 14-20 deg in any direction
    # (beyond training's reach except near its diagonals, which reach 17 deg)
    assert min(np.hypot(*h.light_tilt) for h in held) > max(np.abs(t.light_tilt).max() for t in train) + 1.9
