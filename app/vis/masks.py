"""Pixels to leave out of clouds and statistics: the dark border around an endoscope's
field of view, and specular highlights (where depth networks are unreliable)."""

from __future__ import annotations

import cv2
import numpy as np

_WORK_SIDE = 320  # masks are found on a copy this wide, then scaled back up


def _check_rgb(rgb: np.ndarray) -> np.ndarray:
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected a uint8 RGB image (H, W, 3), got {rgb.dtype} {rgb.shape}")
    return rgb


def fov_mask(rgb: np.ndarray, threshold: int = 12, min_border: float = 0.02) -> np.ndarray:
    """(H, W) bool, True inside the endoscope's field of view.

    The luminance, median-filtered (edges stay put), is thresholded, the largest bright
    component kept and its holes filled (dark tissue inside the view stays in). Frames whose dark border covers less
    than `min_border` of the image, or that are dark throughout, get an all-True mask.
    """
    rgb = _check_rgb(rgb)
    height, width = rgb.shape[:2]
    scale = min(1.0, _WORK_SIDE / max(height, width))
    small = cv2.resize(rgb, (max(1, round(width * scale)), max(1, round(height * scale))),
                       interpolation=cv2.INTER_AREA) if scale < 1.0 else rgb
    gray = cv2.medianBlur(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY), 5)
    bright = (gray > threshold).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(bright, connectivity=8)
    if count < 2:
        return np.ones((height, width), dtype=bool)
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    contours, _ = cv2.findContours((labels == largest).astype(np.uint8), cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_SIMPLE)
    filled = np.zeros_like(bright)
    cv2.drawContours(filled, contours, -1, 1, thickness=cv2.FILLED)
    if filled.mean() > 1.0 - min_border or filled.mean() < 0.05:
        return np.ones((height, width), dtype=bool)
    if filled.shape != (height, width):
        filled = cv2.resize(filled, (width, height), interpolation=cv2.INTER_NEAREST)
    return filled.astype(bool)


def specular_mask(rgb: np.ndarray, min_value: int = 225, max_saturation: int = 60,
                  dilate: int = 2) -> np.ndarray:
    """(H, W) bool, True on specular highlights: bright, low-saturation pixels, grown by
    `dilate` pixels to cover their halo."""
    rgb = _check_rgb(rgb)
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    spec = ((hsv[..., 2] >= min_value) & (hsv[..., 1] <= max_saturation)).astype(np.uint8)
    if dilate > 0:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * dilate + 1, 2 * dilate + 1))
        spec = cv2.dilate(spec, kernel)
    return spec.astype(bool)
