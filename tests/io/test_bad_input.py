"""Bad input raises InputError whose message names the file and the problem (never a raw traceback)."""

import shutil
import tarfile

import cv2
import numpy as np
import pytest
import tifffile
from io_fixtures import H, W, smooth_frames

from endodepth.cli import main
from endodepth.errors import InputError
from endodepth.io.detect import open_source
from endodepth.io.splits import read_split


def expect(path, problem, fn=open_source):
    with pytest.raises(InputError, match=problem) as info:
        fn(path)
    assert str(path) in str(info.value)
    return info.value


def test_text_file_named_mp4(tmp_path):
    path = tmp_path / "clip.mp4"
    path.write_text("this is not a video\n" * 50)
    expect(path, "cannot be opened as a video")


def test_truncated_mp4(tmp_path):
    path = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (W, H))
    for f in smooth_frames(np.random.default_rng(0), 10, H, W):
        writer.write(f)
    writer.release()
    assert len(open_source(path)) == 10
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    expect(path, "cannot be opened as a video .*truncated")


def test_missing_path(tmp_path):
    expect(tmp_path / "nope", "no such file or folder")


def test_empty_folder(tmp_path):
    expect(tmp_path, "empty folder")


def test_folder_of_non_images(tmp_path):
    (tmp_path / "a.txt").write_text("x")
    (tmp_path / "b.csv").write_text("1,2")
    expect(tmp_path, r"no images \(png/jpg/jpeg/tif/tiff\)")


def test_file_named_png_that_is_not_an_image(tmp_path):
    (tmp_path / "0001.png").write_text("not a png")
    err = expect(tmp_path, "cannot be read as an image")
    assert err.path.name == "0001.png"


def test_scared_missing_calibration(keyframe):
    (keyframe.folder / "endoscope_calibration.yaml").unlink()
    err = expect(keyframe.folder, "calibration file not found")
    assert err.path.name == "endoscope_calibration.yaml"


def test_scared_malformed_calibration(keyframe):
    (keyframe.folder / "endoscope_calibration.yaml").write_text("%YAML:1.0\nM1: [1, 2\n  }}} :\n")
    err = expect(keyframe.folder, "not a readable OpenCV YAML calibration")
    assert err.path.name == "endoscope_calibration.yaml"


def test_keyframe_tiff_of_wrong_shape(keyframe):
    shutil.rmtree(keyframe.folder / "data")
    tiff = keyframe.folder / "left_depth_map.tiff"
    tifffile.imwrite(tiff, np.ones((H, W), np.float32))
    source = open_source(keyframe.folder)
    with pytest.raises(
        InputError, match=rf"expected an HxWx3 float XYZ image, found shape \({H}, {W}\)"
    ) as info:
        source.frame(0)
    assert info.value.path == tiff


def test_scene_points_member_of_wrong_shape(keyframe):
    archive = keyframe.folder / "data" / "scene_points.tar.gz"
    bad = keyframe.folder / "scene_points000001.tiff"
    tifffile.imwrite(bad, np.ones((H, W, 3), np.float32), photometric="rgb")  # one view, not stacked
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(bad, arcname=bad.name)
    source = open_source(keyframe.folder)
    assert source.frame(0).gt_depth is None  # not in the archive: no ground truth for that frame
    with pytest.raises(
        InputError, match=rf"expected shape \({2 * H}, {W}, 3\).*found \({H}, {W}, 3\)"
    ) as info:
        source.frame(1)
    assert str(info.value.path).endswith("scene_points.tar.gz/scene_points000001.tiff")


def test_split_file_with_bad_line(tmp_path):
    path = tmp_path / "test_files.txt"
    path.write_text("dataset1/keyframe3\t2\tl\ndataset1 keyframe3 10\n")
    expect(
        path,
        r"line 2: expected 'datasetN/keyframeM<TAB>INDEX<TAB>l\|r', found 'dataset1 keyframe3 10'",
        read_split,
    )
    path.write_text("dataset1/keyframe3\t0\tl\n")
    expect(path, "line 1: frame index must be 1-based", read_split)


def test_cli_reports_one_line(tmp_path, capsys):
    path = tmp_path / "clip.mp4"
    path.write_text("nope")
    assert main(["info", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert (
        err
        == f"endodepth info: error: {path}: cannot be opened as a video (not a video, or truncated/damaged)"
    )


def test_scene_points_archive_not_gzip(keyframe):
    archive = keyframe.folder / "data" / "scene_points.tar.gz"
    archive.write_text("not an archive")
    with pytest.raises(InputError, match=r"not a readable tar\.gz archive") as info:
        open_source(keyframe.folder).frame(0)
    assert info.value.path == archive


def test_scene_points_archive_truncated(keyframe):
    archive = keyframe.folder / "data" / "scene_points.tar.gz"
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) // 2])
    source = open_source(keyframe.folder)
    assert source.frame(0).gt_depth is not None
    with pytest.raises(InputError, match="cannot be read from the archive") as info:
        source.frame(3)
    assert info.value.path == archive / "scene_points000003.tiff"


def _plain(tmp_path):
    from endodepth.io.calibration import default_intrinsics
    from endodepth.io.plain import write_plain

    frames = smooth_frames(np.random.default_rng(0), 2, H, W)
    depths = np.full((2, H, W), 50.0, np.float32)
    return write_plain(tmp_path / "plain", frames, depths, default_intrinsics(W, H), None, 25.0)


def test_plain_depth_of_wrong_shape(tmp_path):
    folder = _plain(tmp_path)
    np.savez(folder / "depth" / "000001.npz", depth=np.zeros((10, 12), np.float32))
    source = open_source(folder)
    assert source.frame(0).gt_depth.shape == (H, W)
    problem = rf"depth of shape \(10, 12\) does not match the {W}x{H} frames"
    expect(folder / "depth" / "000001.npz", problem, lambda _: source.frame(1))


def test_plain_frame_of_other_size_than_meta(tmp_path):
    folder = _plain(tmp_path)
    cv2.imwrite(str(folder / "frames" / "000001.png"), np.zeros((H // 2, W, 3), np.uint8))
    source = open_source(folder)
    expect(folder / "frames" / "000001.png", rf"is {W}x{H // 2}, meta.json says {W}x{H}", lambda _: source.frame(1))


def test_calibration_beside_frames_of_another_size(tmp_path):
    from endodepth.io.calibration import StereoCalibration, default_intrinsics, write_calibration

    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((H, W, 3), np.uint8))
    def calibrate(K):
        calib = StereoCalibration(K, [0] * 5, K, [0] * 5, np.eye(3), [-4, 0, 0])
        write_calibration(tmp_path / "endoscope_calibration.yaml", calib)

    calibrate(own := default_intrinsics(W, H))
    np.testing.assert_array_equal(open_source(tmp_path / "a.png").frame(0).K, own)
    calibrate(default_intrinsics(4 * W, 4 * H))
    expect(
        tmp_path / "endoscope_calibration.yaml",
        rf"principal point \({2 * W}, {2 * H}\) is far from the centre of the {W}x{H} frames",
        lambda _: open_source(tmp_path / "a.png"),
    )
