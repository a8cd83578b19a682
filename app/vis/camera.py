"""The 3D view's geometry: camera coordinates to the GL view's axes, and the view that frames a cloud."""

from __future__ import annotations

import numpy as np


def to_display(points: np.ndarray) -> np.ndarray:
    """Camera coordinates (x right, y down, z forward) to the GL view's (x right, y forward, z up)."""
    return np.stack([points[:, 0], points[:, 2], -points[:, 1]], axis=1).astype(np.float32, copy=False)


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
