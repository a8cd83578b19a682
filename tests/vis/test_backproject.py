"""Back-projection against the pinhole model, computed independently."""

import numpy as np
import pytest

from endodepth.vis.backproject import (
    backproject,
    pixel_to_point,
    stride_for_budget,
    to_keyframe,
)

K = np.array([[50.0, 0, 31.5], [0, 60.0, 23.0], [0, 0, 1]])


def test_points_reproject_onto_their_pixels():
    rng = np.random.default_rng(1)
    depth = rng.uniform(20, 80, (48, 64)).astype(np.float32)
    points, colors = backproject(depth, K)
    assert points.shape == (48 * 64, 3) and points.dtype == np.float32 and colors is None
    uvw = points.astype(np.float64) @ K.T
    u, v = uvw[:, 0] / uvw[:, 2], uvw[:, 1] / uvw[:, 2]
    vv, uu = np.mgrid[:48, :64]
    assert np.allclose(u, uu.ravel(), atol=1e-3) and np.allclose(v, vv.ravel(), atol=1e-3)
    assert np.allclose(points[:, 2], depth.ravel())


def test_stride_mask_invalid_depth_and_colours():
    depth = np.full((10, 12), 5.0, np.float32)
    depth[0, 0] = np.nan
    depth[2, 2] = 0.0
    mask = np.ones((10, 12), bool)
    mask[4, :] = False
    rgb = np.arange(10 * 12 * 3, dtype=np.uint8).reshape(10, 12, 3)
    points, colors = backproject(depth, K, mask=mask, stride=2, rgb=rgb)
    # 5 x 6 sampled pixels, minus the NaN, the zero and the 6 masked in row 4
    assert len(points) == 30 - 1 - 1 - 6
    first = pixel_to_point(2, 0, 5.0, K)
    assert np.allclose(points[0], first) and (colors[0] == rgb[0, 2]).all()


def test_pixel_to_point():
    assert np.allclose(pixel_to_point(31.5 + 50, 23.0 - 60, 10.0, K), [10.0, -10.0, 10.0])


def test_stride_for_budget_keeps_within_the_budget():
    for budget in (1, 100, 1000, 5000, 10**7):
        s = stride_for_budget(256, 320, budget)
        count = len(range(0, 256, s)) * len(range(0, 320, s))
        assert count <= budget
        assert s == 1 or len(range(0, 256, s - 1)) * len(range(0, 320, s - 1)) > budget  # the smallest
    with pytest.raises(ValueError):
        stride_for_budget(10, 10, 0)


def test_accumulate_inverts_the_scared_pose():
    angle = 0.3
    R = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    pose = np.eye(4)
    pose[:3, :3], pose[:3, 3] = R, [5.0, -2.0, 7.0]
    keyframe_points = np.random.default_rng(2).uniform(-50, 50, (20, 3))
    frame_points = keyframe_points @ R.T + pose[:3, 3]  # keyframe -> frame
    assert np.allclose(to_keyframe(frame_points, pose), keyframe_points, atol=1e-4)
