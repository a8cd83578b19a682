"""Small real-format data built with our own writers (64x80 per view, 4 frames)."""

import io
import tarfile
from dataclasses import dataclass

import numpy as np

from endodepth.io.calibration import StereoCalibration
from endodepth.io.scared import write_keyframe

H, W, N, FPS = 64, 80, 4, 10.0


@dataclass
class Keyframe:
    folder: object
    left: np.ndarray
    right: np.ndarray
    left_xyz: np.ndarray
    right_xyz: np.ndarray
    poses: np.ndarray
    calib: StereoCalibration


def smooth_frames(rng: np.random.Generator, n: int, h: int, w: int) -> np.ndarray:
    """Smooth, distinct frames (codec-friendly, so lossy decoding stays close)."""
    yy, xx = np.mgrid[0:h, 0:w]
    out = np.empty((n, h, w, 3), np.uint8)
    for i in range(n):
        phase = rng.uniform(0, 2 * np.pi, 3)
        for c in range(3):
            out[i, ..., c] = 128 + 90 * np.sin(xx / 9.0 + yy / 13.0 * (c + 1) + phase[c] + i)
    return out


def make_xyz(rng: np.random.Generator, n: int, h: int, w: int, K: np.ndarray) -> np.ndarray:
    """XYZ point maps in mm consistent with K, with a NaN hole in each frame."""
    v, u = np.mgrid[0:h, 0:w].astype(np.float32)
    out = np.empty((n, h, w, 3), np.float32)
    for i in range(n):
        z = (40 + 20 * rng.random((h, w)) + i).astype(np.float32)
        out[i, ..., 0] = (u - K[0, 2]) * z / K[0, 0]
        out[i, ..., 1] = (v - K[1, 2]) * z / K[1, 1]
        out[i, ..., 2] = z
        out[i, 5 + i : 12 + i, 10:20] = np.nan
    return out


def make_calib(w: int = W, h: int = H) -> StereoCalibration:
    K1 = np.array([[0.8 * w + 0.37, 0, w / 2 - 1.25], [0, 1.0 * h + 0.11, h / 2 + 0.5], [0, 0, 1]])
    K2 = K1 + np.array([[0.2, 0, 1.5], [0, 0.1, -0.5], [0, 0, 0]])
    return StereoCalibration(K1, np.zeros(5), K2, np.zeros(5), np.eye(3), [-4.2, 0.0, 0.1])


def make_keyframe(folder, seed: int = 0, n: int = N, h: int = H, w: int = W) -> Keyframe:
    rng = np.random.default_rng(seed)
    calib = make_calib(w, h)
    left, right = smooth_frames(rng, n, h, w), smooth_frames(rng, n, h, w)
    lx, rx = make_xyz(rng, n, h, w, calib.K1), make_xyz(rng, n, h, w, calib.K2)
    poses = np.repeat(np.eye(4)[None], n, axis=0)
    poses[:, :3, 3] = rng.normal(size=(n, 3))
    poses[0] = np.eye(4)
    write_keyframe(folder, left, right, lx, rx, poses, calib, FPS)
    return Keyframe(folder, left, right, lx, rx, poses, calib)


def replace_tar_member(archive, member: str, data: bytes) -> None:
    """Rewrite a .tar.gz with `member` holding `data` (the other members kept)."""
    with tarfile.open(archive) as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}
    members[member] = data
    with tarfile.open(archive, "w:gz") as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
