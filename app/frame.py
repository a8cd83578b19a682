"""The unit that flows from a source to the models and the views, and the stereo calibration it may carry."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class StereoCalibration:
    """Left/right intrinsics (K1, K2 3x3; SCARED's M1, M2), distortion (D1, D2 flat, any OpenCV length),
    right-from-left R (3x3) and T (3,) in mm: x_right = R x_left + T.

    `image_size` (width, height) of each view when known; `rectified` when the pair is already
    row-aligned (R = I, no distortion); `path` is the file it came from, for error messages.
    """

    K1: np.ndarray
    D1: np.ndarray
    K2: np.ndarray
    D2: np.ndarray
    R: np.ndarray
    T: np.ndarray
    image_size: tuple[int, int] | None = None
    rectified: bool = False
    path: Path | None = None

    def __post_init__(self) -> None:
        self.K1 = np.asarray(self.K1, np.float64).reshape(3, 3)
        self.K2 = np.asarray(self.K2, np.float64).reshape(3, 3)
        self.D1 = np.asarray(self.D1, np.float64).ravel()
        self.D2 = np.asarray(self.D2, np.float64).ravel()
        self.R = np.asarray(self.R, np.float64).reshape(3, 3)
        self.T = np.asarray(self.T, np.float64).ravel()
        if self.image_size is not None:
            self.image_size = (int(self.image_size[0]), int(self.image_size[1]))

    @property
    def baseline_mm(self) -> float:
        """Distance between the two camera centres."""
        return float(np.linalg.norm(self.T))

    def key(self) -> bytes:
        """Bytes that identify the geometry (for caching rectification maps)."""
        size = np.asarray(self.image_size or (0, 0), np.float64)
        return b"".join(a.tobytes() for a in (self.K1, self.D1, self.K2, self.D2, self.R, self.T, size))


@dataclass
class Frame:
    """One image with everything known about it.

    `K` is the 3x3 intrinsic matrix for `rgb`'s resolution; `K_assumed` says it is the
    documented default field of view rather than a calibration. `gt_depth` is z in
    millimetres (NaN or 0 where unknown); `pose` maps keyframe coordinates into this
    frame's camera (SCARED `camera-pose`), when known. Stereo sources add the raw right
    view `right` (same size as `rgb`) and the pair's `stereo` calibration.
    """

    index: int
    time: float
    rgb: np.ndarray
    K: np.ndarray
    K_assumed: bool = True
    gt_depth: np.ndarray | None = None
    mask: np.ndarray | None = None
    pose: np.ndarray | None = None
    source: str = ""
    right: np.ndarray | None = None
    stereo: StereoCalibration | None = None

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the image."""
        return int(self.rgb.shape[1]), int(self.rgb.shape[0])

    @property
    def is_stereo(self) -> bool:
        """Whether the frame carries a right view and its calibration."""
        return self.right is not None and self.stereo is not None
