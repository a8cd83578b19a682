"""The one video writer: RGB frames to an mp4 (mp4v), written under a temp name and renamed."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np

from endodepth.io.atomic import atomic_write


def write_video(path: str | Path, frames: Iterable[np.ndarray], fps: float) -> Path:
    """Write RGB uint8 frames, each (H,W,3) (an (N,H,W,3) array or a generator), as an mp4v video
    (lossy; temp name, then renamed)."""
    path = Path(path)
    frames = iter(frames)
    first = next(frames, None)
    if first is None:
        raise ValueError(f"{path}: no frames to write")
    h, w = first.shape[:2]
    frames = itertools.chain([first], frames)
    with atomic_write(path) as tmp:
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), float(fps), (w, h))
        if not writer.isOpened():
            raise OSError(f"{path}: OpenCV cannot write mp4v video")
        try:
            for rgb in frames:
                writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        finally:
            writer.release()
    return path
