"""TSDF fusion of analytic surfaces with known poses: the mesh is that surface, in the first camera's frame."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import H, K, W, plane_depth, pose, sphere_depth, texture

from endodepth.errors import InputError
from endodepth.frame import Frame
from endodepth.geometry.depth_scale import choose_scaling
from endodepth.geometry.fusion import FusionSettings, MeshArrays, TSDFFusion, camera_centres, write_mesh
from endodepth.geometry.reconstruction import LiveFusion, Reconstruction
from endodepth.kinds import METRIC_MM

POSES = [pose(tx, ty, yaw) for tx, ty, yaw in ((0, 0, 0), (8, 0, 3), (-6, 5, -4), (4, -6, 2))]


def fuse(depths, poses, voxel=0.5) -> MeshArrays:
    f = TSDFFusion(K, (W, H), FusionSettings(voxel_mm=voxel, fuse_width=W))
    for d, p in zip(depths, poses):
        assert f.integrate(texture(), d, p) > 0
    return f.mesh()


def test_plane_fuses_to_that_plane():
    normal = np.array([0.2, -0.1, 1.0]) / np.linalg.norm([0.2, -0.1, 1.0])
    mesh = fuse([plane_depth(p, normal, 60.0) for p in POSES], POSES)
    assert len(mesh) > 1000
    distance = np.abs(mesh.vertices @ normal - 60.0)
    assert np.median(distance) < 0.1 and np.percentile(distance, 99) < 0.5
    # the mesh spans what the first camera sees: x/z up to about W/2/f of the plane's depth
    assert np.ptp(mesh.vertices[:, 0]) > 0.8 * W / K[0, 0] * 55


def test_sphere_fuses_to_that_sphere():
    centre, radius = np.array([0.0, 0.0, 80.0]), 25.0
    mesh = fuse([sphere_depth(p, centre, radius) for p in POSES], POSES)
    error = np.abs(np.linalg.norm(mesh.vertices - centre, axis=1) - radius)
    assert len(mesh) > 1000 and np.median(error) < 0.15 and np.percentile(error, 95) < 0.6


def test_vertices_reproject_into_a_frame_at_its_depth():
    """World = the first FUSED frame's camera: given SCARED poses whose first is not the identity,
    the mesh's vertices, mapped by frame k's relative pose and projected with K, land on frame k's depth."""
    offset = pose(30, -10, 20)  # the source's keyframe is another camera
    source_poses = [p @ offset for p in POSES]
    normal = np.array([0.0, 0.0, 1.0])
    depths = [plane_depth(p, normal, 60.0) for p in POSES]
    frames = [Frame(i, 0.0, texture(), K, False, d, None, sp) for i, (d, sp) in enumerate(zip(depths, source_poses))]
    recon = Reconstruction(K, (W, H), choose_scaling(METRIC_MM, True, "test"), "source",
                           FusionSettings(voxel_mm=0.5, fuse_width=W))
    for f in frames:
        recon.add(f, f.gt_depth)
    mesh = recon.mesh()
    k = 2
    rel = source_poses[k] @ np.linalg.inv(source_poses[0])
    cam = mesh.vertices @ rel[:3, :3].T + rel[:3, 3]
    uv = cam @ K.T
    u, v = uv[:, 0] / uv[:, 2], uv[:, 1] / uv[:, 2]
    inside = (u > 1) & (u < W - 2) & (v > 1) & (v < H - 2)
    assert inside.sum() > 1000
    expected = depths[k][np.round(v[inside]).astype(int), np.round(u[inside]).astype(int)]
    # a rounding to the pixel centre on a plane sloping <= 0.4 mm per pixel at 60 mm
    assert np.median(np.abs(cam[inside, 2] - expected)) < 0.3
    assert np.allclose(recon.camera_path()[0], 0) and np.allclose(recon.camera_path()[k], camera_centres(rel[None])[0])


def test_depth_in_the_dark_border_around_the_view_is_not_fused():
    """A model answers every pixel, also the black corners around an endoscope's circular view: those guesses
    (here 30 mm, the plane is at 60 mm) stay out of the mesh; the field of view is found in the image."""
    u, v = np.meshgrid(np.arange(W), np.arange(H))
    outside = np.hypot(u - W / 2, v - H / 2) > 0.45 * W
    rgb = texture()
    rgb[outside] = 0
    recon = Reconstruction(K, (W, H), choose_scaling(METRIC_MM, True, "test"), "source",
                           FusionSettings(voxel_mm=0.5, fuse_width=W))
    for i, p in enumerate(POSES):
        depth = np.where(outside, 30.0, plane_depth(p, np.array([0.0, 0.0, 1.0]), 60.0)).astype(np.float32)
        recon.add(Frame(i, 0.0, rgb, K, False, None, None, p), depth)
    z = recon.mesh().vertices[:, 2]
    assert len(z) > 1000 and z.min() > 55.0


def test_relative_depth_is_scaled_to_ground_truth_per_frame():
    normal = np.array([0.0, 0.0, 1.0])
    depths = [plane_depth(p, normal, 60.0) for p in POSES]
    recon = Reconstruction(K, (W, H), choose_scaling("relative", True, "test"), "source",
                           FusionSettings(voxel_mm=0.5, fuse_width=W))
    for i, (d, p) in enumerate(zip(depths, POSES)):
        recon.add(Frame(i, 0.0, texture(), K, False, d, None, p), d / (10.0 * (i + 1)))  # each frame its own scale
    assert np.median(np.abs(recon.mesh().vertices[:, 2] - 60.0)) < 0.1


def test_clip_scale_is_one_factor_from_the_first_frames():
    scaling = choose_scaling("relative", False, "clip.mp4", assumed_depth_mm=50.0)
    assert not scaling.ready
    for k in range(5):
        scaling.observe(np.full((4, 4), 2.0 + k, np.float32))
    assert scaling.ready and scaling.scale == pytest.approx(50.0 / 4.0)
    frame = Frame(0, 0.0, texture(), K)
    assert scaling(np.full((2, 2), 8.0, np.float32), frame)[0, 0] == pytest.approx(100.0)
    assert "one scale for the clip" in scaling.description


def test_live_fusion_publishes_the_growing_mesh():
    normal = np.array([0.0, 0.0, 1.0])
    recon = Reconstruction(K, (W, H), choose_scaling(METRIC_MM, True, "t"), "source", FusionSettings(fuse_width=W))
    live = LiveFusion(recon, refresh_s=0.0, queue_size=10)
    for i, p in enumerate(POSES):
        live.offer(Frame(i, 0.0, texture(), K, False, None, None, p), plane_depth(p, normal, 60.0))
    live.stop()
    snap = live.snapshot()
    assert not live.running and live.error is None
    assert snap.fused == len(POSES) and len(snap.mesh) > 100 and len(snap.path) == len(POSES)
    assert snap.normals.shape == snap.mesh.vertices.shape
    assert np.median(np.abs(snap.normals[:, 2])) > 0.99  # a plane facing the camera


def test_write_mesh_refuses_other_formats(tmp_path):
    mesh = fuse([plane_depth(POSES[0], np.array([0, 0, 1.0]), 60.0)], POSES[:1])
    with pytest.raises(InputError, match="mesh format"):
        write_mesh(tmp_path / "m.stl", mesh)
    for name in ("m.ply", "m.obj"):
        assert write_mesh(tmp_path / name, mesh).stat().st_size > 1000
