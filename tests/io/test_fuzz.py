"""Damaged files of every format the readers accept end in one line naming the file, never a traceback.

Each valid file (written by our own writers) is replaced by truncations, random bytes and flipped bytes;
reading the whole source must then either work or raise an EndoDepthError whose message is one line.
"""

import shutil
import tarfile
import warnings

import numpy as np
import pytest
from io_fixtures import make_keyframe, replace_tar_member

from endodepth.errors import EndoDepthError
from endodepth.io.detect import open_source
from endodepth.io.plain import write_plain
from endodepth.io.splits import split_source

RNG_SEED = 0


def variants(data: bytes, rng: np.random.Generator) -> dict[str, bytes]:
    """Truncations, random bytes and flipped bytes of `data`."""
    flipped = bytearray(data)
    for i in rng.integers(0, len(data), 8):
        flipped[i] ^= 0xFF
    return {
        "empty": b"",
        "first byte": data[:1],
        "a third": data[: len(data) // 3],
        "all but the last": data[:-1],
        "random bytes": rng.integers(0, 256, len(data), np.uint8).tobytes(),
        "flipped bytes": bytes(flipped),
    }


def read_everything(path, split=None) -> None:
    """What `info`, `infer` and `eval` do with a source: describe it and decode every frame."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # warnings are allowed (e.g. poses dropped); tracebacks are not
        source = split_source(path, split) if split is not None else open_source(path)
        with source:
            source.describe()
            for i in range(len(source)):
                source.frame(i)


def expect_one_line(path, split=None) -> None:
    try:
        read_everything(path, split)
    except EndoDepthError as exc:
        assert "\n" not in str(exc) and str(exc), repr(exc)


@pytest.fixture(scope="module")
def originals(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    make_keyframe(root / "scared" / "dataset_1" / "keyframe_1", n=2, h=16, w=20)
    rng = np.random.default_rng(RNG_SEED)
    frames = rng.integers(0, 255, (2, 16, 20, 3), np.uint8)
    depth = rng.uniform(10, 50, (2, 16, 20)).astype(np.float32)
    write_plain(root / "plain", frames, depth, np.eye(3) * [[20, 20, 1]], np.repeat(np.eye(4)[None], 2, 0), 10.0)
    (root / "split.txt").write_text("dataset1/keyframe1\t1\tl\ndataset1/keyframe1\t2\tl\n")
    return root


# (layout folder, file that is damaged, the path read, whether the keyframe video is removed first)
CASES = {
    "mp4": ("scared", "dataset_1/keyframe_1/data/rgb.mp4", "dataset_1/keyframe_1/data/rgb.mp4", False),
    "png": ("scared", "dataset_1/keyframe_1/Left_Image.png", "dataset_1/keyframe_1", True),
    "tiff": ("scared", "dataset_1/keyframe_1/left_depth_map.tiff", "dataset_1/keyframe_1", True),
    "yaml": ("scared", "dataset_1/keyframe_1/endoscope_calibration.yaml", "dataset_1/keyframe_1", False),
    "tar.gz": ("scared", "dataset_1/keyframe_1/data/scene_points.tar.gz", "", False),
    "json": ("scared", "dataset_1/keyframe_1/data/frame_data.tar.gz:frame_data000001.json", "", False),
    "npz": ("plain", "depth/000001.npz", "", False),
    "meta.json": ("plain", "meta.json", "", False),
    "split": ("", "split.txt", "scared", False),
}


def _damage(target, member, data: bytes) -> None:
    """Write `data` as the file, or as the member of a tar.gz when `member` is given."""
    if member is None:
        target.write_bytes(data)
        return
    replace_tar_member(target, member, data)


@pytest.mark.parametrize("fmt", CASES)
def test_damaged_file_is_one_line_error(originals, tmp_path, fmt):
    layout, damaged, read, no_video = CASES[fmt]
    rng = np.random.default_rng(RNG_SEED)
    file, _, member = damaged.partition(":")
    original = originals / layout / file
    data = original.read_bytes()
    if member:
        with tarfile.open(original) as tar:
            data = tar.extractfile(member).read()
    for name, damaged_bytes in variants(data, rng).items():
        case = tmp_path / name.replace(" ", "-")
        shutil.copytree(originals, case)
        if no_video:
            (case / layout / "dataset_1/keyframe_1/data/rgb.mp4").unlink()
        _damage(case / layout / file, member or None, damaged_bytes)
        if fmt == "split":
            expect_one_line(case / read, case / file)
        else:
            expect_one_line(case / layout / read)
