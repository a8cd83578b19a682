"""Exporters: RGB PNG, 16-bit depth PNG with its scale stated, depth NPZ with K and kind, coloured PLY clouds."""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from endodepth.io.atomic import atomic_write
from endodepth.kinds import METRIC_MM, RELATIVE, RELATIVE_INVERSE

__all__ = [
    "atomic_write", "depth_png16_scale", "write_depth_npz", "write_depth_png16", "write_point_cloud", "write_rgb_png",
]

DECODE = "value = offset + stored / scale for stored > 0; stored 0 = unknown"
UNITS = {
    METRIC_MM: "mm",
    RELATIVE: "relative depth (unitless)",
    RELATIVE_INVERSE: "relative inverse depth (unitless)",
}
_MAX = 65535


def depth_png16_scale(depth: np.ndarray, kind: str) -> tuple[float, float]:
    """(scale, offset) that fits the valid values into 1..65535.

    Metric depth keeps offset 0 and 0.01 mm steps (scale 100) while it stays below 655 mm, else
    the largest power of ten that fits; relative kinds are normalised min..max onto 1..65535.
    """
    valid = depth[np.isfinite(depth)]
    if kind == METRIC_MM:
        top = float(valid.max()) if valid.size else 0.0
        scale = 100.0 if top * 100.0 <= _MAX else 10.0 ** math.floor(math.log10(_MAX / top))
        return scale, 0.0
    if not valid.size:
        return 1.0, 0.0
    lo, hi = float(valid.min()), float(valid.max())
    scale = (_MAX - 1) / (hi - lo) if hi > lo else 1.0
    return scale, lo - 1.0 / scale


def write_depth_png16(path: str | Path, depth: np.ndarray, kind: str, scale: float | None = None) -> Path:
    """16-bit PNG of `depth` (NaN -> 0) with kind, unit, scale and offset in PNG text and `<stem>.json`."""
    if kind not in UNITS:
        raise ValueError(f"unknown depth kind {kind!r}; expected one of {sorted(UNITS)}")
    path = Path(path)
    depth = np.asarray(depth, np.float64)
    auto_scale, offset = depth_png16_scale(depth, kind)
    if scale is None:
        scale = auto_scale
    elif kind != METRIC_MM:
        offset = float(np.nanmin(depth)) - 1.0 / scale
    valid = np.isfinite(depth)
    stored = np.zeros(depth.shape, np.float64)
    stored[valid] = np.rint((depth[valid] - offset) * scale)
    if valid.any() and stored[valid].max() > _MAX:
        raise ValueError(f"scale {scale} overflows 16 bits: largest stored value {stored[valid].max():.0f}")
    if kind == METRIC_MM:
        stored[valid] = np.maximum(stored[valid], 1)  # 0 is reserved for unknown
    meta = {
        "kind": kind,
        "unit": UNITS[kind],
        "scale": scale,
        "offset": offset,
        "invalid": 0,
        "decode": DECODE,
    }
    info = PngInfo()
    for key, value in meta.items():
        info.add_text(key, str(value))
    with atomic_write(path) as tmp:
        Image.fromarray(stored.astype(np.uint16)).save(tmp, format="PNG", pnginfo=info)
    with atomic_write(path.with_suffix(".json")) as tmp:
        tmp.write_text(json.dumps(meta, indent=2))
    return path


def write_rgb_png(path: str | Path, rgb: np.ndarray) -> Path:
    """An RGB uint8 image (H,W,3) as PNG, written atomically."""
    path = Path(path)
    with atomic_write(path) as tmp:
        if not cv2.imwrite(str(tmp), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
            raise OSError(f"{path}: could not write PNG")
    return path


def write_depth_npz(
    path: str | Path, depth: np.ndarray, K: np.ndarray, kind: str, **extra: np.ndarray
) -> Path:
    """Compressed NPZ with `depth` (float32, NaN unknown), `K` (3x3), `kind` and any extra arrays."""
    path = Path(path)
    with atomic_write(path) as tmp:
        np.savez_compressed(
            tmp,
            depth=np.asarray(depth, np.float32),
            K=np.asarray(K, np.float64).reshape(3, 3),
            kind=np.array(kind),
            **extra,
        )
    return path


def write_point_cloud(path: str | Path, points: np.ndarray, colors: np.ndarray | None = None) -> Path:
    """Binary PLY of points (N,3) mm with optional uint8 RGB colours (N,3), written by open3d."""
    import open3d as o3d

    path = Path(path)
    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(np.asarray(points, np.float64).reshape(-1, 3)))
    if colors is not None:
        cloud.colors = o3d.utility.Vector3dVector(np.asarray(colors, np.float64).reshape(-1, 3) / 255.0)
    with atomic_write(path) as tmp:
        if not o3d.io.write_point_cloud(str(tmp), cloud, write_ascii=False):
            raise OSError(f"{path}: open3d could not write the point cloud")
    return path
