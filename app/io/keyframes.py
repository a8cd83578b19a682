"""Readers of SCARED keyframes and dataset roots, and of AF-SfMLearner's extracted keyframes.

The layout is the one `endodepth.io.scared` writes (its names are imported from there).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import numpy as np

from endodepth.errors import InputError, InputWarning
from endodepth.frame import Frame, StereoCalibration
from endodepth.io.calibration import (
    default_intrinsics,
    read_calibration,
    scale_intrinsics,
)
from endodepth.io.gt_cache import GroundTruthCache
from endodepth.io.scared import (
    CALIBRATION,
    FRAME_DATA,
    FRAME_DATA_NAME,
    LEFT_DEPTH,
    LEFT_IMAGE,
    RIGHT_DEPTH,
    RIGHT_IMAGE,
    SCENE_NAME,
    SCENE_POINTS,
    VIDEO,
)
from endodepth.io.source import (
    ConcatSource,
    Source,
    VideoSource,
    image_files,
    image_size,
    natural_key,
    rgb_image,
)
from endodepth.io.stereo import calibration_from_frame_data, scaled_calibration, split_views
from endodepth.io.tararchive import TarMembers
from endodepth.io.xyz_tiff import XyzTiff, unknown_to_nan, view_rows


def _file_depth(path: Path, rows: Callable[[tuple], tuple[int, int]]) -> np.ndarray:
    """Z in mm (NaN where unknown) of the rows `rows(shape)` picks (raising on a wrong shape) of the 3D
    image at `path`."""
    try:
        with open(path, "rb") as f:
            return _tiff_depth(f, path, rows)
    except OSError as exc:
        raise InputError(path, f"cannot be read ({exc})") from None


def _tiff_depth(file: BinaryIO, path: Path, rows: Callable[[tuple], tuple[int, int]]) -> np.ndarray:
    with XyzTiff(file, path) as tiff:
        return unknown_to_nan(tiff.z(*rows(tiff.shape)))


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


class ScaredKeyframeSource(Source):
    """One SCARED keyframe: the left (or right) view of data/rgb.mp4, or the single keyframe image.

    K is the calibration's M1 (M2 for the right view) scaled to the frame size; ground truth is Z of
    scene_points%06d.tiff read from the tar.gz through the ground-truth cache (endodepth.io.gt_cache);
    pose is frame_data's `camera-pose`.
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
        self._gt_cache: GroundTruthCache | None = None
        # True: frame() leaves gt_depth None and a GroundTruthReader fetches ground_truth(i) aside
        self.defer_ground_truth = False
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
        self._calib, self._calib_size = calib, calib_size
        self.stereo = scaled_calibration(calib, self.size, calib_size)
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
            other = self.path / (RIGHT_IMAGE if self.side == "l" else LEFT_IMAGE)
            right = rgb_image(other) if self.side == "l" and other.is_file() else None
            gt, pose, stereo = self._keyframe_depth(), np.eye(4), self.stereo
        else:
            rgb, right = split_views(self._video.image(i), "stacked")
            if self.side == "r":
                rgb, right = right, None
            gt = None if self.defer_ground_truth else self._scene_depth(i)
            pose, stereo = self._frame_data_of(i)
        frame = self.make_frame(i, np.ascontiguousarray(rgb), gt, pose)
        if right is not None:  # the right view of the left camera's frame: a stereo pair
            frame.right, frame.stereo = right, stereo
        return frame

    def _keyframe_depth(self) -> np.ndarray | None:
        path = self.path / (LEFT_DEPTH if self.side == "l" else RIGHT_DEPTH)
        if not path.is_file():
            return None
        def rows(shape: tuple) -> tuple[int, int]:
            if shape[:2] != (self.size[1], self.size[0]):
                raise InputError(
                    path, f"3D image of shape {shape} does not match the {self.size[0]}x{self.size[1]} image"
                )
            return 0, shape[0]

        return _file_depth(path, rows)

    def ground_truth(self, i: int) -> np.ndarray | None:
        """Ground-truth Z of frame `i` alone (for a reader off the display path), None without one."""
        self._check_index(i)
        return self._keyframe_depth() if self._video is None else self._scene_depth(i)

    def _scene_depth(self, i: int) -> np.ndarray | None:
        """Z of scene_points frame `i`, from the ground-truth cache or decoded (and then cached)."""
        if not self.has_ground_truth:
            return None
        if self._gt_cache is None:
            self._gt_cache = GroundTruthCache(self.path / SCENE_POINTS, self.side)
        name = SCENE_NAME.format(i)
        z = self._gt_cache.get(name, (self.size[1], self.size[0]))
        if z is None:
            z = self._decode_scene_depth(name)
            if z is not None:
                self._gt_cache.put(name, z)
        return z

    def _decode_scene_depth(self, name: str) -> np.ndarray | None:
        if self._scene is None:
            self._scene = TarMembers(self.path / SCENE_POINTS)
        path = self._scene.path / name
        width, height = self.size

        def rows(shape: tuple) -> tuple[int, int]:
            if shape[:2] != (2 * height, width):
                raise InputError(path, f"expected shape ({2 * height}, {width}, 3) (left over right), found {shape}")
            return view_rows(shape, height, self.side, path)

        with self._scene.member(name) as member:  # read in place: only this view's Z is copied
            return None if member is None else _tiff_depth(member, path, rows)

    def _frame_data_of(self, i: int) -> tuple[np.ndarray | None, StereoCalibration]:
        """Frame `i`'s pose and stereo calibration (frame_data's `camera-calibration` when present)."""
        if not self._has_poses:
            return None, self.stereo
        try:
            if self._frame_data is None:
                self._frame_data = TarMembers(self.path / FRAME_DATA)
            name = FRAME_DATA_NAME.format(i)
            data = self._frame_data.read(name)
            if data is None:
                return None, self.stereo
            path = self._frame_data.path / name
            pose = _pose(data, path)
            calib = calibration_from_frame_data(data, path, self._calib)
            stereo = self.stereo if calib is self._calib else scaled_calibration(calib, self.size, self._calib_size)
            return pose, stereo
        except InputError as exc:
            # depth and its evaluation need no pose: say so once and go on without poses
            warnings.warn(InputWarning(f"{exc}; going on without camera poses"), stacklevel=2)
            self._has_poses = False
            return None, self.stereo

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
            gt = _file_depth(gt_path, lambda shape: view_rows(shape, self.size[1], self.side, gt_path))
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
