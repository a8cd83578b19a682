"""Stereo sources: side-by-side and stacked videos with a calibration beside them, SCARED keyframes'
right views and per-frame calibration, calibration shapes, and the mono refusal."""

import cv2
import numpy as np
import pytest
from io_fixtures import make_calib, smooth_frames

from endodepth.errors import InputError
from endodepth.io.calibration import read_calibration, write_calibration
from endodepth.io.detect import open_source
from endodepth.io.stereo import MONO, detect_layout, is_stereo_source, require_stereo
from endodepth.io.video import write_video

H, W = 64, 80


def _pair_video(folder, layout: str, with_calib: bool = True):
    rng = np.random.default_rng(0)
    left, right = smooth_frames(rng, 3, H, W), smooth_frames(rng, 3, H, W)
    axis = 2 if layout == "sbs" else 1
    video = write_video(folder / "pair.mp4", np.concatenate([left, right], axis=axis), 10.0)
    if with_calib:
        write_calibration(folder / "endoscope_calibration.yaml", make_calib(W, H))
    return video, left, right


def test_side_by_side_video_is_detected_from_the_calibration_beside_it(tmp_path):
    video, left, right = _pair_video(tmp_path, "sbs")
    with open_source(video) as source:
        assert source.kind == "stereo-video" and source.size == (W, H) and source.describe()["stereo"] == "sbs"
        frame = source.frame(1)
    assert frame.is_stereo and frame.rgb.shape == frame.right.shape == (H, W, 3)
    assert np.abs(frame.rgb.astype(int) - left[1]).mean() < 8 and np.abs(frame.right.astype(int) - right[1]).mean() < 8
    np.testing.assert_allclose(frame.K, make_calib(W, H).K1)
    assert frame.stereo.baseline_mm == pytest.approx(np.hypot(4.2, 0.1))


def test_stacked_video_opens_as_stereo_when_asked(tmp_path):
    video, _left, right = _pair_video(tmp_path, "stacked")
    with open_source(video, stereo="stacked") as source:
        frame = source.frame(0)
    assert frame.rgb.shape == (H, W, 3) and np.abs(frame.right.astype(int) - right[0]).mean() < 8


def test_layout_is_not_guessed_for_a_calibration_of_the_whole_frame():
    calib = make_calib(W, H)
    assert detect_layout(calib, (2 * W, H)) == "sbs"
    assert detect_layout(calib, (W, 2 * H)) == "stacked"
    assert detect_layout(calib, (W, H)) is None


def test_a_mono_video_is_refused_by_a_stereo_model_naming_it(tmp_path):
    video, *_ = _pair_video(tmp_path, "sbs", with_calib=False)
    with open_source(video) as source:
        assert source.kind == "video"
        with pytest.raises(InputError, match=r"pair.mp4: is a mono source: stereo needs a right view"):
            require_stereo(source, "stereo", True)
        require_stereo(source, "default", False)


def test_stereo_layout_without_a_calibration_is_one_line(tmp_path):
    video, *_ = _pair_video(tmp_path, "sbs", with_calib=False)
    with pytest.raises(InputError, match="stereo video needs a calibration beside it"):
        open_source(video, stereo="sbs")


@pytest.mark.parametrize("n_dist", [4, 5, 8, 12, 14])
@pytest.mark.parametrize("t_shape", [(3, 1), (1, 3)])
def test_calibration_accepts_every_distortion_length_and_both_shapes_of_T(tmp_path, n_dist, t_shape):
    path = tmp_path / "calib.yaml"
    K = make_calib(W, H).K1
    fs = cv2.FileStorage(str(path), cv2.FILE_STORAGE_WRITE)
    for key, value in (("M1", K), ("D1", np.full((1, n_dist), 0.01)), ("M2", K), ("D2", np.zeros((1, n_dist))),
                       ("R", np.eye(3)), ("T", np.array([-4.1, 0.02, 0.0]).reshape(t_shape))):
        fs.write(key, value)
    fs.release()
    calib = read_calibration(path)
    assert calib.D1.shape == (n_dist,) and calib.T.tolist() == pytest.approx([-4.1, 0.02, 0.0])
    assert not calib.rectified and calib.path == path


def test_rectified_pairs_are_recognised(tmp_path):
    calib = make_calib(W, H)
    calib.T = np.array([-4.0, 0.0, 0.0])
    assert read_calibration(write_calibration(tmp_path / "c.yaml", calib)).rectified


def test_scared_keyframe_frames_carry_the_right_view_and_the_frame_data_calibration(keyframe):
    with open_source(keyframe.folder) as source:
        frame = source.frame(2)
    assert frame.is_stereo
    assert np.abs(frame.right.astype(int) - keyframe.right[2]).mean() < 8
    assert frame.stereo.path.name == "frame_data000002.json"  # the per-frame calibration
    np.testing.assert_allclose(frame.stereo.K2, keyframe.calib.K2)


def test_keyframe_without_video_uses_right_image_png(keyframe):
    (keyframe.folder / "data" / "rgb.mp4").unlink()
    with open_source(keyframe.folder) as source:
        frame = source.frame(0)
    assert frame.is_stereo and frame.stereo.path.name == "endoscope_calibration.yaml"
    assert np.array_equal(frame.right, keyframe.right[0])


def test_mono_layout_opens_a_stereo_video_as_one_view(tmp_path):
    video, *_ = _pair_video(tmp_path, "sbs")
    with open_source(video, stereo=MONO) as source:
        assert source.kind == "video" and source.size == (2 * W, H) and not is_stereo_source(source)
        assert source.intrinsics_assumed  # the calibration beside it is for one view, not the whole frame
    with open_source(video) as source:
        assert is_stereo_source(source)
