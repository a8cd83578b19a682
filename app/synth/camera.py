"""Pinhole camera helpers (OpenCV convention: x right, y down, z forward; millimetres)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np


def intrinsics(width: int, height: int, focal: float, principal_offset: tuple[float, float] = (0.0, 0.0)
               ) -> np.ndarray:
    """K with square pixels, fx = fy = focal * width, principal point at the image centre shifted by
    `principal_offset` (fractions of width and height)."""
    f = focal * width
    cx, cy = width * (0.5 + principal_offset[0]), height * (0.5 + principal_offset[1])
    return np.array([[f, 0, cx], [0, f, cy], [0, 0, 1]], np.float64)


def pixel_rays(K: np.ndarray, width: int, height: int) -> np.ndarray:
    """(H, W, 3) camera-frame ray directions with z = 1 through pixel centres (u, v) = (col, row).

    With z = 1 the ray parameter of a hit is its depth (z), not its distance. Read-only (cached).
    """
    return _pixel_rays(float(K[0, 0]), float(K[1, 1]), float(K[0, 2]), float(K[1, 2]), int(width), int(height))


@lru_cache(maxsize=8)
def _pixel_rays(fx: float, fy: float, cx: float, cy: float, width: int, height: int) -> np.ndarray:
    u, v = np.meshgrid(np.arange(width, dtype=np.float64), np.arange(height, dtype=np.float64))
    rays = np.stack([(u - cx) / fx, (v - cy) / fy, np.ones_like(u)], axis=-1).astype(np.float32)
    rays.flags.writeable = False
    return rays


def look_at(eye: np.ndarray, forward: np.ndarray, up: np.ndarray) -> np.ndarray:
    """4x4 camera-to-world pose at `eye` looking along `forward`, image-up towards `up`."""
    z = forward / np.linalg.norm(forward)
    x = np.cross(z, up)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    T = np.eye(4)
    T[:3, 0], T[:3, 1], T[:3, 2], T[:3, 3] = x, y, z, eye
    return T


def scared_poses(camera_to_world: np.ndarray) -> np.ndarray:
    """SCARED `camera-pose` per frame: maps keyframe (frame 0) camera coordinates into frame i's."""
    world_to_camera = np.linalg.inv(camera_to_world)
    return np.einsum("nij,jk->nik", world_to_camera, camera_to_world[0])


def fov_coverage(width: int, height: int, radius_fraction: float, centre: tuple[float, float] = (0.0, 0.0)
                 ) -> np.ndarray:
    """Anti-aliased coverage (H, W) of the circular field of view (radius and `centre` shift in half
    image widths).

    Pixels whose centre lies inside the circle have coverage >= 0.5 (the field-of-view mask).
    """
    cx, cy = (width - 1) / 2.0 + centre[0] * width / 2.0, (height - 1) / 2.0 + centre[1] * width / 2.0
    u, v = np.meshgrid(np.arange(width) - cx, np.arange(height) - cy)
    return np.clip(radius_fraction * width / 2.0 - np.hypot(u, v) + 0.5, 0, 1).astype(np.float32)
