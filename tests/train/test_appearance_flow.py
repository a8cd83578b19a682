"""AF-SfMLearner's appearance flow: its terms as specified on hand-made tensors, and a known brightness change
between two frames that the calibrated photometric loss learns to discount."""

import numpy as np
import pytest
import torch

from endodepth.train.appearance_flow import AppearanceFlowNet, brightness_smoothness, calibrated_target, constraint
from endodepth.train.selfsup import CONVENTIONS, masked_mean_reprojection, photometric_objective


def test_the_calibrated_target_adds_the_masked_residual_and_clamps():
    target = torch.tensor([[[[0.2, 0.9], [0.5, 0.0]]]]).repeat(1, 3, 1, 1)
    flow = torch.tensor([[[[0.3, 0.3], [-0.2, -0.4]]]]).repeat(1, 3, 1, 1)
    mask = torch.tensor([[[[1.0, 1.0], [0.0, 1.0]]]])
    expected = torch.tensor([[0.5, 1.0], [0.5, 0.0]])  # 0.9 + 0.3 clamps to 1, masked pixel unchanged, -0.4 to 0
    torch.testing.assert_close(calibrated_target(target, flow, mask)[0, 0], expected)


def test_the_constraint_is_the_masked_mean_absolute_difference():
    calibrated = torch.zeros(1, 3, 2, 2)
    registered = torch.tensor([0.1, 0.2, 0.3])[None, :, None, None].expand(1, 3, 2, 2).clone()
    registered[:, :, 1, 1] = 5.0  # outside the mask: does not count
    mask = torch.tensor([[[[1.0, 1.0], [1.0, 0.0]]]])
    assert constraint(calibrated, registered, mask).item() == pytest.approx(0.2)


def test_brightness_smoothness_matches_a_loop_over_pixels():
    g = torch.Generator().manual_seed(0)
    flow, target, registered = (torch.rand(1, 3, 4, 5, generator=g) for _ in range(3))
    mask = (torch.rand(1, 1, 4, 5, generator=g) > 0.3).float()
    c, r, m = flow[0].numpy(), (target - registered)[0].numpy(), mask[0, 0].numpy()
    total = 0.0
    for axis in (1, 0):  # x then y
        num = den = 0.0
        for y in range(4 - (axis == 0)):
            for x in range(5 - (axis == 1)):
                y2, x2 = y + (axis == 0), x + (axis == 1)
                grad_c = np.abs(c[:, y, x] - c[:, y2, x2]).mean()
                grad_r = np.abs(r[:, y, x] - r[:, y2, x2]).mean()
                num += grad_c * np.exp(-grad_r) * m[y, x]
                den += m[y, x]
        total += num / den
    assert brightness_smoothness(flow, target, registered, mask).item() == pytest.approx(total, rel=1e-5)


def test_the_net_gives_four_tanh_scales_and_starts_at_no_correction():
    outs = AppearanceFlowNet()(torch.rand(2, 3, 32, 40), torch.rand(2, 3, 32, 40))
    assert [tuple(o.shape) for o in outs] == [(2, 3, 32 // 2**s, 40 // 2**s) for s in range(4)]
    assert all(torch.equal(o, torch.zeros_like(o)) for o in outs)


def _static_pair_with_a_light_change():
    """Two frames of a static camera whose light got 25% brighter, darker towards the right (the moving light)."""
    g = torch.Generator().manual_seed(0)
    source = torch.nn.functional.interpolate(torch.rand(1, 3, 8, 10, generator=g), size=(32, 40), mode="bicubic",
                                             align_corners=False).clamp(0.05, 0.7)
    gain = torch.linspace(1.35, 1.15, 40).view(1, 1, 1, 40)
    return source, (source * gain).clamp(0, 1)


def test_the_calibrated_photometric_loss_falls_below_the_uncorrected_one():
    source, target = _static_pair_with_a_light_change()
    disps = [torch.full((1, 1, 32 // 2**s, 40 // 2**s), 0.5) for s in range(2)]
    K = torch.tensor([[[30.0, 0, 19.5], [0, 30.0, 15.5], [0, 0, 1]]])
    pose = torch.eye(4)[None]
    convention = CONVENTIONS["af-sfmlearner"]
    uncorrected = masked_mean_reprojection([source], [torch.ones(1, 1, 32, 40)], [target]).item()
    torch.manual_seed(0)
    net = AppearanceFlowNet()
    optimiser = torch.optim.Adam(net.parameters(), lr=1e-3)
    for _ in range(40):
        terms = photometric_objective(disps, target, [source], [pose], K, convention, appearance=net)
        loss = terms["photometric"] + terms["appearance_constraint"] + terms["appearance_smoothness"]
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    assert terms["appearance_constraint"].item() > 0 and terms["appearance_smoothness"].item() > 0
    assert terms["photometric"].item() < 0.6 * uncorrected


def test_appearance_flow_needs_an_occlusion_masked_convention():
    x = torch.rand(1, 3, 8, 8)
    with pytest.raises(ValueError, match="monodepth2"):
        photometric_objective([torch.rand(1, 1, 8, 8)], x, [x], [torch.eye(4)[None]], torch.eye(3)[None],
                              CONVENTIONS["monodepth2"], appearance=AppearanceFlowNet())
