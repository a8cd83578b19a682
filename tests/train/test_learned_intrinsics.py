"""Learned intrinsics of objective mono: they start at the assumed K and the photometric loss pulls a wrong
focal length back to the true one (true depth and pose of an exact shift)."""

import torch

from endodepth.train.photometric import photometric_error, pose_matrix, warp
from endodepth.train.pose_net import LearnedIntrinsics, PoseNet

H, W, F_TRUE = 48, 64, 60.0


def _shifted_pair(depth_mm: float = 50.0, shift_mm: float = 5.0):
    """A textured plane at `depth_mm` seen from a source camera moved `shift_mm` along x: the target is
    the source rolled by F_TRUE * shift / depth pixels (an integer roll, no warping code)."""
    g = torch.Generator().manual_seed(0)
    source = torch.nn.functional.interpolate(torch.rand(1, 3, H // 4, W // 4, generator=g), size=(H, W),
                                             mode="bicubic", align_corners=False).clamp(0, 1)
    target = torch.roll(source, shifts=-round(F_TRUE * shift_mm / depth_mm), dims=-1)
    return source, target, pose_matrix(torch.zeros(1, 3), torch.tensor([[shift_mm, 0.0, 0.0]]))


def _K(f: float) -> torch.Tensor:
    return torch.tensor([[f, 0, (W - 1) / 2], [0, f, (H - 1) / 2], [0, 0, 1]])


def test_learned_intrinsics_start_at_the_assumed_k():
    torch.testing.assert_close(LearnedIntrinsics(_K(80.0), (H, W))(), _K(80.0))


def test_the_photometric_loss_pulls_a_wrong_focal_length_to_the_true_one():
    source, target, T = _shifted_pair()
    depth = torch.full((1, 1, H, W), 50.0)
    interior = (slice(None), slice(None), slice(4, -4), slice(12, -12))
    intrinsics = LearnedIntrinsics(_K(F_TRUE * 1.25), (H, W))  # the assumed focal is 25% too long
    optimiser = torch.optim.Adam(intrinsics.parameters(), lr=0.01)
    for _ in range(150):
        loss = photometric_error(warp(source, depth, T, intrinsics()[None]), target)[interior].mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    K = intrinsics().detach()
    assert abs(K[0, 0].item() - F_TRUE) < 0.06 * F_TRUE  # from 25% off to within 6%
    assert abs(K[0, 2].item() - (W - 1) / 2) < 2.0


def test_the_intrinsics_head_gives_a_valid_k_that_gradients_reach():
    net = PoseNet(input_size=None, intrinsics_size=(H, W))
    source, target, _ = _shifted_pair()
    *_, K = net(source, target)
    assert K.shape == (1, 3, 3) and K[0, 0, 0] > 0 and K[0, 1, 1] > 0
    torch.testing.assert_close(K[0, 2], torch.tensor([0.0, 0.0, 1.0]))
    assert K[0, 0, 1] == 0 and K[0, 1, 0] == 0
    K[:, :2, :].sum().backward()
    assert net.intrinsics.focal.weight.grad.abs().sum() > 0 and net.intrinsics.centre.bias.grad.abs().sum() > 0
    assert net.encoder.conv1.weight.grad.abs().sum() > 0  # through the pose features


def test_the_photometric_loss_pulls_the_heads_focal_length_towards_the_true_one():
    """Only the head trains here, so the pose features are computed once."""
    source, target, T = _shifted_pair()
    depth = torch.full((1, 1, H, W), 50.0)
    interior = (slice(None), slice(None), slice(4, -4), slice(12, -12))
    torch.manual_seed(0)
    net = PoseNet(input_size=None, intrinsics_size=(H, W))
    with torch.no_grad():
        feature = net.decoder(net.encoder.forward_features((torch.cat([source, target], 1) - 0.45) / 0.225))
    torch.testing.assert_close(net.intrinsics(feature), net(source, target)[2])
    optimiser = torch.optim.Adam(net.intrinsics.parameters(), lr=0.02)
    start = net.intrinsics(feature)[0, 0, 0].item()
    for _ in range(60):
        loss = photometric_error(warp(source, depth, T, net.intrinsics(feature)), target)[interior].mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    end = net.intrinsics(feature)[0, 0, 0].item()
    assert abs(end - F_TRUE) < 0.5 * abs(start - F_TRUE)


def test_the_intrinsics_heads_principal_point_stays_in_the_images_central_half():
    from endodepth.train.pose_net import IntrinsicsHead

    head = IntrinsicsHead((H, W), width=4)
    torch.nn.init.zeros_(head.centre.weight)
    torch.nn.init.zeros_(head.centre.bias)
    torch.testing.assert_close(head(torch.ones(1, 4, 2, 2))[0, :2, 2], torch.tensor([W / 2, H / 2]))  # the centre
    with torch.no_grad():
        head.centre.bias.copy_(torch.tensor([50.0, -50.0]))  # far past the image either way
    K = head(torch.randn(3, 4, 2, 2))
    assert torch.all(K[:, 0, 2] <= 0.75 * W) and torch.all(K[:, 0, 2] >= 0.74 * W)
    assert torch.all(K[:, 1, 2] >= 0.25 * H) and torch.all(K[:, 1, 2] <= 0.26 * H)
    assert torch.all(K[:, 0, 0] > 0) and torch.all(K[:, 1, 1] > 0)
