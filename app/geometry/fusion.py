"""TSDF fusion of metric depth and camera poses into one coloured triangle mesh (open3d VoxelBlockGrid).

Coordinates: the first fused frame's camera (OpenCV axes: x right, y down, z forward), millimetres.
A pose maps those coordinates into a frame's camera (SCARED `camera-pose`: keyframe -> frame), i.e.
it is the world-to-camera extrinsic open3d integrates with. open3d's tensor VoxelBlockGrid allocates voxel
blocks only where a surface is seen (a hash map), so memory grows with the surface, not the volume.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import open3d as o3d
import open3d.core as o3c

from endodepth.errors import InputError
from endodepth.io.atomic import atomic_write
from endodepth.kinds import finite_positive

FUSE_WIDTH = 320  # frames are fused at about this width (integer pixel stride): depth is smooth at that scale
BLOCK_RESOLUTION = 8
MESH_SUFFIXES = (".ply", ".obj")
INITIAL_BLOCKS = 4000  # the hash map grows beyond this when the surface needs more blocks


@dataclass(frozen=True)
class FusionSettings:
    """Voxel size and truncation in mm, the far limit of fused depth, and the width frames are fused at."""

    voxel_mm: float = 1.0
    trunc_voxels: float = 4.0
    max_depth_mm: float = 300.0
    fuse_width: int = FUSE_WIDTH

    @property
    def sdf_trunc_mm(self) -> float:
        """Truncation distance of the signed distance field (mm)."""
        return self.voxel_mm * self.trunc_voxels


@dataclass
class MeshArrays:
    """A triangle mesh as numpy arrays: vertices (V,3) mm, triangles (F,3), colours (V,3) in [0, 1]."""

    vertices: np.ndarray
    triangles: np.ndarray
    colors: np.ndarray

    def __len__(self) -> int:
        return len(self.triangles)

    def vertex_normals(self) -> np.ndarray:
        """Unit normals (V, 3): the area-weighted sum of the normals of the triangles around each vertex."""
        v = self.vertices.astype(np.float64)
        a, b, c = (v[self.triangles[:, k]] for k in range(3))
        face = np.cross(b - a, c - a)
        normals = np.zeros_like(v)
        for k in range(3):
            np.add.at(normals, self.triangles[:, k], face)
        length = np.linalg.norm(normals, axis=1, keepdims=True)
        return (normals / np.where(length > 0, length, 1.0)).astype(np.float32)

    def first_hit(self, origin: np.ndarray, direction: np.ndarray) -> np.ndarray | None:
        """Where the ray from `origin` along `direction` (mesh coordinates) first meets the surface; None: a miss."""
        if not len(self):
            return None
        ray = np.r_[np.asarray(origin, np.float64), np.asarray(direction, np.float64)][None].astype(np.float32)
        t = float(raycaster(self.vertices, self.triangles).cast_rays(o3c.Tensor(ray))["t_hit"].numpy()[0])
        return np.asarray(origin, np.float64) + t * np.asarray(direction, np.float64) if np.isfinite(t) else None

    def to_open3d(self) -> o3d.geometry.TriangleMesh:
        """The open3d mesh, with vertex normals for shading."""
        mesh = o3d.geometry.TriangleMesh(
            o3d.utility.Vector3dVector(self.vertices.astype(np.float64)),
            o3d.utility.Vector3iVector(self.triangles.astype(np.int32)),
        )
        mesh.vertex_colors = o3d.utility.Vector3dVector(self.colors.astype(np.float64))
        mesh.compute_vertex_normals()
        return mesh


def raycaster(vertices: np.ndarray, triangles: np.ndarray) -> o3d.t.geometry.RaycastingScene:
    """An open3d ray-casting scene of one triangle mesh."""
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(o3c.Tensor(np.asarray(vertices, np.float32)), o3c.Tensor(np.asarray(triangles, np.uint32)))
    return scene


def fusion_stride(width: int, fuse_width: int) -> int:
    """Integer pixel stride that brings `width` down to about `fuse_width` (1 for small frames)."""
    return max(1, round(width / max(1, fuse_width)))


def reduce_intrinsics(K: np.ndarray, stride: int) -> np.ndarray:
    """K of the frame sampled at every `stride`-th pixel from (0, 0): pixel u' = u / stride."""
    out = np.array(K, np.float64, copy=True)
    out[:2] /= stride
    return out


class TSDFFusion:
    """One TSDF volume: integrate (rgb, depth mm, pose) frames, extract the mesh at any time."""

    def __init__(self, K: np.ndarray, size: tuple[int, int], settings: FusionSettings | None = None):
        self.settings = settings or FusionSettings()
        self.size = size
        self.stride = fusion_stride(size[0], self.settings.fuse_width)
        self.K = reduce_intrinsics(K, self.stride)
        self._K = o3c.Tensor(self.K)
        # blocks of 8^3 voxels (10 kB each) in a hash map that grows as the seen surface does
        self._grid = o3d.t.geometry.VoxelBlockGrid(
            attr_names=("tsdf", "weight", "color"),
            attr_dtypes=(o3c.float32, o3c.float32, o3c.float32),
            attr_channels=((1), (1), (3)),
            voxel_size=self.settings.voxel_mm,
            block_resolution=BLOCK_RESOLUTION,
            block_count=INITIAL_BLOCKS,
            device=o3c.Device("CPU:0"),
        )
        self.frames = 0
        self.poses: list[np.ndarray] = []

    def reduce(self, rgb: np.ndarray, depth_mm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(rgb, depth) at the fusion resolution: depth sampled at the stride (exact values, no mixing across
        edges), colour area-averaged; unknown or too-far depth becomes 0 (open3d's 'no depth')."""
        s = self.stride
        depth = np.ascontiguousarray(depth_mm[::s, ::s], np.float32)
        depth = np.where(finite_positive(depth) & (depth < self.settings.max_depth_mm), depth, 0).astype(np.float32)
        h, w = depth.shape
        color = rgb if s == 1 else cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA)
        return np.ascontiguousarray(color, np.uint8), depth

    def integrate(self, rgb: np.ndarray, depth_mm: np.ndarray, pose: np.ndarray) -> int:
        """Fuse one frame; `pose` maps the volume's (first frame's) coordinates into this camera.

        Returns how many depth pixels (at the fusion resolution) took part.
        """
        color, depth = self.reduce(rgb, depth_mm)
        used = int(np.count_nonzero(depth))
        if not used:
            return 0
        d = o3d.t.geometry.Image(o3c.Tensor(depth))
        c = o3d.t.geometry.Image(o3c.Tensor(color.astype(np.float32) / 255.0))
        T = o3c.Tensor(np.asarray(pose, np.float64))
        limits = {"depth_scale": 1.0, "depth_max": self.settings.max_depth_mm,
                  "trunc_voxel_multiplier": self.settings.trunc_voxels}
        blocks = self._grid.compute_unique_block_coordinates(d, self._K, T, **limits)
        self._grid.integrate(blocks, d, c, self._K, self._K, T, **limits)
        self.frames += 1
        self.poses.append(np.asarray(pose, np.float64))
        return used

    def mesh(self, weight_threshold: float | None = None) -> MeshArrays:
        """Marching-cubes mesh with per-vertex colours (may be empty) of the voxels whose fused weight passes
        `weight_threshold`: by default those seen more than once when 3 or more frames were fused (noisy depth
        then leaves fewer floaters), any seen voxel before that."""
        if weight_threshold is None:
            weight_threshold = 1.0 if self.frames >= 3 else 0.5
        if not self.frames:
            return MeshArrays(np.zeros((0, 3), np.float32), np.zeros((0, 3), np.int32), np.zeros((0, 3), np.float32))
        mesh = self._grid.extract_triangle_mesh(weight_threshold=weight_threshold)
        vertices = mesh.vertex.positions.numpy().astype(np.float32)
        colors = mesh.vertex.colors.numpy().astype(np.float32) if "colors" in mesh.vertex else np.ones_like(vertices)
        has_triangles = "indices" in mesh.triangle
        triangles = mesh.triangle.indices.numpy().astype(np.int32) if has_triangles else np.zeros((0, 3), np.int32)
        return MeshArrays(vertices, triangles, np.clip(colors, 0, 1))

    def camera_path(self) -> np.ndarray:
        """(N, 3) centres of the fused cameras in the volume's coordinates (mm)."""
        return camera_centres(np.array(self.poses)) if self.poses else np.zeros((0, 3))


def camera_centres(poses: np.ndarray) -> np.ndarray:
    """Camera centres (N, 3) of world-to-camera poses (N, 4, 4): -R^T t."""
    poses = np.asarray(poses, np.float64)
    return -np.einsum("nji,nj->ni", poses[:, :3, :3], poses[:, :3, 3])


def relative_to(pose: np.ndarray, first: np.ndarray) -> np.ndarray:
    """A keyframe->frame pose re-expressed from the first fused frame's camera: pose @ inv(first)."""
    return np.asarray(pose, np.float64) @ np.linalg.inv(np.asarray(first, np.float64))


def write_mesh(path: str | Path, mesh: MeshArrays) -> Path:
    """Write the mesh as binary PLY or OBJ by the file's suffix, under a temp name and renamed."""
    path = Path(path)
    if path.suffix.lower() not in MESH_SUFFIXES:
        raise InputError(path, f"mesh format must be one of {', '.join(MESH_SUFFIXES)} (by the file's suffix)")
    with atomic_write(path) as tmp:
        if not o3d.io.write_triangle_mesh(str(tmp), mesh.to_open3d(), write_ascii=False, print_progress=False):
            raise InputError(path, "open3d could not write the mesh")
    return path


def read_mesh(path: str | Path) -> MeshArrays:
    """A PLY/OBJ mesh as arrays (what `write_mesh` wrote, e.g. to measure it); no colours: white."""
    m = o3d.io.read_triangle_mesh(str(path))
    vertices = np.asarray(m.vertices, np.float32)
    colors = np.asarray(m.vertex_colors, np.float32) if m.has_vertex_colors() else np.ones_like(vertices)
    return MeshArrays(vertices, np.asarray(m.triangles, np.int32), colors)
