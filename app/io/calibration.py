"""Stereo camera calibration in SCARED's OpenCV FileStorage YAML, and the default intrinsics."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from endodepth.errors import InputError
from endodepth.frame import StereoCalibration
from endodepth.io.atomic import atomic_write

# key in the file -> (field, alternative key names, accepted element counts)
_KEYS = {
    "M1": ("K1", ("M1", "K1"), (9,)),
    "D1": ("D1", ("D1",), (4, 5, 8, 12, 14)),
    "M2": ("K2", ("M2", "K2"), (9,)),
    "D2": ("D2", ("D2",), (4, 5, 8, 12, 14)),
    "R": ("R", ("R",), (9,)),
    "T": ("T", ("T",), (3,)),
}
_SHAPES = {"K1": "3x3", "K2": "3x3", "R": "3x3", "T": "3x1", "D1": "1x4/5/8/12/14", "D2": "1x4/5/8/12/14"}


def read_calibration(path: str | Path) -> StereoCalibration:
    """Read M1 D1 M2 D2 R T (K1/K2 accepted for M1/M2); any problem -> InputError naming file and key."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "calibration file not found")
    try:
        fs = cv2.FileStorage(str(path), cv2.FILE_STORAGE_READ | cv2.FILE_STORAGE_FORMAT_YAML)
    except (cv2.error, SystemError) as exc:  # cv2 wraps parse errors in SystemError
        raise InputError(path, f"not a readable OpenCV YAML calibration ({_first_line(exc)})") from None
    if not fs.isOpened():
        raise InputError(path, "not a readable OpenCV YAML calibration")
    try:
        values = {}
        for key, (field, names, counts) in _KEYS.items():
            node = next((fs.getNode(n) for n in names if not fs.getNode(n).empty()), None)
            if node is None:
                raise InputError(path, f"calibration key '{key}' is missing")
            mat = node.mat()
            if mat is None or mat.size not in counts:
                found = "not a matrix" if mat is None else "x".join(map(str, mat.shape))
                raise InputError(path, f"calibration key '{key}' must be {_SHAPES[field]}, found {found}")
            if not np.all(np.isfinite(mat)):
                raise InputError(path, f"calibration key '{key}' holds non-finite values")
            values[field] = mat
    finally:
        fs.release()
    for key in ("M1", "M2"):
        _check_camera_matrix(path, key, values[_KEYS[key][0]].reshape(3, 3))
    rectified = is_rectified(values["D1"], values["D2"], values["R"], values["T"])
    return StereoCalibration(**values, rectified=rectified, path=path)


def is_rectified(D1: np.ndarray, D2: np.ndarray, R: np.ndarray, T: np.ndarray) -> bool:
    """A pair that is already row-aligned: no distortion, R = I and a purely horizontal baseline."""
    T = np.ravel(T)
    return (not np.any(D1) and not np.any(D2) and np.allclose(R, np.eye(3), atol=1e-9)
            and abs(T[1]) < 1e-9 and abs(T[2]) < 1e-9)


def _check_camera_matrix(path: Path, key: str, K: np.ndarray) -> None:
    """A camera matrix has positive focal lengths and the last row 0 0 1; else InputError naming the key."""
    if not (K[0, 0] > 0 and K[1, 1] > 0):
        raise InputError(
            path, f"calibration key '{key}' has focal lengths fx={K[0, 0]:g} fy={K[1, 1]:g}; both must be > 0"
        )
    if not np.array_equal(K[2], [0.0, 0.0, 1.0]):
        raise InputError(
            path, f"calibration key '{key}' is not a camera matrix: its last row is {K[2].tolist()}, not [0, 0, 1]"
        )


def write_calibration(path: str | Path, calib: StereoCalibration) -> Path:
    """Write SCARED's endoscope_calibration.yaml layout (keys M1 D1 M2 D2 R T), atomically."""
    path = Path(path)
    with atomic_write(path) as tmp:
        fs = cv2.FileStorage(str(tmp), cv2.FILE_STORAGE_WRITE | cv2.FILE_STORAGE_FORMAT_YAML)
        fs.write("M1", calib.K1)
        fs.write("D1", calib.D1.reshape(1, -1))
        fs.write("M2", calib.K2)
        fs.write("D2", calib.D2.reshape(1, -1))
        fs.write("R", calib.R)
        fs.write("T", calib.T.reshape(3, 1))
        fs.release()
    return path


def default_intrinsics(width: int, height: int) -> np.ndarray:
    """The AF-SfMLearner/EndoDAC community default K (fx=0.82W, fy=1.02H, centred): an assumption."""
    return np.array(
        [[0.82 * width, 0.0, 0.5 * width], [0.0, 1.02 * height, 0.5 * height], [0.0, 0.0, 1.0]],
        dtype=np.float64,
    )


def scale_intrinsics(K: np.ndarray, sx: float, sy: float) -> np.ndarray:
    """K for an image resized by (sx, sy): first row times sx, second row times sy."""
    out = np.array(K, dtype=np.float64, copy=True)
    out[0] *= sx
    out[1] *= sy
    return out


def _first_line(exc: BaseException) -> str:
    """OpenCV's own parse message (it hides inside SystemError's context), without the source path."""
    while isinstance(exc, SystemError) and exc.__context__ is not None:
        exc = exc.__context__
    text = str(exc).strip()
    return text.rsplit("error: ", 1)[-1] if text else type(exc).__name__
