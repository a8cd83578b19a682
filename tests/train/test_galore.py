"""Our GaLore projector: plain groups are AdamW, GaLore groups keep rank-r moments and still fit a problem."""

import pytest
import torch

from endodepth.train.galore import GaLoreAdamW, project, project_back, projector, state_numel


@pytest.mark.parametrize("shape", [(12, 5), (5, 12)])
def test_the_projector_keeps_a_rank_r_gradient_exactly(shape):
    g = torch.Generator().manual_seed(0)
    grad = torch.randn(shape[0], 2, generator=g) @ torch.randn(2, shape[1], generator=g)
    P = projector(grad, 2)
    low = project(grad, P)
    assert min(low.shape) == 2
    assert torch.allclose(project_back(low, P, grad.shape), grad, atol=1e-5)


def test_a_group_without_rank_is_plain_adamw():
    torch.manual_seed(0)
    a = torch.nn.Linear(6, 4)
    b = torch.nn.Linear(6, 4)
    b.load_state_dict(a.state_dict())
    ours = GaLoreAdamW(a.parameters(), lr=1e-2, eps=1e-8)
    ref = torch.optim.AdamW(b.parameters(), lr=1e-2, eps=1e-8, weight_decay=0.0)
    x = torch.randn(16, 6)
    for _ in range(5):
        for net, opt in ((a, ours), (b, ref)):
            opt.zero_grad()
            net(x).pow(2).sum().backward()
            opt.step()
    assert torch.allclose(a.weight, b.weight, atol=1e-6) and torch.allclose(a.bias, b.bias, atol=1e-6)


def test_a_galore_group_keeps_low_rank_moments_and_fits_least_squares():
    torch.manual_seed(0)
    W = torch.nn.Parameter(torch.zeros(32, 16))
    target = torch.randn(32, 16)
    opt = GaLoreAdamW([{"params": [W], "rank": 4, "update_proj_gap": 10, "scale": 1.0}], lr=0.05)
    first = None
    for _ in range(200):
        opt.zero_grad()
        loss = (W - target).pow(2).mean()
        loss.backward()
        opt.step()
        first = first or loss.item()
    state = opt.state[W]
    assert state["exp_avg"].shape == (32, 4) and state["projector"].shape == (4, 16)
    assert state_numel(opt) == 2 * 32 * 4 + 4 * 16 < 2 * W.numel()
    assert loss.item() < 0.2 * first  # the subspace moves every 10 steps, so the full-rank target is reached
