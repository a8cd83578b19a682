"""Readers return what the writers wrote: frames, K, depth, pose, and the SCARED index conventions."""

import shutil

import cv2
import numpy as np
import pytest
import tifffile
from io_fixtures import FPS, H, W, make_calib, make_keyframe, smooth_frames

from endodepth.io.calibration import default_intrinsics, write_calibration
from endodepth.io.detect import open_source
from endodepth.io.plain import write_plain
from endodepth.io.source import VideoSource
from endodepth.io.splits import SplitEntry, read_split, split_source


def write_video(path, frames, fps=25.0):
    writer = cv2.VideoWriter(
        str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (frames.shape[2], frames.shape[1])
    )
    for f in frames:
        writer.write(f[..., ::-1])
    writer.release()


def decode_all(path):
    cap, out = cv2.VideoCapture(str(path)), []
    while True:
        ok, bgr = cap.read()
        if not ok:
            return out
        out.append(bgr[..., ::-1])


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("video") / "clip.mp4"
    write_video(path, smooth_frames(np.random.default_rng(3), 40, H, W))
    return path


def test_video_seek_is_exact(clip):
    reference = decode_all(clip)
    with VideoSource(clip) as src:
        assert len(src) == len(reference) == 40 and src.size == (W, H) and src.fps == 25.0
        for i in [17, 3, 39, 0, 12, 13, 14, 31, 5, 5, 38, 20]:
            np.testing.assert_array_equal(src.frame(i).rgb, reference[i], err_msg=f"frame {i}")
        np.testing.assert_array_equal(src[-1].rgb, reference[-1])
        seq = list(src)
    assert [f.index for f in seq] == list(range(40))
    for f, ref in zip(seq, reference, strict=True):
        np.testing.assert_array_equal(f.rgb, ref)
    assert seq[10].time == pytest.approx(10 / 25.0)


def test_video_intrinsics_default_or_beside(clip, tmp_path):
    with VideoSource(clip) as src:
        assert src.intrinsics_assumed and src.frame(0).K_assumed
        np.testing.assert_array_equal(src.intrinsics, default_intrinsics(W, H))
    copy = tmp_path / "case.mp4"
    shutil.copy(clip, copy)
    write_calibration(tmp_path / "case.yaml", make_calib())
    with open_source(copy) as src:
        assert src.kind == "video" and not src.intrinsics_assumed
        np.testing.assert_array_equal(src.frame(3).K, make_calib().K1)


def test_image_folder_natural_order(tmp_path):
    frames = smooth_frames(np.random.default_rng(1), 4, H, W)
    names = ["f2.png", "f10.png", "f1.tif", "F3.PNG"]  # natural order: f1, f2, F3, f10
    for name, rgb in zip(names, frames, strict=True):
        cv2.imwrite(str(tmp_path / name), rgb[..., ::-1])
    (tmp_path / "notes.txt").write_text("not an image")
    src = open_source(tmp_path)
    assert src.kind == "image-folder" and len(src) == 4 and src.intrinsics_assumed
    assert [p.name for p in src.files] == ["f1.tif", "f2.png", "F3.PNG", "f10.png"]
    for i, name in enumerate(["f1.tif", "f2.png", "F3.PNG", "f10.png"]):
        np.testing.assert_array_equal(src[i].rgb, frames[names.index(name)])
    single = open_source(tmp_path / "f10.png")
    assert len(single) == 1 and np.array_equal(single[0].rgb, frames[1])


def test_scared_keyframe(keyframe):
    src = open_source(keyframe.folder)
    assert (src.kind, len(src), src.size, src.fps, src.has_ground_truth) == (
        "scared-keyframe",
        4,
        (W, H),
        FPS,
        True,
    )
    assert not src.intrinsics_assumed
    left_png = cv2.imread(str(keyframe.folder / "Left_Image.png"))[..., ::-1].astype(float)
    for i in [2, 0, 3, 1]:
        f = src.frame(i)
        assert f.index == i and f.source == "dataset_1/keyframe_1" and f.rgb.shape == (H, W, 3)
        assert np.abs(f.rgb - keyframe.left[i].astype(float)).mean() < 6  # mp4v is lossy
        np.testing.assert_array_equal(f.K, keyframe.calib.K1)
        z = keyframe.left_xyz[i][..., 2]
        np.testing.assert_array_equal(np.isnan(f.gt_depth), np.isnan(z))
        np.testing.assert_array_equal(f.gt_depth[~np.isnan(z)], z[~np.isnan(z)])
        np.testing.assert_array_equal(f.pose, keyframe.poses[i])
    assert np.abs(src.frame(0).rgb - left_png).mean() < 6
    # frames of other keyframes differ much more than the codec's error
    assert np.abs(src.frame(1).rgb - keyframe.left[2].astype(float)).mean() > 20


def test_scared_right_view_and_video_path(keyframe):
    from endodepth.io.keyframes import ScaredKeyframeSource

    right = ScaredKeyframeSource(keyframe.folder, side="r").frame(1)
    assert np.abs(right.rgb - keyframe.right[1].astype(float)).mean() < 6
    np.testing.assert_array_equal(right.K, keyframe.calib.K2)
    z = keyframe.right_xyz[1][..., 2]
    np.testing.assert_array_equal(right.gt_depth[~np.isnan(z)], z[~np.isnan(z)])
    assert open_source(keyframe.folder / "data" / "rgb.mp4").kind == "scared-keyframe"


def test_scared_K_scaled_to_frame_size(keyframe):
    big = cv2.resize(keyframe.left[0], (2 * W, 2 * H))
    cv2.imwrite(str(keyframe.folder / "Left_Image.png"), big[..., ::-1])
    K = open_source(keyframe.folder).frame(0).K
    np.testing.assert_allclose(K[:2], keyframe.calib.K1[:2] / 2)


def test_keyframe_without_data(keyframe):
    shutil.rmtree(keyframe.folder / "data")
    src = open_source(keyframe.folder)
    assert len(src) == 1 and src.has_ground_truth
    f = src[0]
    np.testing.assert_array_equal(f.rgb, keyframe.left[0])
    np.testing.assert_array_equal(f.gt_depth, keyframe.left_xyz[0][..., 2])  # NaN == NaN here
    assert np.isnan(f.gt_depth).sum() == 70


def test_dataset_root_concatenates_keyframes(tmp_path):
    a = make_keyframe(tmp_path / "dataset_1" / "keyframe_1", seed=1, n=3)
    b = make_keyframe(tmp_path / "dataset_1" / "keyframe_10", seed=2, n=2)
    c = make_keyframe(tmp_path / "dataset_2" / "keyframe_2", seed=3, n=3)
    shutil.rmtree(c.folder / "data")
    src = open_source(tmp_path)
    assert src.kind == "scared-dataset" and len(src) == 3 + 2 + 1
    got = [(f.source, f.index) for f in src]
    assert got == [
        ("dataset_1/keyframe_1", 0),
        ("dataset_1/keyframe_1", 1),
        ("dataset_1/keyframe_1", 2),
        ("dataset_1/keyframe_10", 0),
        ("dataset_1/keyframe_10", 1),
        ("dataset_2/keyframe_2", 0),
    ]
    z = b.left_xyz[1][..., 2]
    np.testing.assert_array_equal(src[4].gt_depth[~np.isnan(z)], z[~np.isnan(z)])
    np.testing.assert_array_equal(src[5].rgb, c.left[0])
    assert np.abs(src[1].rgb - a.left[1].astype(float)).mean() < 6
    assert len(src.describe()["parts"]) == 3


def make_afsfm(root, dataset=1, keyframe=2, count=4):
    """AF-SfMLearner's tree by hand: 1-based {n:010d}.png and 0-based scene_points (2H stacked, 0 unknown)."""
    data = root / f"dataset{dataset}" / f"keyframe{keyframe}" / "image_02" / "data"
    (data / "groundtruth").mkdir(parents=True)
    rng = np.random.default_rng(dataset * 10 + keyframe)
    frames = smooth_frames(rng, count, H, W)
    stacked = rng.uniform(10, 100, (count, 2 * H, W, 3)).astype(np.float32)
    stacked[:, :4, :4] = 0
    for i in range(count):
        cv2.imwrite(str(data / f"{i + 1:010d}.png"), frames[i][..., ::-1])
        tifffile.imwrite(data / "groundtruth" / f"scene_points{i:06d}.tiff", stacked[i], photometric="rgb")
    return data, frames, stacked


def test_afsfm_layout(tmp_path):
    data, frames, stacked = make_afsfm(tmp_path)
    src = open_source(data.parent.parent)
    assert src.kind == "afsfm" and len(src) == 4 and src.intrinsics_assumed
    f = src[2]  # file 0000000003.png, ground truth scene_points000002.tiff
    assert f.index == 2 and f.source == "dataset1/keyframe2"
    np.testing.assert_array_equal(f.rgb, frames[2])
    expected = stacked[2][:H, :, 2].copy()
    expected[:4, :4] = np.nan
    np.testing.assert_array_equal(f.gt_depth, expected)
    np.testing.assert_array_equal(f.K, default_intrinsics(W, H))
    assert open_source(tmp_path).kind == "afsfm" and open_source(data).kind == "afsfm"


def test_read_split(tmp_path):
    path = tmp_path / "test_files.txt"
    path.write_text("dataset1/keyframe2\t3\tl\ndataset_3/keyframe_1 10 r\n\n")
    assert read_split(path) == [SplitEntry(1, 2, 3, "l"), SplitEntry(3, 1, 10, "r")]
    assert read_split(path)[0].gt_name == "scene_points000002.tiff"


def test_split_on_afsfm_tree(tmp_path):
    _, frames, stacked = make_afsfm(tmp_path, dataset=1, keyframe=2)
    make_afsfm(tmp_path, dataset=3, keyframe=1)
    split = tmp_path / "split.txt"
    split.write_text("dataset1/keyframe2\t4\tl\ndataset3/keyframe1\t1\tl\ndataset1/keyframe2\t2\tl\n")
    src = split_source(tmp_path, split)
    assert len(src) == 3 and [(f.source, f.index) for f in src] == [
        ("dataset1/keyframe2", 3),
        ("dataset3/keyframe1", 0),
        ("dataset1/keyframe2", 1),
    ]
    np.testing.assert_array_equal(src[0].rgb, frames[3])
    np.testing.assert_array_equal(src[2].gt_depth[4:], stacked[1][4:H, :, 2])  # index 2 -> scene_points000001


def test_split_on_scared_keyframes(tmp_path):
    kf = make_keyframe(tmp_path / "dataset_4" / "keyframe_1", n=4)
    src = split_source(tmp_path, [SplitEntry(4, 1, 3, "l"), SplitEntry(4, 1, 1, "l")])
    assert [f.index for f in src] == [2, 0]
    z = kf.left_xyz[2][..., 2]
    np.testing.assert_array_equal(src[0].gt_depth[~np.isnan(z)], z[~np.isnan(z)])


def test_plain_round_trip(tmp_path):
    rng = np.random.default_rng(5)
    frames = smooth_frames(rng, 3, H, W)
    depths = rng.uniform(20, 80, (3, H, W)).astype(np.float32)
    depths[:, 0, 0] = np.nan
    poses = np.repeat(np.eye(4)[None], 3, axis=0)
    poses[:, 0, 3] = [0, 1.5, 3]
    K = default_intrinsics(W, H)
    write_plain(tmp_path / "out", frames, depths, K, poses, 12.0, {"seed": 5})
    src = open_source(tmp_path / "out")
    assert (src.kind, len(src), src.fps, src.size, src.meta["generator"]) == (
        "plain",
        3,
        12.0,
        (W, H),
        {"seed": 5},
    )
    f = src[2]
    np.testing.assert_array_equal(f.rgb, frames[2])
    np.testing.assert_array_equal(f.gt_depth, depths[2])
    np.testing.assert_array_equal(f.pose, poses[2])
    np.testing.assert_array_equal(f.K, K)


class CountingCapture:
    """Wraps a cv2.VideoCapture and counts seeks."""

    def __init__(self, cap):
        self.cap, self.seeks = cap, 0

    def set(self, prop, value):
        self.seeks += prop == cv2.CAP_PROP_POS_FRAMES
        return self.cap.set(prop, value)

    def __getattr__(self, name):
        return getattr(self.cap, name)


def test_video_sequential_reads_do_not_seek(clip):
    src = VideoSource(clip)
    src._cap = counting = CountingCapture(src._cap)
    reference = decode_all(clip)
    for i in range(1, 40):  # frame 0 was read at open
        np.testing.assert_array_equal(src.frame(i).rgb, reference[i])
    assert counting.seeks == 0
    src.frame(5)
    assert counting.seeks == 1
    src.close()  # released; the next read reopens the file
    np.testing.assert_array_equal(src.frame(7).rgb, reference[7])
