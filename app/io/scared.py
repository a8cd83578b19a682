"""SCARED keyframes: the layout's names and the one writer of the format (readers: `endodepth.io.keyframes`).

Layout (scared_toolkit): `endoscope_calibration.yaml`, `Left_Image.png`, `Right_Image.png`,
`left_depth_map.tiff`, `right_depth_map.tiff` (keyframe XYZ in mm, NaN unknown) and `data/rgb.mp4`
(left over right), `data/scene_points.tar.gz` (`scene_points%06d.tiff`, (2H)xWx3 XYZ, 0 unknown),
`data/frame_data.tar.gz` (`frame_data%06d.json` with `camera-pose` and `camera-calibration`).
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
import tifffile

from endodepth.io.atomic import atomic_write
from endodepth.io.calibration import StereoCalibration, write_calibration
from endodepth.io.export import write_rgb_png
from endodepth.io.video import write_video

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
