"""Triangle meshes from parametric grids, with the per-vertex attributes the shader needs."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import open3d as o3d

# per-vertex attribute columns: normal (3), tangent along s (3), surface coordinates s, t in mm (2)
NORMAL, TANGENT, ST = slice(0, 3), slice(3, 6), slice(6, 8)


@dataclass
class Mesh:
    """Triangles with per-vertex attributes and a tissue index per triangle."""

    vertices: np.ndarray  # (V, 3) float32
    triangles: np.ndarray  # (F, 3) int32
    attributes: np.ndarray  # (V, 8) float32
    tissue: np.ndarray  # (F,) int16, row of the scene's tissue table
    _scene: o3d.t.geometry.RaycastingScene | None = field(default=None, repr=False)

    @property
    def raycaster(self) -> o3d.t.geometry.RaycastingScene:
        """open3d ray-casting scene of these triangles (built once)."""
        if self._scene is None:
            self._scene = o3d.t.geometry.RaycastingScene()
            self._scene.add_triangles(o3d.core.Tensor(self.vertices), o3d.core.Tensor(self.triangles.astype(np.uint32)))
        return self._scene


def grid_mesh(points: np.ndarray, st: np.ndarray, tissue: int, wrap: bool = False) -> Mesh:
    """Mesh of a (n, m) grid of points; `wrap` closes the grid along its columns (a tube).

    With `wrap`, `st` has m + 1 columns: the last repeats the first column's point with the
    coordinate one period further, so texture coordinates stay continuous across the seam.
    """
    n, m = points.shape[:2]
    d_s = np.gradient(points, axis=0)
    if wrap:
        d_t = (np.roll(points, -1, axis=1) - np.roll(points, 1, axis=1)) / 2
        points = np.concatenate([points, points[:, :1]], axis=1)
        d_s = np.concatenate([d_s, d_s[:, :1]], axis=1)
        d_t = np.concatenate([d_t, d_t[:, :1]], axis=1)
        m += 1
    else:
        d_t = np.gradient(points, axis=1)
    normal = _unit(np.cross(d_s, d_t), fallback=np.array([0.0, 0.0, 1.0]))
    tangent = _unit(d_s, fallback=np.array([1.0, 0.0, 0.0]))
    idx = np.arange(n * m).reshape(n, m)
    a, b, c, d = idx[:-1, :-1], idx[:-1, 1:], idx[1:, :-1], idx[1:, 1:]
    triangles = np.concatenate([np.stack([a, c, b], -1).reshape(-1, 3), np.stack([b, c, d], -1).reshape(-1, 3)])
    attributes = np.concatenate([normal, tangent, st], axis=-1).reshape(-1, 8)
    return Mesh(points.reshape(-1, 3).astype(np.float32), triangles.astype(np.int32),
                attributes.astype(np.float32), np.full(len(triangles), tissue, np.int16))


def merge(meshes: list[Mesh]) -> Mesh:
    """One mesh holding all parts (triangle indices shifted)."""
    offsets = np.cumsum([0] + [len(m.vertices) for m in meshes[:-1]])
    return Mesh(
        np.concatenate([m.vertices for m in meshes]),
        np.concatenate([m.triangles + o for m, o in zip(meshes, offsets)]).astype(np.int32),
        np.concatenate([m.attributes for m in meshes]),
        np.concatenate([m.tissue for m in meshes]),
    )


def tube_points(centre: np.ndarray, radius: np.ndarray, normal: np.ndarray, binormal: np.ndarray,
                theta: np.ndarray) -> np.ndarray:
    """(n, m, 3) points around a centre line: centre + r(s, theta) (cos theta N + sin theta B)."""
    c, s = np.cos(theta)[None, :, None], np.sin(theta)[None, :, None]
    return centre[:, None] + radius[..., None] * (c * normal[:, None] + s * binormal[:, None])


def transport_frames(centre: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rotation-minimising frames (tangent, normal, binormal) along a sampled curve (n, 3)."""
    tangent = _unit(np.gradient(centre, axis=0), fallback=np.array([0.0, 0.0, 1.0]))
    normal = np.empty_like(tangent)
    seed = np.array([1.0, 0.0, 0.0]) if abs(tangent[0, 0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    n = seed - tangent[0] * (seed @ tangent[0])
    for i, t in enumerate(tangent):
        n = n - t * (n @ t)
        n /= np.linalg.norm(n)
        normal[i] = n
    return tangent, normal, np.cross(tangent, normal)


def _unit(v: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """Normalise along the last axis; zero vectors become `fallback`."""
    norm = np.linalg.norm(v, axis=-1, keepdims=True)
    out = np.where(norm > 1e-9, v / np.maximum(norm, 1e-12), fallback)
    return out
