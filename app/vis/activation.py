"""A unit's activation map coloured for drawing over its frame."""

from __future__ import annotations

import numpy as np

from endodepth.vis.colormap import lut


def activation_overlay(activation: np.ndarray, name: str = "inferno") -> np.ndarray:
    """(H, W, 4) uint8: the map normalised to its 2-99.5 percentiles, coloured, and opaque where strong.

    Alpha grows with the response (weak responses let the frame show through), so even a unit
    with a small dynamic range reads clearly over the image."""
    act = np.asarray(activation, np.float32)
    finite = act[np.isfinite(act)]
    lo, hi = np.percentile(finite, (2.0, 99.5)) if finite.size else (0.0, 1.0)
    if hi <= lo and finite.size:  # a few strong pixels: their maximum is the top
        hi = float(finite.max())
    a = np.clip((np.nan_to_num(act, nan=lo) - lo) / (hi - lo if hi > lo else 1.0), 0.0, 1.0)
    index = np.round(a * 255).astype(np.uint8)
    rgba = np.empty((*act.shape, 4), np.uint8)
    rgba[..., :3] = lut(name)[index]
    rgba[..., 3] = np.round(40 + 200 * a).astype(np.uint8)
    return rgba
