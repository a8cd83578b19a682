"""A map at one resolution read at the pixels of another: the values a bilinear upsampling to the
frame's size would give (torch's `F.interpolate`, either corner convention), at every `step`-th
frame pixel only.

This is how depth stays at the network's resolution through the viewer: a display grid, a cloud's
strided pixels or the full frame are each read from the small map directly, never through a
full-size copy.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np


def display_step(width: int, max_width: int) -> int:
    """The subsampling step that brings an image `width` pixels across to at most `max_width`."""
    return max(1, -(-int(width) // int(max_width)))


@lru_cache(maxsize=64)
def _taps(src: int, dst: int, step: int, align_corners: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For output pixels 0, step, 2*step, ... < dst: the two source indices and the weight of the second."""
    out = np.arange(0, dst, step, dtype=np.float64)
    if align_corners:
        pos = out * ((src - 1) / (dst - 1)) if dst > 1 else np.zeros_like(out)
    else:
        pos = np.maximum((out + 0.5) * (src / dst) - 0.5, 0.0)
    lo = np.minimum(np.floor(pos).astype(np.intp), src - 1)
    hi = np.minimum(lo + 1, src - 1)
    frac = (pos - lo).astype(np.float32)
    for a in (lo, hi, frac):
        a.flags.writeable = False
    return lo, hi, frac


def sample_bilinear(values: np.ndarray, size: tuple[int, int], step: int = 1,
                    align_corners: bool = False) -> np.ndarray:
    """`values` (h, w) bilinearly upsampled to `size` (H, W), read at every `step`-th pixel:
    equal to `interpolate(values, size)[::step, ::step]` without the full-size intermediate.

    A map that already has `size` is sliced. Non-finite values spread to their neighbours, as
    they would through interpolation.
    """
    values = np.asarray(values, np.float32)
    height, width = int(size[0]), int(size[1])
    step = max(1, int(step))
    if values.shape == (height, width):
        return np.ascontiguousarray(values[::step, ::step])
    r0, r1, fy = _taps(values.shape[0], height, step, bool(align_corners))
    c0, c1, fx = _taps(values.shape[1], width, step, bool(align_corners))
    left = values[:, c0]
    cols = np.ascontiguousarray(left + (values[:, c1] - left) * fx)  # the small map across first
    top = cols[r0]
    return top + (cols[r1] - top) * fy[:, None]


def strided(image: np.ndarray, step: int) -> np.ndarray:
    """`image[::step, ::step]` as a C-contiguous array (by OpenCV's nearest resize when `step`
    divides the size: the same pixels, about 5x faster than numpy's strided copy of RGB)."""
    if step <= 1:
        return image
    height, width = image.shape[:2]
    if height % step == 0 and width % step == 0 and image.dtype == np.uint8:
        return cv2.resize(image, (width // step, height // step), interpolation=cv2.INTER_NEAREST)
    return np.ascontiguousarray(image[::step, ::step])
