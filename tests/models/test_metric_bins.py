"""ZoeDepth metric bins: attractor update, seed bins, log-binomial against exact formulas (numpy), head range."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from endodepth.models.metric_bins import (
    AttractorLayer,
    ConditionalLogBinomial,
    MetricBinsHead,
    SeedBinRegressor,
    attractor_shift,
    log_binomial_probs,
)

CENTRES = np.array([0.1, 0.19, 0.52, 0.9])
ATTRACTORS = np.array([0.2, 0.5])

pytestmark = pytest.mark.usefixtures("one_thread")


def _as_map(values) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64).view(1, -1, 1, 1)


def _constant_output(mlp: nn.Sequential, bias) -> None:
    """Make a 1x1-conv MLP output a constant: zero weights and the given bias on its last conv."""
    last = mlp[2]
    nn.init.zeros_(last.weight)
    with torch.no_grad():
        last.bias.copy_(torch.as_tensor(bias, dtype=last.bias.dtype))


@pytest.mark.parametrize("kind, agg", [("inv", "mean"), ("inv", "sum"), ("exp", "mean"), ("exp", "sum")])
def test_attractor_shift_matches_the_formula(kind, agg):
    alpha, gamma = 1000.0, 2
    dx = ATTRACTORS[:, None] - CENTRES[None, :]
    f = dx / (1 + alpha * dx**gamma) if kind == "inv" else np.exp(-alpha * np.abs(dx) ** gamma) * dx
    expected = f.mean(0) if agg == "mean" else f.sum(0)
    got = attractor_shift(_as_map(ATTRACTORS), _as_map(CENTRES), alpha, gamma, kind, agg)
    np.testing.assert_allclose(got.flatten().numpy(), expected, rtol=1e-12)
    # By hand: c = 0.19 -> 0.01 / 1.1 (a = 0.2) and 0.31 / 97.1 (a = 0.5).
    if (kind, agg) == ("inv", "sum"):
        assert got.flatten()[1].item() == pytest.approx(0.01 / 1.1 + 0.31 / 97.1)


def test_attractor_layer_pulls_centres_towards_its_attractor():
    layer = AttractorLayer(embed_dim=8, n_attractors=1, mlp_dim=8, alpha=10.0).double()
    target = 0.3
    _constant_output(layer.net, [math.log(math.expm1(target))])  # softplus(bias) = 0.3
    centres = _as_map(np.linspace(0.0, 1.0, 11)).expand(1, 11, 2, 2)
    embedding = torch.randn(1, 8, 4, 4, dtype=torch.float64)
    new = layer(embedding, torch.randn(1, 8, 2, 2, dtype=torch.float64), centres)
    assert new.shape == (1, 11, 4, 4)
    before, after = (centres[0, :, 0, 0] - target).abs(), (new[0, :, 0, 0] - target).abs()
    assert (after <= before + 1e-12).all() and (after < before).sum() >= 9


def test_normed_seed_centres_are_midpoints_of_normalised_widths():
    seed = SeedBinRegressor(4, n_bins=5, mlp_dim=8, kind="normed").double()
    raw = np.array([1.0, 3.0, 0.0, 2.0, 4.0])
    _constant_output(seed.net, raw)
    centres = seed(torch.randn(2, 4, 3, 3, dtype=torch.float64))
    widths = (raw + 1e-3) / (raw + 1e-3).sum()
    edges = np.concatenate([[0.0], np.cumsum(widths)])
    np.testing.assert_allclose(centres[1, :, 2, 0].detach().numpy(), 0.5 * (edges[:-1] + edges[1:]), rtol=1e-12)


def _exact_binomial(q: float, t: float, n_bins: int) -> np.ndarray:
    n = n_bins - 1
    k = np.arange(n_bins)
    log_c = np.array([math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) for i in k])
    logp = (log_c + k * math.log(q) + (n - k) * math.log(1 - q)) / t
    p = np.exp(logp - logp.max())
    return p / p.sum()


@pytest.mark.parametrize("q", [0.37, 0.5, 0.63])
@pytest.mark.parametrize("t", [1.0, 0.5])
def test_log_binomial_is_close_to_the_exact_tempered_binomial(q, t):
    k = 64
    p = log_binomial_probs(_as_map([q]), _as_map([t]), k).flatten().numpy()
    exact = _exact_binomial(q, t, k)
    assert p.sum() == pytest.approx(1.0, abs=1e-12)
    assert abs(int(p.argmax()) - q * (k - 1)) <= 1
    assert 0.5 * np.abs(p - exact).sum() < 0.025  # total variation
    assert (np.arange(k) * p).sum() == pytest.approx((np.arange(k) * exact).sum(), abs=0.2)


@pytest.mark.parametrize("q", [0.1, 0.37, 0.8])
def test_log_binomial_differs_from_exact_only_by_the_dropped_stirling_term(q):
    # ln k! = k ln k - k + ln(2 pi k) / 2 + O(1 / 12k): the leading terms leave out
    # ln(n / (2 pi k (n - k))) / 2 from log C(n, k), so p_stirling / p_exact * that term is constant.
    n_bins, n = 64, 63
    p = log_binomial_probs(_as_map([q]), _as_map([1.0]), n_bins).flatten().numpy()
    k = np.arange(3, n - 2)
    residual = np.log(p[k]) - np.log(_exact_binomial(q, 1.0, n_bins)[k]) - 0.5 * np.log(2 * np.pi * k * (n - k) / n)
    assert np.ptp(residual) < 0.06


def test_low_temperature_concentrates_on_the_mode():
    probs = log_binomial_probs(_as_map([0.5]), _as_map([0.0212]), 64).flatten()
    assert probs.argmax().item() in (31, 32) and probs.max().item() > 0.45
    assert probs[[30, 33]].sum().item() < 0.05


def test_conditional_log_binomial_maps_mlp_output_to_mode_and_temperature():
    layer = ConditionalLogBinomial(3, 5, n_bins=64).double()
    raw = np.array([0.4, -1.0, 2.0, 0.5])
    _constant_output(layer.mlp, raw)
    probs = layer(torch.randn(1, 3, 2, 2, dtype=torch.float64), torch.randn(1, 5, 2, 2, dtype=torch.float64))
    s = np.log1p(np.exp(raw)) + 1e-4
    q = s[0] / (s[0] + s[1])
    t = (50 - 0.0212) * s[2] / (s[2] + s[3]) + 0.0212
    n, k = 63, np.arange(64.0)
    xlogx = lambda v: np.where(v > 0, v * np.log(np.maximum(v, 1e-300)), 0.0)
    logp = (xlogx(n) - xlogx(k) - xlogx(n - k) + k * np.log(q) + (n - k) * np.log(1 - q)) / t
    expected = np.exp(logp - logp.max()) / np.exp(logp - logp.max()).sum()
    assert probs.shape == (1, 64, 2, 2)
    np.testing.assert_allclose(probs[0, :, 1, 1].detach().numpy(), expected, rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize("bin_centers_type", ["softplus", "normed"])
def test_head_depth_lies_in_the_range_and_learns(bin_centers_type):
    head = MetricBinsHead(16, (16, 16, 16, 16), 9, min_depth=1.0, max_depth=150.0, bin_centers_type=bin_centers_type)
    sizes = [(2, 3), (4, 5), (8, 10), (16, 20)]
    bottleneck = torch.randn(2, 16, 1, 2)
    levels = [torch.randn(2, 16, *s) for s in sizes]
    last = torch.randn(2, 9, 32, 40)
    depth = head(bottleneck, levels, last)
    assert depth.shape == (2, 1, 32, 40) and torch.isfinite(depth).all()
    assert depth.min() >= 1.0 and depth.max() <= 150.0
    probs, centres = head.bins(bottleneck, levels, last)
    assert torch.allclose(probs.sum(1), torch.ones(2, 32, 40, dtype=probs.dtype), atol=1e-5)
    assert (centres.diff(dim=1) >= 0).all()
    target = torch.full_like(depth, 40.0)
    opt = torch.optim.Adam(head.parameters(), lr=1e-2)
    losses = []
    for _ in range(3):
        loss = (head(bottleneck, levels, last).log() - target.log()).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0], losses


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="bin centres type"):
        SeedBinRegressor(4, kind="linear")
    with pytest.raises(ValueError, match="attractor counts"):
        MetricBinsHead(8, (8, 8), 9)
    with pytest.raises(ValueError, match="attractor type"):
        attractor_shift(_as_map([0.5]), _as_map([0.2]), 1.0, 2.0, kind="gauss")
