"""The unit that flows from a source to the models and the views."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Frame:
    """One image with everything known about it.

    `K` is the 3x3 intrinsic matrix for `rgb`'s resolution; `K_assumed` says it is the
    documented default field of view rather than a calibration. `gt_depth` is z in
    millimetres (NaN or 0 where unknown); `pose` maps keyframe coordinates into this
    frame's camera (SCARED `camera-pose`), when known.
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

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the image."""
        return int(self.rgb.shape[1]), int(self.rgb.shape[0])
