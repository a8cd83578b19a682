import numpy as np
import pytest
import torch
from torch import nn

from endodepth.analysis.selectivity import SelectivityAccumulator, depth_bin_edges
from endodepth.train.selectivity import assign_selectivity_loss, assigned_bins

EDGES = depth_bin_edges(4, 1.0, 4.0, "uniform")  # 0, 1, 2, 3, 4

pytestmark = pytest.mark.usefixtures("one_thread")


def hand_loss(feats, depth, weight):
    """-weight * mean over units of DS with unit k -> bin k * K // N; absent bins: DS 0, left out of the others."""
    f = np.abs(feats.numpy())  # (B, C, H, W), same size as depth
    z = depth.numpy()
    idx = np.digitize(z, EDGES, right=True) - 1
    k = len(EDGES) - 1
    units = f.shape[1]
    means = {d: f.transpose(1, 0, 2, 3)[:, idx == d].mean(1) for d in range(k) if (idx == d).any()}
    ds = []
    for u in range(units):
        a = u * k // units
        if a not in means:
            ds.append(0.0)
            continue
        others = np.mean([means[d][u] for d in means if d != a])
        ds.append((means[a][u] - others) / (means[a][u] + others + 1e-15))
    return -weight * float(np.mean(ds))


def test_assigned_bins_share_units_equally():
    assert assigned_bins(8, 4).tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    assert assigned_bins(4, 8).tolist() == [0, 2, 4, 6]
    assert assigned_bins(64, 64).tolist() == list(range(64))


def test_loss_matches_a_hand_computation():
    g = torch.Generator().manual_seed(0)
    depth = torch.rand(2, 6, 7, generator=g) * 3.9 + 0.05
    feats = torch.randn(2, 8, 6, 7, generator=g)
    got = assign_selectivity_loss({"a": feats}, depth, EDGES, weight=0.3)
    assert got.item() == pytest.approx(hand_loss(feats, depth, 0.3), rel=1e-5)


def test_units_whose_bin_is_absent_get_zero_but_still_count():
    depth = torch.tensor([[[0.5, 1.5], [0.5, 1.5]]])  # only bins 0 and 1
    feats = torch.zeros(1, 4, 2, 2)
    feats[0, 0] = torch.tensor([[1.0, 0.0], [1.0, 0.0]])  # unit 0 -> bin 0: DS 1
    feats[0, 1] = torch.tensor([[0.0, 1.0], [0.0, 1.0]])  # unit 1 -> bin 1: DS 1
    feats[0, 2:] = 5.0  # units 2, 3 -> bins 2, 3, absent: DS 0
    got = assign_selectivity_loss({"a": feats}, depth, EDGES, weight=1.0)
    assert got.item() == pytest.approx(-(1 + 1 + 0 + 0) / 4)
    assert got.item() == pytest.approx(hand_loss(feats, depth, 1.0))


def test_layers_add_up_and_depth_may_carry_a_channel_axis():
    g = torch.Generator().manual_seed(1)
    depth = torch.rand(2, 8, 8, generator=g) * 3.9 + 0.05
    a, b = torch.randn(2, 4, 4, 4, generator=g), torch.randn(2, 8, 2, 2, generator=g)
    both = assign_selectivity_loss({"a": a, "b": b}, depth[:, None], EDGES)
    la, lb = assign_selectivity_loss({"a": a}, depth, EDGES), assign_selectivity_loss({"b": b}, depth, EDGES)
    assert min(abs(la.item()), abs(lb.item())) > 1e-6
    assert both.item() == pytest.approx(la.item() + lb.item(), abs=1e-9)


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError):
        assign_selectivity_loss({"a": torch.zeros(1, 2, 3, 3)}, torch.ones(3, 3), EDGES)
    with pytest.raises(ValueError, match="layer 'a'"):
        assign_selectivity_loss({"a": torch.zeros(2, 2, 3)}, torch.ones(2, 3, 3), EDGES)


def toy_batch(g, batch=4, size=16):
    """Smooth depth maps between 0.2 and 3.9 (ramps at random angles) and the net's input, polynomials of depth."""
    yy, xx = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    angle = torch.rand(batch, 1, 1, generator=g) * 6.28
    ramp = (torch.cos(angle) * xx + torch.sin(angle) * yy + 1.5) / 3.0
    depth = 0.2 + 3.7 * ramp.clamp(0, 1)
    z = depth[:, None] / 4.0
    return torch.cat([z, z**2, z**3, torch.ones_like(z)], 1), depth


def dissected_mean_ds(net, g):
    acc = SelectivityAccumulator(EDGES)
    x, depth = toy_batch(g, batch=4)
    with torch.no_grad():
        feats = net(x)
    for i in range(len(depth)):
        acc.update({"toy": feats[i].numpy()}, depth[i].numpy())
    return acc.selectivity("toy")[2]


def test_optimising_the_loss_makes_a_toy_conv_layer_selective():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(4, 32, 1), nn.Softplus(), nn.Conv2d(32, 8, 1), nn.Softplus())
    g = torch.Generator().manual_seed(0)
    opt = torch.optim.Adam(net.parameters(), lr=3e-2)
    ds_before = dissected_mean_ds(net, torch.Generator().manual_seed(99))
    losses = []
    for _ in range(60):
        x, depth = toy_batch(g)
        loss = assign_selectivity_loss({"toy": net(x)}, depth, EDGES, weight=1.0)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    ds_after = dissected_mean_ds(net, torch.Generator().manual_seed(99))
    assert np.mean(losses[-10:]) < np.mean(losses[:10]) - 0.3
    assert ds_after > ds_before + 0.5

