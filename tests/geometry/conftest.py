"""Analytic scenes for fusion tests: depth of a plane or a sphere seen by pinhole cameras at known poses."""

from __future__ import annotations

import numpy as np

W, H = 160, 120
K = np.array([[150.0, 0, W / 2], [0, 150.0, H / 2], [0, 0, 1]])


def rays() -> np.ndarray:
    """(H, W, 3) camera rays with z = 1 through the pixel centres."""
    u, v = np.meshgrid(np.arange(W, dtype=float), np.arange(H, dtype=float))
    return np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], np.ones_like(u)], -1)


def pose(tx: float, ty: float = 0.0, yaw_deg: float = 0.0) -> np.ndarray:
    """World (first camera) -> camera: the camera moved by (tx, ty) mm and turned about y by yaw."""
    a = np.radians(yaw_deg)
    cam_to_world = np.eye(4)
    cam_to_world[:3, :3] = [[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]]
    cam_to_world[:3, 3] = [tx, ty, 0]
    return np.linalg.inv(cam_to_world)


def plane_depth(world_to_cam: np.ndarray, normal: np.ndarray, offset: float) -> np.ndarray:
    """Depth (H, W) mm of the plane n.x = offset (world coordinates) seen from the camera."""
    c2w = np.linalg.inv(world_to_cam)
    d = rays() @ c2w[:3, :3].T
    o = c2w[:3, 3]
    t = (offset - normal @ o) / (d @ normal)
    return np.where(t > 0, t, np.nan).astype(np.float32)


def sphere_depth(world_to_cam: np.ndarray, centre: np.ndarray, radius: float) -> np.ndarray:
    """Depth (H, W) mm of the near side of a sphere (NaN where the ray misses it)."""
    c2w = np.linalg.inv(world_to_cam)
    d = rays() @ c2w[:3, :3].T
    oc = c2w[:3, 3] - centre
    a = (d * d).sum(-1)
    b = 2 * (d @ oc)
    disc = b * b - 4 * a * (oc @ oc - radius**2)
    t = (-b - np.sqrt(np.maximum(disc, 0))) / (2 * a)
    return np.where(disc > 0, t, np.nan).astype(np.float32)


def texture(value: int = 150) -> np.ndarray:
    """A grey image with a checker pattern (odometry needs some texture)."""
    u, v = np.meshgrid(np.arange(W), np.arange(H))
    g = np.where(((u // 8) + (v // 8)) % 2, value, value // 2).astype(np.uint8)
    return np.repeat(g[..., None], 3, axis=2)
