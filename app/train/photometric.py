"""Self-supervised photometric losses (monodepth2's conventions) as small pure functions on (B, C, H, W) tensors.

Images are RGB in [0, 1]; depth is (B, 1, H, W) in any unit, as long as the translations use the
same one. `src_T_tgt` (B, 4, 4) maps points of the target camera into the source camera, so
warping the source by it re-renders the target. The stereo term warps the right view into the left
through the left depth in mm and the calibrated pair (left and right K, x_right = R x_left + T).
"""

from __future__ import annotations

import kornia
import torch
import torch.nn.functional as F
from kornia.geometry.conversions import axis_angle_to_rotation_matrix, normalize_pixel_coordinates
from kornia.geometry.depth import depth_to_3d_v2, warp_frame_depth

SSIM_WEIGHT = 0.85
SMOOTHNESS = 1e-3


def pose_matrix(axis_angle: torch.Tensor, translation: torch.Tensor) -> torch.Tensor:
    """(B, 4, 4) rigid transforms [R(axis_angle) | t] from (B, 3) axis-angle vectors and translations."""
    T = torch.eye(4, dtype=axis_angle.dtype, device=axis_angle.device).repeat(len(axis_angle), 1, 1)
    T[:, :3, :3] = axis_angle_to_rotation_matrix(axis_angle)
    T[:, :3, 3] = translation
    return T


def warp(source: torch.Tensor, depth: torch.Tensor, src_T_tgt: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """The source image resampled onto the target grid through the target's depth and the relative pose."""
    return warp_frame_depth(source, depth, src_T_tgt, K)


def photometric_error(pred: torch.Tensor, target: torch.Tensor, ssim_weight: float = SSIM_WEIGHT) -> torch.Tensor:
    """Per-pixel 0.85 (1 - SSIM)/2 (3x3 window) + 0.15 L1, averaged over channels: (B, 1, H, W)."""
    ssim = kornia.losses.ssim_loss(pred, target, window_size=3, reduction="none").mean(1, keepdim=True)
    l1 = (pred - target).abs().mean(1, keepdim=True)
    return ssim_weight * ssim + (1 - ssim_weight) * l1


def min_reprojection(
    warped: list[torch.Tensor], sources: list[torch.Tensor], target: torch.Tensor, automask: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-pixel minimum reprojection error over the warped sources, and the auto-mask.

    With `automask`, the un-warped sources' errors (plus a 1e-5 tie-breaking noise) join the
    minimum: a pixel a static source already explains better (no motion, or moving with the
    camera) gives no gradient. Returns the (B, 1, H, W) loss map and the mask of pixels whose
    minimum is a warped source.
    """
    reprojection = torch.cat([photometric_error(w, target) for w in warped], 1)
    if not automask:
        loss, _ = reprojection.min(1, keepdim=True)
        return loss, torch.ones_like(loss, dtype=torch.bool)
    identity = torch.cat([photometric_error(s, target) for s in sources], 1)
    identity = identity + torch.randn_like(identity) * 1e-5
    loss, choice = torch.cat([identity, reprojection], 1).min(1, keepdim=True)
    return loss, choice >= len(sources)


def smoothness(disp: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    """Edge-aware smoothness of the mean-normalised disparity: |grad d| exp(-|grad I|), x and y."""
    d = disp / (disp.mean((2, 3), keepdim=True) + 1e-7)
    dx = (d[..., :, :-1] - d[..., :, 1:]).abs()
    dy = (d[..., :-1, :] - d[..., 1:, :]).abs()
    ix = (image[..., :, :-1] - image[..., :, 1:]).abs().mean(1, keepdim=True)
    iy = (image[..., :-1, :] - image[..., 1:, :]).abs().mean(1, keepdim=True)
    return (dx * torch.exp(-ix)).mean() + (dy * torch.exp(-iy)).mean()


def self_supervised_loss(
    depth: torch.Tensor,
    target: torch.Tensor,
    sources: list[torch.Tensor],
    poses: list[torch.Tensor],
    K: torch.Tensor,
    smooth_weight: float = SMOOTHNESS,
    mask: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """monodepth2's objective for one scale: min-reprojection with auto-mask, plus edge-aware smoothness.

    `depth` (B, 1, H, W) is the target's; `poses[i]` is `src_T_tgt` of `sources[i]`; `mask` (B, 1, H, W)
    bool, when given, keeps only its pixels in the photometric mean (e.g. off specular highlights, which
    move with the light, not with the surface). Returns the terms and the fraction of the kept pixels
    the auto-mask kept (not a loss; detached).
    """
    warped = [warp(s, depth, T, K) for s, T in zip(sources, poses)]
    loss, kept = min_reprojection(warped, sources, target)
    keep = torch.ones_like(loss) if mask is None else mask.to(loss.dtype)
    count = keep.sum().clamp_min(1.0)
    return {
        "photometric": (loss * keep).sum() / count,
        "smoothness": smooth_weight * smoothness(1.0 / depth, target),
        "kept": ((kept * keep).sum() / count).detach(),
    }


def stereo_warp(
    right: torch.Tensor, depth: torch.Tensor, K_left: torch.Tensor, K_right: torch.Tensor, right_T_left: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The right view resampled onto the left grid through the left depth (pinhole; lens distortion
    ignored), and the (B, 1, H, W) mask of left pixels whose point lands inside the right view."""
    B, _, H, W = depth.shape
    points = depth_to_3d_v2(depth[:, 0], K_left).reshape(B, -1, 3)  # left camera, in depth's unit
    moved = points @ right_T_left[:, :3, :3].transpose(1, 2) + right_T_left[:, None, :3, 3]
    pixels = moved @ K_right.transpose(1, 2)
    uv = pixels[..., :2] / pixels[..., 2:].clamp_min(1e-6)
    grid = normalize_pixel_coordinates(uv, H, W).reshape(B, H, W, 2)
    warped = F.grid_sample(right, grid, mode="bilinear", padding_mode="border", align_corners=True)
    inside = (grid.abs() <= 1).all(-1) & (moved[..., 2].reshape(B, H, W) > 0)
    return warped, inside[:, None]


def stereo_photometric_loss(
    depth_mm: torch.Tensor, left: torch.Tensor, right: torch.Tensor,
    K_left: torch.Tensor, K_right: torch.Tensor, right_T_left: torch.Tensor, weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean photometric error (0.85 SSIM + 0.15 L1) of the right view warped into the left by `depth_mm`,
    over the pixels that land inside the right view (times `weight` (B, 1, H, W) when given)."""
    warped, inside = stereo_warp(right, depth_mm, K_left, K_right, right_T_left)
    mask = inside.to(depth_mm.dtype) if weight is None else inside * weight
    return (photometric_error(warped, left) * mask).sum() / mask.sum().clamp_min(1.0)
