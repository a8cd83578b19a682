"""The writer produces SCARED's files, read back with independent readers (cv2, tifffile, tarfile)."""

import json
import tarfile

import cv2
import numpy as np
import pytest
from io_fixtures import smooth_frames

from endodepth.io.calibration import read_calibration
from endodepth.io.video import write_video


def test_layout(keyframe):
    names = sorted(str(p.relative_to(keyframe.folder)) for p in keyframe.folder.rglob("*") if p.is_file())
    assert names == [
        "Left_Image.png",
        "Right_Image.png",
        "data/frame_data.tar.gz",
        "data/rgb.mp4",
        "data/scene_points.tar.gz",
        "endoscope_calibration.yaml",
        "left_depth_map.tiff",
        "right_depth_map.tiff",
    ]


def test_keyframe_images_and_tiffs(keyframe):
    left = cv2.imread(str(keyframe.folder / "Left_Image.png"), cv2.IMREAD_COLOR)[..., ::-1]
    np.testing.assert_array_equal(left, keyframe.left[0])
    right = cv2.imread(str(keyframe.folder / "Right_Image.png"), cv2.IMREAD_COLOR)[..., ::-1]
    np.testing.assert_array_equal(right, keyframe.right[0])
    # AF-SfMLearner reads with cv2 flag 3: channels come back reversed, so [..., 0] is Z; NaN kept.
    tiff = cv2.imread(str(keyframe.folder / "left_depth_map.tiff"), 3)
    assert tiff.dtype == np.float32 and tiff.shape == (64, 80, 3)
    np.testing.assert_array_equal(tiff[..., ::-1], keyframe.left_xyz[0])
    assert np.isnan(tiff[5:12, 10:20]).all()
    np.testing.assert_array_equal(
        read_calibration(keyframe.folder / "endoscope_calibration.yaml").K1, keyframe.calib.K1
    )


def test_video_is_left_over_right(keyframe):
    cap = cv2.VideoCapture(str(keyframe.folder / "data/rgb.mp4"))
    assert cap.get(cv2.CAP_PROP_FPS) == 10.0
    frames = []
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        frames.append(bgr[..., ::-1])
    assert len(frames) == 4 and frames[0].shape == (128, 80, 3)
    for i, f in enumerate(frames):
        expected = np.concatenate([keyframe.left[i], keyframe.right[i]]).astype(float)
        assert np.abs(f - expected).mean() < 6  # mp4v is lossy


def test_scene_points_and_frame_data(keyframe):
    with tarfile.open(keyframe.folder / "data/scene_points.tar.gz") as tar:
        assert tar.getnames() == [f"scene_points{i:06d}.tiff" for i in range(4)]
        member = tar.extractfile("scene_points000002.tiff").read()
    path = keyframe.folder / "sp.tiff"
    path.write_bytes(member)
    img = cv2.imread(str(path), 3)[..., ::-1]
    assert img.shape == (128, 80, 3) and img.dtype == np.float32
    left, right = img[:64], img[64:]
    hole = np.isnan(keyframe.left_xyz[2]).any(-1)
    assert (left[hole] == 0).all() and not np.isnan(img).any()
    np.testing.assert_array_equal(left[~hole], keyframe.left_xyz[2][~hole])
    rhole = np.isnan(keyframe.right_xyz[2]).any(-1)
    np.testing.assert_array_equal(right[~rhole], keyframe.right_xyz[2][~rhole])

    with tarfile.open(keyframe.folder / "data/frame_data.tar.gz") as tar:
        data = json.load(tar.extractfile("frame_data000003.json"))
    np.testing.assert_array_equal(np.array(data["camera-pose"]), keyframe.poses[3])
    cal = data["camera-calibration"]
    np.testing.assert_array_equal(np.array(cal["KL"]), keyframe.calib.K1)
    np.testing.assert_array_equal(np.array(cal["KR"]), keyframe.calib.K2)
    assert np.array(cal["T"]).shape == (3, 1) and set(cal) == {"KL", "KR", "DL", "DR", "R", "T"}


def test_no_temp_files_left(keyframe):
    assert not [p for p in keyframe.folder.rglob(".*")]


def test_video_from_a_generator_equals_video_from_an_array(tmp_path):
    frames = smooth_frames(np.random.default_rng(5), 3, 32, 48)
    write_video(tmp_path / "a.mp4", frames, 10.0)
    write_video(tmp_path / "g.mp4", (f for f in frames), 10.0)
    assert (tmp_path / "a.mp4").read_bytes() == (tmp_path / "g.mp4").read_bytes()
    cap = cv2.VideoCapture(str(tmp_path / "g.mp4"))
    assert cap.get(cv2.CAP_PROP_FRAME_COUNT) == 3 and cap.get(cv2.CAP_PROP_FRAME_WIDTH) == 48
    cap.release()
    with pytest.raises(ValueError, match="no frames to write"):
        write_video(tmp_path / "e.mp4", iter(()), 10.0)
