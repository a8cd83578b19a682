"""The one back-projection: depth + pinhole intrinsics -> 3D points in the camera frame.

Camera frame: x right, y down, z forward (OpenCV/SCARED), in the unit of the depth map.
"""

from __future__ import annotations

import numpy as np

from endodepth.kinds import finite_positive


def pixel_to_point(u: float, v: float, z: float, K: np.ndarray) -> np.ndarray:
    """The (3,) camera-frame point seen at pixel (u, v) (column, row) at depth z."""
    fx, fy, cx, cy = float(K[0, 0]), float(K[1, 1]), float(K[0, 2]), float(K[1, 2])
    return np.array([(u - cx) * z / fx, (v - cy) * z / fy, z], dtype=np.float32)


def stride_for_budget(height: int, width: int, max_points: int) -> int:
    """The smallest sampling stride that keeps a (height, width) map within `max_points`."""
    if max_points <= 0:
        raise ValueError(f"max_points must be positive, got {max_points}")
    stride = max(1, int(np.sqrt(height * width / max_points)))
    while -(-height // stride) * -(-width // stride) > max_points:
        stride += 1
    return stride


def backproject(
    depth: np.ndarray, K: np.ndarray, mask: np.ndarray | None = None, stride: int = 1,
    rgb: np.ndarray | None = None, pitch: int = 1,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Points (N, 3) float32 of every `stride`-th pixel with finite depth > 0 inside `mask`.

    Returns the points and, when `rgb` (H, W, 3) uint8 is given, their colours (N, 3) uint8.
    `pitch`: `depth`, `mask` and `rgb` were already sampled every `pitch` pixels of the image `K`
    belongs to (their pixel (r, c) is the image's (r * pitch, c * pitch)).
    """
    depth = np.asarray(depth, dtype=np.float32)
    if depth.ndim != 2:
        raise ValueError(f"depth must be (H, W), got shape {depth.shape}")
    stride = max(1, int(stride))
    z = depth[::stride, ::stride]
    ok = finite_positive(z)
    if mask is not None:
        ok &= np.asarray(mask, dtype=bool)[::stride, ::stride]
    rows, cols = np.nonzero(ok)
    zs = z[rows, cols]
    u = cols.astype(np.float32) * (stride * max(1, int(pitch)))
    v = rows.astype(np.float32) * (stride * max(1, int(pitch)))
    fx, fy, cx, cy = (np.float32(K[0, 0]), np.float32(K[1, 1]), np.float32(K[0, 2]), np.float32(K[1, 2]))
    points = np.empty((zs.size, 3), dtype=np.float32)
    points[:, 0] = (u - cx) * zs / fx
    points[:, 1] = (v - cy) * zs / fy
    points[:, 2] = zs
    colors = None
    if rgb is not None:
        colors = np.ascontiguousarray(np.asarray(rgb)[::stride, ::stride][rows, cols], dtype=np.uint8)
    return points, colors


def to_keyframe(points: np.ndarray, pose: np.ndarray) -> np.ndarray:
    """Points of a frame moved into keyframe coordinates (to accumulate clouds of several frames).

    `pose` is SCARED's keyframe->frame 4x4 transform, so its inverse is applied.
    """
    inv = np.linalg.inv(np.asarray(pose, dtype=np.float64))
    out = np.asarray(points, dtype=np.float64) @ inv[:3, :3].T + inv[:3, 3]
    return out.astype(np.float32)
