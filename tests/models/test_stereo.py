"""The `stereo` model: triangulation of an analytic plane, the raw <-> rectified round trip on a
distorted calibration, and the refusals (mono frames, mismatched sizes, degenerate geometry)."""

import cv2
import numpy as np
import pytest

from endodepth import models
from endodepth.errors import EndoDepthError, InputError
from endodepth.frame import Frame, StereoCalibration
from endodepth.models.stereo_geometry import Rectification, estimate_vertical_offset

W, H, F, B = 480, 384, 420.0, 4.5


def _texture(seed: int, w: int, h: int) -> np.ndarray:
    """Tissue-like texture: blurred noise at two scales, 8-bit grey."""
    rng = np.random.default_rng(seed)
    fine = cv2.GaussianBlur(rng.random((h, w)).astype(np.float32), (0, 0), 1.0)
    coarse = cv2.resize(rng.random((h // 8, w // 8)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    img = 0.6 * (fine - fine.min()) / np.ptp(fine) + 0.4 * np.clip(coarse, 0, 1)
    return np.uint8(40 + 170 * img)


def _rgb(grey: np.ndarray) -> np.ndarray:
    return np.repeat(grey[..., None], 3, axis=-1)


def _rectified_calib() -> StereoCalibration:
    K = np.array([[F, 0, W / 2], [0, F, H / 2], [0, 0, 1]])
    return StereoCalibration(K, np.zeros(5), K, np.zeros(5), np.eye(3), [-B, 0, 0], image_size=(W, H), rectified=True)


def _plane_pair(a: float, b: float, c: float):
    """A rectified pair of a textured plane whose disparity is a*u + b*v + c, and its exact depth."""
    left = _texture(0, W, H)
    u, v = np.meshgrid(np.arange(W, dtype=np.float32), np.arange(H, dtype=np.float32))
    # the right pixel u_r sees the left pixel u_l with u_l - d(u_l, v) = u_r
    map_x = (u + b * v + c) / (1 - a)
    right = cv2.remap(left, map_x, v, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return left, right, F * B / (a * u + b * v + c)


def test_triangulates_a_slanted_plane_to_its_analytic_depth():
    left, right, depth = _plane_pair(0.04, 0.02, 30.0)  # 46..62 mm across the image
    frame = Frame(0, 0.0, _rgb(left), _rectified_calib().K1, False, right=_rgb(right), stereo=_rectified_calib())
    result = models.create("stereo").predict_frame(frame)
    ok = np.isfinite(result.output)
    assert result.kind == "metric-mm" and result.output.shape == (H, W)
    assert ok.mean() > 0.7  # all but the left band no right pixel can match
    rel = np.abs(result.output[ok] - depth[ok]) / depth[ok]
    assert np.median(rel) < 0.01 and np.mean(rel) < 0.02
    assert result.confidence.shape == (H, W) and np.all(result.confidence[~ok] == 0) and result.confidence[ok].mean() > 0.2


def test_left_border_is_matched_where_the_right_view_sees_it():
    """SGBM alone leaves its whole disparity range of left columns unmatched (96 px here: 20 mm at half scale);
    with both views padded, columns whose match lies inside the right view (disparity 30 px < u) get depth."""
    left, right, depth = _plane_pair(0.0, 0.0, 30.0)  # a fronto-parallel plane at 63 mm
    frame = Frame(0, 0.0, _rgb(left), _rectified_calib().K1, False, right=_rgb(right), stereo=_rectified_calib())
    model = models.create("stereo")
    out = model.predict_frame(frame).output
    unmatched_before = 2 * model.geometry(frame)[1].sgbm.getNumDisparities()
    band = out[20:-20, 45:unmatched_before]
    assert unmatched_before >= 90 and np.isfinite(band).mean() > 0.8
    assert np.nanmedian(np.abs(band - depth[20:-20, 45:unmatched_before])) < 0.5


def _distorted_calib() -> StereoCalibration:
    K1 = np.array([[F, 0, W / 2 - 7], [0, F * 1.01, H / 2 + 5], [0, 0, 1]])
    K2 = np.array([[F * 1.02, 0, W / 2 + 9], [0, F * 1.02, H / 2 - 4], [0, 0, 1]])
    R = cv2.Rodrigues(np.array([0.01, -0.03, 0.02]))[0]
    return StereoCalibration(K1, [-0.12, 0.05, 0.001, -0.002, 0.0], K2, [-0.1, 0.03, 0, 0, 0, 0, 0, 0], R,
                             [-B, 0.15, 0.1], image_size=(W, H))


def test_raw_rectified_raw_round_trip_gives_the_raw_cameras_depth():
    """Points of a plane in the raw left camera: their exact rectified disparity, sent back through
    `raw_depth`, is their own z at the raw pixel where K1/D1 project them."""
    calib = _distorted_calib()
    rect = Rectification(calib, (W, H), scale=0.5)
    n, h = np.array([0.2, -0.1, 1.0]), 60.0  # plane n . X = h in the raw left camera
    # exact rectified disparity on the rectified grid: intersect each rectified ray with the plane
    ws, hs = rect.match_size
    u, v = np.meshgrid(np.arange(ws, dtype=np.float64), np.arange(hs, dtype=np.float64))
    rays = np.stack([(u - rect.P1[0, 2]) / rect.P1[0, 0], (v - rect.P1[1, 2]) / rect.P1[1, 1], np.ones_like(u)], -1)
    n_rect = rect.R1 @ n  # the plane in the rectified frame (same origin)
    z_rect = h / (rays @ n_rect)
    disparity = (rect.focal * rect.baseline_mm / z_rect).astype(np.float32)
    depth = rect.raw_depth(disparity)
    # raw pixels of 3D points of the plane, projected with the distortion
    rng = np.random.default_rng(1)
    xy = rng.uniform([-18, -14], [18, 14], (200, 2))
    z = (h - xy @ n[:2]) / n[2]
    points = np.c_[xy, z]
    pix, _ = cv2.projectPoints(points, np.zeros(3), np.zeros(3), calib.K1, calib.D1)
    pix = pix.reshape(-1, 2)
    inside = (pix[:, 0] > 2) & (pix[:, 0] < W - 3) & (pix[:, 1] > 2) & (pix[:, 1] < H - 3)
    assert inside.sum() > 150
    ui, vi = np.round(pix[inside]).astype(int).T
    # the rounded pixel sees a nearby point of the same plane: its exact depth along that pixel's ray
    ray = cv2.undistortPoints(np.c_[ui, vi].astype(np.float64).reshape(-1, 1, 2), calib.K1, calib.D1).reshape(-1, 2)
    expected = h / (np.c_[ray, np.ones(len(ray))] @ n)
    got = depth[vi, ui]
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, expected, rtol=2e-3)
    assert abs(np.median(z[inside]) - np.median(got)) / np.median(got) < 0.05  # and they are the points' depths


def test_vertical_offset_is_found_from_feature_matches():
    left = _texture(3, W, H)
    shifted = cv2.warpAffine(left, np.float32([[1, 0, -12], [0, 1, 1.5]]), (W, H), borderMode=cv2.BORDER_REFLECT)
    assert estimate_vertical_offset(left, shifted, 64) == pytest.approx(1.5, abs=0.3)


def test_stereo_recovers_depth_despite_a_residual_vertical_offset():
    left, right, depth = _plane_pair(0.0, 0.0, 24.0)
    right = cv2.warpAffine(right, np.float32([[1, 0, 0], [0, 1, 2.0]]), (W, H), borderMode=cv2.BORDER_REFLECT)
    calib = _rectified_calib()
    frame = Frame(0, 0.0, _rgb(left), calib.K1, False, right=_rgb(right), stereo=calib)
    with_search = models.create("stereo").predict_frame(frame).output
    without = models.create("stereo", vertical_search=False).predict_frame(frame).output
    ok = np.isfinite(with_search)
    assert ok.mean() > 0.7
    assert np.median(np.abs(with_search[ok] - depth[ok]) / depth[ok]) < 0.01
    assert np.isfinite(without).mean() < ok.mean()


def test_mono_frames_are_refused_in_one_line():
    model = models.create("stereo")
    rgb = _rgb(_texture(0, W, H))
    with pytest.raises(InputError, match=r"^clip.mp4: is a mono source"):
        model.predict_frame(Frame(0, 0.0, rgb, np.eye(3), source="clip.mp4"))
    with pytest.raises(EndoDepthError, match="needs a stereo frame"):
        model.predict(rgb)
    assert model.layer_names() == [] and model.needs_stereo


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(T=[0.0, 0.0, 0.0]), "baseline |T| is 0"),
        (dict(image_size=(640, 512)), "calibration is for 640x512 views, the frames are 480x384"),
        (dict(T=[B, 0.0, 0.0]), "views swapped"),
    ],
)
def test_bad_geometry_is_one_line_naming_the_file(tmp_path, change, message):
    calib = _rectified_calib()
    fields = {**dict(K1=calib.K1, D1=calib.D1, K2=calib.K2, D2=calib.D2, R=calib.R, T=calib.T,
                     image_size=calib.image_size), **change}
    bad = StereoCalibration(**fields, path=tmp_path / "endoscope_calibration.yaml")
    rgb = _rgb(_texture(0, W, H))
    with pytest.raises(InputError) as err:
        models.create("stereo").predict_frame(Frame(0, 0.0, rgb, calib.K1, False, right=rgb, stereo=bad))
    assert str(err.value).startswith(str(tmp_path / "endoscope_calibration.yaml")) and message in str(err.value)
    assert "\n" not in str(err.value)


def test_left_and_right_of_different_sizes_are_refused():
    calib = _rectified_calib()
    rgb = _rgb(_texture(0, W, H))
    frame = Frame(0, 0.0, rgb, calib.K1, False, right=rgb[:-2], stereo=calib, source="pair.mp4")
    with pytest.raises(InputError, match=r"^pair.mp4: left view is 480x384 but right view is 480x382"):
        models.create("stereo").predict_frame(frame)


def test_far_matches_in_the_padded_left_strip_are_rejected():
    """A strip column whose match left the right view finds a spurious small disparity: dropped, unlike its
    neighbours at the band's disparity (the synthetic 1280x1024 clip's strip had abs_rel 6 before this)."""
    from endodepth.models.stereo import StereoMatcher

    pad = 16
    disparity = np.full((20, 80), 12.0, dtype=np.float32)
    disparity[:, 3] = 2.0  # far too far beside a band at 12 px
    disparity[:10, pad:2 * pad] = np.nan  # rows with no band beside the strip keep no strip match
    StereoMatcher._reject_far_border_matches(disparity, pad)
    assert np.isnan(disparity[:, 3]).all()
    assert np.isnan(disparity[:10, :pad]).all()
    assert (disparity[10:, 4:pad] == 12.0).all() and (disparity[10:, pad:] == 12.0).all()
