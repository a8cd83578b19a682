"""The multi-scale photometric objective: true depth and pose beat wrong ones; auto-mask drops static pixels."""

import pytest
import torch

from endodepth.train.photometric import pose_matrix, warp
from endodepth.train.selfsup import (
    CONVENTIONS,
    disp_to_depth,
    disparity_pyramid,
    photometric_objective,
    warp_with_mask,
)

H, W = 48, 64
K = torch.tensor([[60.0, 0, (W - 1) / 2], [0, 60.0, (H - 1) / 2], [0, 0, 1]])[None]
DEPTH_RANGE = (10.0, 200.0)


def _texture(seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, H // 4, W // 4, generator=g)
    return torch.nn.functional.interpolate(coarse, size=(H, W), mode="bicubic", align_corners=False).clamp(0, 1)


def _disp_for(depth_mm: float) -> torch.Tensor:
    """The sigmoid disparity that `disp_to_depth(DEPTH_RANGE)` maps to `depth_mm`."""
    lo, hi = 1 / DEPTH_RANGE[1], 1 / DEPTH_RANGE[0]
    return torch.full((1, 1, H // 2, W // 2), (1 / depth_mm - lo) / (hi - lo))


def _scene(shift_px: int = 6, depth_mm: float = 50.0):
    """A plane at `depth_mm`; sources moved by +-shift along x, so the target is each source rolled by shift pixels."""
    shift_mm = shift_px * depth_mm / 60.0
    prev, nxt = _texture(1), _texture(2)
    target = torch.roll(prev, -shift_px, -1)
    nxt = torch.roll(target, -shift_px, -1)  # the next frame moves the other way
    poses = [pose_matrix(torch.zeros(1, 3), torch.tensor([[s, 0.0, 0.0]])) for s in (shift_mm, -shift_mm)]
    return target, [prev, nxt], poses


def test_disp_to_depth_spans_the_range():
    _, depth = disp_to_depth(torch.tensor([0.0, 1.0]), 0.1, 150.0)
    assert depth.tolist() == pytest.approx([150.0, 0.1])


def test_our_warp_matches_kornias_and_masks_pixels_that_leave_the_view():
    source = _texture()
    depth = torch.full((1, 1, H, W), 50.0)
    T = pose_matrix(torch.tensor([[0.0, 0.05, 0.0]]), torch.tensor([[5.0, 1.0, 2.0]]))
    ours, inside = warp_with_mask(source, depth, T, K)
    theirs = warp(source, depth, T, K)
    assert torch.allclose(ours[..., 8:-8, 12:-12], theirs[..., 8:-8, 12:-12], atol=1e-4)
    assert 0.5 < inside.mean() < 1.0 and inside[..., :, -1].sum() == 0  # the right edge goes out of view


@pytest.mark.parametrize("name", sorted(CONVENTIONS))
def test_true_depth_and_pose_score_lower_than_wrong_ones(name):
    target, sources, poses = _scene()
    conv = CONVENTIONS[name]

    def loss(depth_mm, moves=poses):
        disps = disparity_pyramid(_disp_for(depth_mm), 4)
        return photometric_objective(disps, target, sources, moves, K, conv, DEPTH_RANGE)["photometric"].item()

    right = loss(50.0)
    assert right < 0.6 * loss(100.0)
    assert right < 0.6 * loss(25.0)
    still = [pose_matrix(torch.zeros(1, 3), torch.zeros(1, 3))] * 2
    assert right < 0.6 * loss(50.0, still)


def test_auto_mask_drops_static_pixels_and_the_mean_convention_does_not():
    target = _texture()
    sources = [target.clone(), target.clone()]  # nothing moved: every pixel is explained by no motion
    poses = [pose_matrix(torch.zeros(1, 3), torch.tensor([[s, 0.0, 0.0]])) for s in (4.0, -4.0)]
    disps = [_disp_for(50.0)]
    mono = photometric_objective(disps, target, sources, poses, K, CONVENTIONS["monodepth2"], DEPTH_RANGE)
    af = photometric_objective(disps, target, sources, poses, K, CONVENTIONS["af-sfmlearner"], DEPTH_RANGE)
    assert mono["kept"] < 0.05  # auto-mask: the identity error (0) wins almost everywhere
    assert af["kept"] > 0.8 and af["photometric"] > 10 * mono["photometric"]


def test_smoothness_weight_follows_the_convention():
    target, sources, poses = _scene()
    g = torch.Generator().manual_seed(0)
    disps = [torch.rand(1, 1, H // 2, W // 2, generator=g)]
    terms = {n: photometric_objective(disps, target, sources, poses, K, c, DEPTH_RANGE)["smoothness"].item()
             for n, c in CONVENTIONS.items()}
    assert terms["monodepth2"] == pytest.approx(10 * terms["af-sfmlearner"], rel=1e-5)
    assert terms["endodac"] == pytest.approx(terms["monodepth2"], rel=1e-5)
