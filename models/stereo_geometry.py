"""Stereo rectification at a matching scale and the exact way back to the raw left camera.

`Rectification` is built once per calibration and image size: OpenCV's `stereoRectify` and
`initUndistortRectifyMap` give the (scaled) rectified pair; for every raw left pixel it also
holds where its ray lands in the rectified left image and how the rectified depth of that ray
converts into depth along the raw left camera's axis (the rectification is a pure rotation R1,
so a ray keeps its 3D point: Z_raw = Z_rect / (R1 d).z for the raw ray d with d.z = 1).
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from endodepth.errors import InputError
from endodepth.frame import StereoCalibration


def _where(calib: StereoCalibration) -> Path | str:
    return calib.path if calib.path is not None else "stereo calibration"


def check_geometry(calib: StereoCalibration, size: tuple[int, int]) -> None:
    """One-line InputError (naming the calibration file) for a calibration that cannot rectify `size` frames."""
    w, h = size
    if calib.image_size is not None and tuple(calib.image_size) != (w, h):
        cw, ch = calib.image_size
        raise InputError(_where(calib), f"calibration is for {cw}x{ch} views, the frames are {w}x{h}")
    for name, K in (("M1", calib.K1), ("M2", calib.K2)):
        cx, cy = K[0, 2], K[1, 2]
        if abs(cx - w / 2) > w / 4 or abs(cy - h / 2) > h / 4:
            raise InputError(
                _where(calib), f"{name} principal point ({cx:g}, {cy:g}) is far from the centre of the "
                f"{w}x{h} views: a calibration for another image size?"
            )
    if calib.baseline_mm < 1e-6:
        raise InputError(_where(calib), "baseline |T| is 0: the two cameras coincide, no depth from stereo")
    if abs(np.linalg.det(calib.R) - 1.0) > 1e-3:
        raise InputError(_where(calib), f"R is not a rotation (det {np.linalg.det(calib.R):.4g})")


class Rectification:
    """Maps from the raw pair to a row-aligned pair at `scale`, and from rectified disparity to raw depth."""

    def __init__(self, calib: StereoCalibration, size: tuple[int, int], scale: float = 0.5):
        check_geometry(calib, size)
        self.size = (int(size[0]), int(size[1]))
        self.scale = float(scale)
        w, h = self.size
        R1, R2, P1, P2, _Q, _r1, _r2 = cv2.stereoRectify(
            calib.K1, calib.D1, calib.K2, calib.D2, (w, h), calib.R, calib.T.reshape(3, 1),
            flags=cv2.CALIB_ZERO_DISPARITY, alpha=-1,
        )
        if abs(P2[1, 3]) > abs(P2[0, 3]):
            raise InputError(
                _where(calib), "the baseline is vertical: use the views as left/right of a horizontal pair"
            )
        if P2[0, 3] > 0:
            raise InputError(_where(calib), "the right camera lies left of the left one (T_x > 0): views swapped?")
        self.R1 = R1
        self.baseline_mm = float(-P2[0, 3] / P2[0, 0])
        self.match_size = (max(16, round(w * scale)), max(16, round(h * scale)))
        sx, sy = self.match_size[0] / w, self.match_size[1] / h
        self.P1 = np.diag([sx, sy, 1.0]) @ P1
        self.P2 = np.diag([sx, sy, 1.0]) @ P2
        self.focal = float(self.P1[0, 0])  # of the rectified pair at the matching scale
        self._calib = calib
        self.vertical_offset = 0.0
        self._left_maps = cv2.initUndistortRectifyMap(calib.K1, calib.D1, R1, self.P1, self.match_size, cv2.CV_16SC2)
        self._R2 = R2
        self._right_maps = self._right_rectify_maps(0.0)
        self._raw_x, self._raw_y, ray_factor = self._raw_to_rectified(calib)
        self._depth_numerator = (self.focal * self.baseline_mm * ray_factor).astype(np.float32)

    def _right_rectify_maps(self, dy: float) -> tuple[np.ndarray, np.ndarray]:
        P2 = self.P2.copy()
        P2[1, 2] -= dy  # content found dy rows lower in the right view moves up onto the left's row
        return cv2.initUndistortRectifyMap(self._calib.K2, self._calib.D2, self._R2, P2, self.match_size, cv2.CV_16SC2)

    def _raw_to_rectified(self, calib: StereoCalibration) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per raw left pixel: its rectified (x, y) at the matching scale and Z_raw / Z_rect."""
        w, h = self.size
        u, v = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
        pix = np.stack([u.ravel(), v.ravel()], -1).reshape(-1, 1, 2)
        rays = cv2.undistortPoints(pix, calib.K1, calib.D1).reshape(-1, 2)  # raw ray (x, y, 1)
        rect = np.c_[rays, np.ones(len(rays))] @ self.R1.T  # same ray in the rectified frame
        factor = 1.0 / rect[:, 2]
        xr = self.P1[0, 0] * rect[:, 0] * factor + self.P1[0, 2]
        yr = self.P1[1, 1] * rect[:, 1] * factor + self.P1[1, 2]
        return (xr.reshape(h, w).astype(np.float32), yr.reshape(h, w).astype(np.float32),
                factor.reshape(h, w).astype(np.float32))

    def set_vertical_offset(self, dy: float) -> None:
        """Shift the rectified right view by `dy` rows (at the matching scale) to undo a residual offset."""
        self.vertical_offset = float(dy)
        self._right_maps = self._right_rectify_maps(dy)

    def rectify(self, left: np.ndarray, right: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The raw pair resampled onto the row-aligned grid at the matching scale."""
        return (cv2.remap(left, *self._left_maps, cv2.INTER_LINEAR),
                cv2.remap(right, *self._right_maps, cv2.INTER_LINEAR))

    def to_raw(self, rectified: np.ndarray, nearest: bool = False) -> np.ndarray:
        """A rectified map (NaN = unknown) resampled onto the raw left pixel grid (NaN outside or near holes)."""
        interp = cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR
        return cv2.remap(np.asarray(rectified, np.float32), self._raw_x, self._raw_y, interp,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=float("nan"))

    def raw_depth(self, disparity: np.ndarray) -> np.ndarray:
        """Depth (mm) along the raw left camera's axis at every raw left pixel, from rectified disparity.

        Disparity (NaN where invalid) is interpolated on the rectified grid, then turned into depth,
        so a hole never borrows depth from its neighbours.
        """
        with np.errstate(divide="ignore", invalid="ignore"):
            return self._depth_numerator / self.to_raw(disparity)  # NaN stays NaN: holes are never filled

    def disparity_range(self, min_depth_mm: float) -> int:
        """Disparities (a multiple of 16, at the matching scale) that reach down to `min_depth_mm`."""
        return max(16, 16 * math.ceil(self.focal * self.baseline_mm / max(min_depth_mm, 1e-3) / 16))


def estimate_vertical_offset(left: np.ndarray, right: np.ndarray, max_disparity: int, max_dy: float = 4.0) -> float:
    """Median row offset (right minus left) of ORB matches in a rectified grey pair; 0 with too few matches."""
    orb = cv2.ORB_create(2000)
    kl, dl = orb.detectAndCompute(left, None)
    kr, dr = orb.detectAndCompute(right, None)
    if dl is None or dr is None:
        return 0.0
    matches = cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True).match(dl, dr)
    offsets = []
    for m in matches:
        (xl, yl), (xr, yr) = kl[m.queryIdx].pt, kr[m.trainIdx].pt
        if abs(yr - yl) <= max_dy and 0 <= xl - xr <= max_disparity:
            offsets.append(yr - yl)
    return float(np.median(offsets)) if len(offsets) >= 20 else 0.0
