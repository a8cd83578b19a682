"""SCARED keyframes: the one writer of the format, its readers, and the benchmarks' split files.

Layout (scared_toolkit): `endoscope_calibration.yaml`, `Left_Image.png`, `Right_Image.png`,
`left_depth_map.tiff`, `right_depth_map.tiff` (keyframe XYZ in mm, NaN unknown) and `data/rgb.mp4`
(left over right), `data/scene_points.tar.gz` (`scene_points%06d.tiff`, (2H)xWx3 XYZ, 0 unknown),
`data/frame_data.tar.gz` (`frame_data%06d.json` with `camera-pose` and `camera-calibration`).
"""

from __future__ import annotations

import io
import json
import re
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tifffile
from endodepth.errors import InputError
from endodepth.io.atomic import atomic_write
from endodepth.io.calibration import (
    StereoCalibration,
    default_intrinsics,
    read_calibration,
    scale_intrinsics,
    write_calibration,
)
from endodepth.io.export import write_rgb_png
from endodepth.io.source import (
    ConcatSource,
    Source,
    VideoSource,
    image_files,
    image_size,
    natural_key,
    rgb_image,
)
from endodepth.io.tararchive import TarMembers
from endodepth.io.video import write_video
from endodepth.frame import Frame

CALIBRATION = "endoscope_calibration.yaml"
LEFT_IMAGE, RIGHT_IMAGE = "Left_Image.png", "Right_Image.png"
LEFT_DEPTH, RIGHT_DEPTH = "left_depth_map.tiff", "right_depth_map.tiff"
VIDEO = "data/rgb.mp4"
SCENE_POINTS = "data/scene_points.tar.gz"
FRAME_DATA = "data/frame_data.tar.gz"
SCENE_NAME = "scene_points{:06d}.tiff"
FRAME_DATA_NAME = "frame_data{:06d}.json"


def write_keyframe(
    folder: str | Path,
    left_frames: np.ndarray,
    right_frames: np.ndarray,
    left_xyz: np.ndarray,
    right_xyz: np.ndarray,
    poses: np.ndarray,
    calib: StereoCalibration,
    fps: float,
) -> Path:
    """Write one SCARED keyframe folder from RGB uint8 (N,H,W,3) frames, XYZ mm (N,H,W,3), poses (N,4,4).

    XYZ NaN marks unknown points: kept as NaN in the keyframe tiffs, stored as 0 in scene_points,
    as SCARED does. Every file is written under a temp name and renamed.
    """
    folder = Path(folder)
    left_frames, right_frames = np.asarray(left_frames), np.asarray(right_frames)
    left_xyz = np.asarray(left_xyz, np.float32)
    right_xyz = np.asarray(right_xyz, np.float32)
    poses = np.asarray(poses, np.float64)
    n, h, w = left_frames.shape[:3]
    for name, arr in (("left_frames", left_frames), ("right_frames", right_frames)):
        if arr.shape != (n, h, w, 3) or arr.dtype != np.uint8:
            raise ValueError(f"{name} must be uint8 {(n, h, w, 3)}, got {arr.dtype} {arr.shape}")
    for name, arr in (("left_xyz", left_xyz), ("right_xyz", right_xyz)):
        if arr.shape != (n, h, w, 3):
            raise ValueError(f"{name} must be {(n, h, w, 3)}, got {arr.shape}")
    if poses.shape != (n, 4, 4):
        raise ValueError(f"poses must be {(n, 4, 4)}, got {poses.shape}")

    write_calibration(folder / CALIBRATION, calib)
    write_rgb_png(folder / LEFT_IMAGE, left_frames[0])
    write_rgb_png(folder / RIGHT_IMAGE, right_frames[0])
    _write_tiff(folder / LEFT_DEPTH, left_xyz[0])
    _write_tiff(folder / RIGHT_DEPTH, right_xyz[0])
    # one stacked (left over right) frame at a time: no copy of the whole sequence in memory
    write_video(folder / VIDEO, (np.concatenate(pair) for pair in zip(left_frames, right_frames)), fps)
    _write_tar(
        folder / SCENE_POINTS,
        ((SCENE_NAME.format(i), _tiff_bytes(_scene_points(*pair))) for i, pair in enumerate(zip(left_xyz, right_xyz))),
    )
    camera = _camera_calibration(calib)
    _write_tar(
        folder / FRAME_DATA,
        (
            (
                FRAME_DATA_NAME.format(i),
                json.dumps({"camera-pose": p.tolist(), "camera-calibration": camera}).encode(),
            )
            for i, p in enumerate(poses)
        ),
    )
    return folder


def _scene_points(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """One scene_points image: left over right XYZ, unknown (NaN) points stored as 0 as SCARED does."""
    stacked = np.concatenate([left, right])
    stacked[np.isnan(stacked).any(axis=-1)] = 0.0
    return stacked


def _camera_calibration(calib: StereoCalibration) -> dict:
    """The `camera-calibration` block of SCARED's frame_data json."""
    return {
        "KL": calib.K1.tolist(),
        "KR": calib.K2.tolist(),
        "DL": calib.D1.reshape(1, -1).tolist(),
        "DR": calib.D2.reshape(1, -1).tolist(),
        "R": calib.R.tolist(),
        "T": calib.T.reshape(3, 1).tolist(),
    }


def _tiff_bytes(xyz: np.ndarray) -> bytes:
    buf = io.BytesIO()
    tifffile.imwrite(buf, np.ascontiguousarray(xyz, np.float32), photometric="rgb")
    return buf.getvalue()


def _write_tiff(path: Path, xyz: np.ndarray) -> None:
    with atomic_write(path) as tmp:
        tmp.write_bytes(_tiff_bytes(xyz))


def _write_tar(path: Path, members) -> None:
    # compresslevel 1: XYZ floats barely shrink at higher levels, which cost more time
    with atomic_write(path) as tmp, tarfile.open(tmp, "w:gz", compresslevel=1) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


# ---------------------------------------------------------------------------------------------
# Reading: keyframes, dataset roots, the AF-SfMLearner tree and split files.


def read_xyz_tiff(data: bytes | Path, path: Path) -> np.ndarray:
    """A SCARED 3D image (HxWx3 float32 XYZ mm) from a file or bytes; anything else -> InputError."""
    try:
        xyz = tifffile.imread(io.BytesIO(data) if isinstance(data, bytes) else data)
    except (OSError, ValueError, tifffile.TiffFileError) as exc:
        raise InputError(path, f"not a readable TIFF ({exc})") from None
    if xyz.ndim != 3 or xyz.shape[2] != 3 or xyz.dtype.kind != "f":
        raise InputError(path, f"expected an HxWx3 float XYZ image, found shape {xyz.shape} {xyz.dtype}")
    return xyz.astype(np.float32, copy=False)


def is_keyframe(folder: Path) -> bool:
    """A SCARED keyframe folder: has a calibration, a keyframe image or a stereo video."""
    return any((folder / f).is_file() for f in (CALIBRATION, LEFT_IMAGE, VIDEO))


def keyframe_of_video(path: Path) -> Path | None:
    """The keyframe folder when `path` is a keyframe's data/rgb.mp4, else None."""
    folder = path.parent.parent
    return folder if path.name == "rgb.mp4" and path.parent.name == "data" and is_keyframe(folder) else None


def _keyframe_name(folder: Path) -> str:
    return f"{folder.parent.name}/{folder.name}"


def _pose(data: bytes, path: Path) -> np.ndarray:
    try:
        pose = np.asarray(json.loads(data)["camera-pose"], np.float64)
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(path, f"no valid 'camera-pose' ({type(exc).__name__}: {exc})") from None
    if pose.shape != (4, 4):
        raise InputError(path, f"'camera-pose' must be 4x4, found {'x'.join(map(str, pose.shape))}")
    return pose


def _view_rows(xyz: np.ndarray, height: int, side: str, path: Path) -> np.ndarray:
    """The rows of `side` from a stacked (2H) 3D image, or the image itself when it is one view (H)."""
    if xyz.shape[0] == 2 * height:
        return xyz[:height] if side == "l" else xyz[height:]
    if xyz.shape[0] == height:
        return xyz
    raise InputError(path, f"3D image of shape {xyz.shape} matches neither H={height} nor the stacked 2H")


def _depth(xyz: np.ndarray) -> np.ndarray:
    """Z in mm with 0 (SCARED's unknown in scene_points) turned into NaN."""
    z = np.array(xyz[..., 2], np.float32)
    z[z == 0] = np.nan
    return z


class ScaredKeyframeSource(Source):
    """One SCARED keyframe: the left (or right) view of data/rgb.mp4, or the single keyframe image.

    K is the calibration's M1 (M2 for the right view) scaled to the frame size; ground truth is Z of
    scene_points%06d.tiff read straight from the tar.gz; pose is frame_data's `camera-pose`.
    """

    kind = "scared-keyframe"

    def __init__(self, folder: str | Path, side: str = "l"):
        folder = Path(folder)
        super().__init__(folder, name=_keyframe_name(folder))
        self.side = side
        calib = read_calibration(folder / CALIBRATION)
        image = folder / (LEFT_IMAGE if side == "l" else RIGHT_IMAGE)
        # the stacked video's own K is never used: K comes from the keyframe's calibration below
        self._video = VideoSource(folder / VIDEO, K=np.eye(3)) if (folder / VIDEO).is_file() else None
        self._scene: TarMembers | None = None
        self._frame_data: TarMembers | None = None
        if self._video is not None:
            w, h2 = self._video.size
            if h2 % 2:
                raise InputError(self._video.path, f"height {h2} is odd: not left-over-right stereo")
            self.size = (w, h2 // 2)
            self.fps = self._video.fps
            self.has_ground_truth = (folder / SCENE_POINTS).is_file()
            self._has_poses = (folder / FRAME_DATA).is_file()
        elif image.is_file():
            self.size = image_size(image)
            self.has_ground_truth = (folder / (LEFT_DEPTH if side == "l" else RIGHT_DEPTH)).is_file()
        else:
            raise InputError(folder, f"SCARED keyframe without {VIDEO} or {image.name}")
        # without the video, self.size already is the keyframe image's size: read its header once
        calib_size = image_size(image) if self._video is not None and image.is_file() else self.size
        K = calib.K1 if side == "l" else calib.K2
        self.intrinsics = scale_intrinsics(K, self.size[0] / calib_size[0], self.size[1] / calib_size[1])
        self.intrinsics_assumed = False
        if self._video is not None:
            self._video.close()  # reopened on first read: a dataset root holds no idle decoders

    def __len__(self) -> int:
        return len(self._video) if self._video is not None else 1

    def position(self, frame_index: int) -> int:
        """Position in this source of video frame `frame_index` (0-based)."""
        if not 0 <= frame_index < len(self):
            raise InputError(self.path, f"has no frame {frame_index} ({len(self)} frames)")
        return frame_index

    def frame(self, i: int) -> Frame:
        self._check_index(i)
        if self._video is None:
            rgb = rgb_image(self.path / (LEFT_IMAGE if self.side == "l" else RIGHT_IMAGE))
            gt, pose = self._keyframe_depth(), np.eye(4)
        else:
            stacked, h = self._video.image(i), self.size[1]
            rgb = stacked[:h] if self.side == "l" else stacked[h:]
            gt, pose = self._scene_depth(i), self._pose(i)
        return self.make_frame(i, np.ascontiguousarray(rgb), gt, pose)

    def _keyframe_depth(self) -> np.ndarray | None:
        path = self.path / (LEFT_DEPTH if self.side == "l" else RIGHT_DEPTH)
        if not path.is_file():
            return None
        xyz = read_xyz_tiff(path, path)
        if xyz.shape[:2] != (self.size[1], self.size[0]):
            raise InputError(
                path, f"3D image of shape {xyz.shape} does not match the {self.size[0]}x{self.size[1]} image"
            )
        return _depth(xyz)

    def _scene_depth(self, i: int) -> np.ndarray | None:
        if not self.has_ground_truth:
            return None
        if self._scene is None:
            self._scene = TarMembers(self.path / SCENE_POINTS)
        name = SCENE_NAME.format(i)
        data = self._scene.read(name)
        if data is None:
            return None
        path = self._scene.path / name
        xyz = read_xyz_tiff(data, path)
        if xyz.shape[:2] != (2 * self.size[1], self.size[0]):
            raise InputError(
                path,
                f"expected shape ({2 * self.size[1]}, {self.size[0]}, 3) (left over right), "
                f"found {xyz.shape}",
            )
        return _depth(_view_rows(xyz, self.size[1], self.side, path))

    def _pose(self, i: int) -> np.ndarray | None:
        if not self._has_poses:
            return None
        if self._frame_data is None:
            self._frame_data = TarMembers(self.path / FRAME_DATA)
        name = FRAME_DATA_NAME.format(i)
        data = self._frame_data.read(name)
        return None if data is None else _pose(data, self._frame_data.path / name)

    def close(self) -> None:
        for f in (self._video, self._scene, self._frame_data):
            if f is not None:
                f.close()


class AfsfmKeyframeSource(Source):
    """AF-SfMLearner's extracted keyframe: `image_02/data/{n:010d}.png` (n 1-based) and
    `image_02/data/groundtruth/scene_points{n-1:06d}.tiff`; K assumed unless a calibration is beside."""

    kind = "afsfm"

    def __init__(self, data_dir: str | Path):
        data_dir = Path(data_dir)
        keyframe = data_dir.parent.parent
        super().__init__(data_dir, name=_keyframe_name(keyframe))
        self.side = "r" if data_dir.parent.name == "image_03" else "l"
        self.files = [p for p in image_files(data_dir) if p.stem.isdigit()]
        if not self.files:
            raise InputError(data_dir, "no numbered frames ({n:010d}.png) in AF-SfMLearner data folder")
        self.numbers = [int(p.stem) for p in self.files]
        self._positions = {n: i for i, n in enumerate(self.numbers)}
        first = rgb_image(self.files[0])
        self.size = (first.shape[1], first.shape[0])
        self._gt_dir = data_dir / "groundtruth"
        self.has_ground_truth = self._gt_dir.is_dir()
        calib = keyframe / CALIBRATION
        self.intrinsics_assumed = not calib.is_file()
        if self.intrinsics_assumed:
            self.intrinsics = default_intrinsics(*self.size)
        else:
            c = read_calibration(calib)
            self.intrinsics = c.K1 if self.side == "l" else c.K2

    def __len__(self) -> int:
        return len(self.files)

    def position(self, frame_index: int) -> int:
        """Position of video frame `frame_index` (0-based), i.e. of file {frame_index+1:010d}.png."""
        if frame_index + 1 not in self._positions:
            raise InputError(self.path, f"has no frame {frame_index + 1:010d}.png")
        return self._positions[frame_index + 1]

    def frame(self, i: int) -> Frame:
        self._check_index(i)
        index = self.numbers[i] - 1
        gt_path = self._gt_dir / SCENE_NAME.format(index)
        gt = None
        if gt_path.is_file():
            gt = _depth(_view_rows(read_xyz_tiff(gt_path, gt_path), self.size[1], self.side, gt_path))
        return self.make_frame(index, rgb_image(self.files[i]), gt)


def _afsfm_data(folder: Path, side: str = "l") -> Path | None:
    """The AF-SfMLearner data folder for `folder` (the data folder itself or its keyframe), else None."""
    if folder.name == "data" and folder.parent.name in ("image_02", "image_03"):
        return folder
    data = folder / ("image_02" if side == "l" else "image_03") / "data"
    return data if data.is_dir() else None


def open_keyframe(folder: Path, side: str = "l") -> Source | None:
    """A SCARED or AF-SfMLearner keyframe source for `folder`, or None when it is neither."""
    if is_keyframe(folder):
        return ScaredKeyframeSource(folder, side)
    data = _afsfm_data(folder, side)
    return AfsfmKeyframeSource(data) if data is not None else None


def open_scared(folder: Path) -> Source | None:
    """A keyframe, or the concatenation of the keyframes under a dataset root; None when none is found."""
    source = open_keyframe(folder)
    if source is not None:
        return source
    candidates = [*folder.glob("keyframe*"), *folder.glob("dataset*/keyframe*")]
    parts = [
        s
        for s in (open_keyframe(c) for c in sorted(candidates, key=_path_key) if c.is_dir())
        if s is not None
    ]
    if not parts:
        return None
    kinds = {p.kind for p in parts}
    return ConcatSource(folder, "afsfm" if kinds == {"afsfm"} else "scared-dataset", parts)


def _path_key(path: Path) -> list:
    return [natural_key(path.parent), natural_key(path)]


@dataclass(frozen=True)
class SplitEntry:
    """One line of a SCARED split file: `datasetN/keyframeM<TAB>index<TAB>l` with a 1-based index."""

    dataset: int
    keyframe: int
    index: int
    side: str = "l"

    @property
    def gt_name(self) -> str:
        """The ground-truth file of this entry: scene_points{index-1:06d}.tiff."""
        return SCENE_NAME.format(self.index - 1)


_SPLIT_LINE = re.compile(r"dataset_?(\d+)/keyframe_?(\d+)\s+(\d+)(?:\s+([lr]))?")


def read_split(path: str | Path) -> list[SplitEntry]:
    """Entries of a split file; a line that is not `datasetN/keyframeM INDEX [l|r]` -> InputError."""
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(path, f"cannot be read as a split file ({exc})") from None
    entries = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        m = _SPLIT_LINE.fullmatch(line.strip())
        if m is None:
            raise InputError(
                path, f"line {n}: expected 'datasetN/keyframeM<TAB>INDEX<TAB>l|r', found {line!r}"
            )
        if int(m[3]) < 1:
            raise InputError(path, f"line {n}: frame index must be 1-based (>= 1), found {m[3]}")
        entries.append(SplitEntry(int(m[1]), int(m[2]), int(m[3]), m[4] or "l"))
    if not entries:
        raise InputError(path, "split file has no entries")
    return entries


class SplitSource(Source):
    """The frames a split names, in the split's order, from SCARED keyframes or an AF-SfMLearner tree."""

    def __init__(self, root: str | Path, entries: Sequence[SplitEntry]):
        super().__init__(root)
        self.entries = list(entries)
        self._keyframes: dict[tuple[int, int, str], Source] = {}
        self._items = [self._locate(e) for e in self.entries]
        parts = list(self._keyframes.values())
        if not parts:
            raise InputError(self.path, "split selects no frames")
        self.kind = "afsfm" if all(p.kind == "afsfm" for p in parts) else "scared-dataset"
        self.fps, self.size, self.intrinsics = parts[0].fps, parts[0].size, parts[0].intrinsics
        self.has_ground_truth = all(p.has_ground_truth for p in parts)
        self.intrinsics_assumed = any(p.intrinsics_assumed for p in parts)

    def _locate(self, e: SplitEntry) -> tuple[Source, int]:
        key = (e.dataset, e.keyframe, e.side)
        if key not in self._keyframes:
            folders = [
                self.path / f"dataset{e.dataset}" / f"keyframe{e.keyframe}",
                self.path / f"dataset_{e.dataset}" / f"keyframe_{e.keyframe}",
            ]
            source = next(
                (s for s in (open_keyframe(f, e.side) for f in folders if f.is_dir()) if s is not None), None
            )
            if source is None:
                raise InputError(self.path, f"keyframe dataset{e.dataset}/keyframe{e.keyframe} not found")
            self._keyframes[key] = source
        source = self._keyframes[key]
        return source, source.position(e.index - 1)

    def __len__(self) -> int:
        return len(self._items)

    def frame(self, i: int) -> Frame:
        self._check_index(i)
        source, j = self._items[i]
        return source.frame(j)

    def close(self) -> None:
        for s in self._keyframes.values():
            s.close()


def split_source(root: str | Path, entries: Sequence[SplitEntry] | str | Path) -> SplitSource:
    """A source of exactly the frames of a split (entries, or a split file path) under `root`."""
    if isinstance(entries, (str, Path)):
        entries = read_split(entries)
    return SplitSource(root, entries)
