"""The 3D view's geometry: camera coordinates to the GL view's axes, and the view that frames a cloud."""

from __future__ import annotations

import numpy as np


def to_display(points: np.ndarray) -> np.ndarray:
    """Camera coordinates (x right, y down, z forward) to the GL view's (x right, y forward, z up)."""
    return np.stack([points[:, 0], points[:, 2], -points[:, 1]], axis=1).astype(np.float32, copy=False)


def from_display(points: np.ndarray) -> np.ndarray:
    """The GL view's axes back to camera coordinates (the inverse of `to_display`)."""
    points = np.asarray(points, np.float64).reshape(-1, 3)
    return np.stack([points[:, 0], -points[:, 2], points[:, 1]], axis=1)


def camera_fit(points: np.ndarray, aspect: float, margin: float = 1.1) -> tuple[np.ndarray, float, float]:
    """Orbit centre (camera coordinates), distance and horizontal field of view (degrees) of a view
    from the camera origin along +z that shows the central 96% of `points` in a view of `aspect` (W/H).

    The centre lies on the optical axis at the median depth, so orbiting turns around the tissue."""
    pts = np.asarray(points, np.float64)
    z = pts[:, 2]
    depth = float(np.median(z[z > 0])) if np.any(z > 0) else 1.0
    ok = z > 1e-6 * depth
    tan_x = np.percentile(np.abs(pts[ok, 0] / z[ok]), 98) if ok.any() else 0.5
    tan_y = np.percentile(np.abs(pts[ok, 1] / z[ok]), 98) if ok.any() else 0.5
    half = max(float(tan_x), float(tan_y) * aspect, 1e-3) * margin
    fov = float(np.degrees(2 * np.arctan(half)))
    return np.array([0.0, 0.0, depth]), depth, min(fov, 150.0)


def orbit_fit(points: np.ndarray, aspect: float, fov_deg: float = 45.0,
              margin: float = 0.85) -> tuple[np.ndarray, float]:
    """Orbit centre (camera coordinates) and distance at which a view of `fov_deg` (horizontal) and `aspect`
    (W/H) shows the box of `points` (its 1st-99th percentiles per axis, so stray points do not shrink the
    rest): the box's centre, and `margin` times its half-diagonal seen under the narrower half-angle (the
    half-diagonal bounds the box from any direction; a margin under 1 fills the view better from most)."""
    pts = np.asarray(points, np.float64).reshape(-1, 3)
    lo, hi = np.percentile(pts, [1, 99], axis=0) if len(pts) else (np.zeros(3), np.ones(3))
    radius = max(float(np.linalg.norm(hi - lo)) / 2.0, 1e-3) * margin
    return (lo + hi) / 2.0, radius / np.tan(np.radians(fov_deg) / 2.0) * max(1.0, aspect)
