"""A reconstructed mesh against a known true surface: vertex-to-surface distances and coverage of the seen part.

Accuracy: the distance of each mesh vertex to the true surface (median, 90th percentile). Coverage: the
share of the true surface the cameras saw (their rays' first hits, within the fused depth range) that lies
within a tolerance of the mesh, sampled uniformly by area on the seen triangles.
"""

from __future__ import annotations

import numpy as np
import open3d as o3d
import open3d.core as o3c

from endodepth.geometry.fusion import MeshArrays, raycaster


def distances_to(scene: o3d.t.geometry.RaycastingScene, points: np.ndarray) -> np.ndarray:
    """Unsigned distance of each point (N, 3) to the scene's surface."""
    if not len(points):
        return np.zeros(0, np.float32)
    return scene.compute_distance(o3c.Tensor(np.asarray(points, np.float32))).numpy()


def seen_triangles(scene: o3d.t.geometry.RaycastingScene, poses: np.ndarray, K: np.ndarray,
                   size: tuple[int, int], max_depth_mm: float, stride: int = 4,
                   mask: np.ndarray | None = None) -> np.ndarray:
    """Indices of the triangles first hit by the cameras' pixel rays (every `stride`-th pixel, inside
    `mask` when given) no deeper than `max_depth_mm`; poses map the scene's coordinates into each camera."""
    u, v = np.meshgrid(np.arange(0, size[0], stride), np.arange(0, size[1], stride))
    keep = np.ones(u.shape, bool) if mask is None else np.asarray(mask)[::stride, ::stride]
    rays = np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], np.ones_like(u, float)], -1)[keep]
    seen: set[int] = set()
    for pose in np.asarray(poses, np.float64):
        to_scene = np.linalg.inv(pose)
        dirs = rays @ to_scene[:3, :3].T
        origin = np.broadcast_to(to_scene[:3, 3], dirs.shape)
        hit = scene.cast_rays(o3c.Tensor(np.concatenate([origin, dirs], 1).astype(np.float32)))
        t = hit["t_hit"].numpy()
        ids = hit["primitive_ids"].numpy()
        seen.update(ids[np.isfinite(t) & (t < max_depth_mm)].tolist())  # rays have z = 1: t is the depth
    return np.array(sorted(seen), np.int64)


def sample_triangles(vertices: np.ndarray, triangles: np.ndarray, per_mm2: float, seed: int = 0) -> np.ndarray:
    """Points sampled uniformly by area on the triangles, `per_mm2` per square millimetre on average."""
    mesh = o3d.geometry.TriangleMesh(o3d.utility.Vector3dVector(np.asarray(vertices, np.float64)),
                                     o3d.utility.Vector3iVector(np.asarray(triangles, np.int32)))
    mesh.remove_unreferenced_vertices()
    count = max(1, int(mesh.get_surface_area() * per_mm2))
    o3d.utility.random.seed(seed)
    return np.asarray(mesh.sample_points_uniformly(count).points, np.float32)


def compare(mesh: MeshArrays, true_vertices: np.ndarray, true_triangles: np.ndarray, poses: np.ndarray,
            K: np.ndarray, size: tuple[int, int], max_depth_mm: float = 300.0, tolerance_mm: float = 2.0,
            mask: np.ndarray | None = None) -> dict:
    """Accuracy and coverage of `mesh` against the true surface (both in the same coordinates, mm)."""
    truth = raycaster(true_vertices, true_triangles)
    d = distances_to(truth, mesh.vertices)
    seen = seen_triangles(truth, poses, K, size, max_depth_mm, mask=mask)
    samples = sample_triangles(true_vertices, np.asarray(true_triangles)[seen], per_mm2=4.0)
    covered = (distances_to(raycaster(mesh.vertices, mesh.triangles), samples) if len(mesh)
               else np.full(len(samples), np.inf))
    return {
        "vertices": len(mesh.vertices),
        "median_mm": float(np.median(d)) if d.size else float("nan"),
        "p90_mm": float(np.percentile(d, 90)) if d.size else float("nan"),
        "coverage": float(np.mean(covered <= tolerance_mm)),
        "tolerance_mm": tolerance_mm,
        "seen_area_samples": len(samples),
    }
