"""The photometric objective: a view re-rendered with the true depth and pose matches better than with wrong ones."""

import math

import numpy as np
import torch

from endodepth.train.photometric import (
    min_reprojection,
    photometric_error,
    pose_matrix,
    self_supervised_loss,
    smoothness,
    warp,
)
from endodepth.train.pose_net import PoseNet

H, W = 48, 64
K = torch.tensor([[60.0, 0, (W - 1) / 2], [0, 60.0, (H - 1) / 2], [0, 0, 1]])[None]


def _texture(seed: int = 0) -> torch.Tensor:
    """A smooth random RGB texture (1, 3, H, W) in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, H // 4, W // 4, generator=g)
    return torch.nn.functional.interpolate(coarse, size=(H, W), mode="bicubic", align_corners=False).clamp(0, 1)


def _fronto_parallel_shift(depth_mm: float, shift_mm: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A plane at `depth_mm`, target image and a source camera moved by `shift_mm` along x.

    A target point X is X + t in the source camera, so target pixel u shows what source pixel
    u + fx * t / z shows: the target is the source rolled left by that many pixels (an
    independent integer roll, no warping code).
    """
    pixels = round(60.0 * shift_mm / depth_mm)
    source = _texture()
    target = torch.roll(source, shifts=-pixels, dims=-1)
    T = pose_matrix(torch.zeros(1, 3), torch.tensor([[shift_mm, 0.0, 0.0]]))
    return source, target, T


def test_pose_matrix_is_a_rotation_about_the_axis_and_a_translation():
    T = pose_matrix(torch.tensor([[0.0, 0.0, math.pi / 2]]), torch.tensor([[1.0, 2.0, 3.0]]))[0]
    np.testing.assert_allclose(T[:3, :3].numpy(), [[0, -1, 0], [1, 0, 0], [0, 0, 1]], atol=1e-6)
    np.testing.assert_allclose(T[:3, 3].numpy(), [1, 2, 3])


def test_true_depth_and_pose_reproject_better_than_wrong_ones():
    source, target, T = _fronto_parallel_shift(depth_mm=50.0, shift_mm=5.0)  # 6 pixels
    interior = (slice(None), slice(None), slice(4, -4), slice(10, -10))
    true_depth = torch.full((1, 1, H, W), 50.0)

    def error(depth, pose):
        return photometric_error(warp(source, depth, pose, K), target)[interior].mean().item()

    right = error(true_depth, T)
    assert right < 0.01
    assert error(true_depth * 2, T) > 3 * right  # half the parallax
    assert error(true_depth, pose_matrix(torch.zeros(1, 3), torch.zeros(1, 3))) > 3 * right
    assert error(true_depth, T.inverse()) > 3 * right  # the opposite motion


def test_auto_mask_drops_pixels_a_static_source_explains():
    target = _texture(1)
    still = target.clone()
    moved = torch.roll(target, 5, dims=-1)
    loss, kept = min_reprojection([moved], [still], target)
    assert kept.float().mean() < 0.05  # the identity (still) source wins nearly everywhere
    assert loss.mean() < 1e-3
    _, kept_without = min_reprojection([moved], [moved], target, automask=False)
    assert bool(kept_without.all())


def test_smoothness_is_scale_free_and_lower_where_edges_explain_the_jumps():
    image = torch.zeros(1, 3, H, W)
    image[..., W // 2:] = 1.0
    disp = torch.ones(1, 1, H, W)
    disp[..., W // 2:] = 2.0
    on_edge = smoothness(disp, image)
    off_edge = smoothness(torch.roll(disp, 10, dims=-1), image)
    assert on_edge < off_edge
    torch.testing.assert_close(smoothness(disp * 7, image), on_edge)


def test_self_supervised_loss_prefers_the_true_depth_and_the_pose_net_starts_near_identity():
    source, target, T = _fronto_parallel_shift(depth_mm=40.0, shift_mm=4.0)
    right = self_supervised_loss(torch.full((1, 1, H, W), 40.0), target, [source], [T], K)
    wrong = self_supervised_loss(torch.full((1, 1, H, W), 120.0), target, [source], [T], K)
    assert right["photometric"] < wrong["photometric"]
    axis_angle, translation = PoseNet(input_size=None)(source, target)
    assert axis_angle.abs().max() < 0.05 and translation.abs().max() < 0.05


def test_a_mask_keeps_only_its_pixels_in_the_photometric_mean():
    source, target, T = _fronto_parallel_shift(depth_mm=40.0, shift_mm=4.0)
    depth = torch.full((1, 1, H, W), 40.0)
    spoiled = target.clone()
    spoiled[..., 10:20, 20:40] = 1.0  # a highlight only the target shows
    mask = torch.ones(1, 1, H, W, dtype=torch.bool)
    mask[..., 8:22, 18:42] = False
    clean = self_supervised_loss(depth, target, [source], [T], K)["photometric"]
    unmasked = self_supervised_loss(depth, spoiled, [source], [T], K)["photometric"]
    masked = self_supervised_loss(depth, spoiled, [source], [T], K, mask=mask)
    error, _ = min_reprojection([warp(source, depth, T, K)], [source], spoiled)
    torch.testing.assert_close(masked["photometric"], error[mask[:, :1]].mean())  # the mean over the kept pixels
    assert unmasked > 1.5 * clean and masked["photometric"] < 1.2 * clean
    assert 0 <= masked["kept"] <= 1
