"""ZoeD-NK routed metric heads: each sample goes to its own head, probabilities, the positional code, the models."""

import math

import numpy as np
import pytest
import torch

from endodepth.models import create
from endodepth.models.metric_router import (
    ENDOSCOPY_DOMAINS,
    MetricBinsRouter,
    as_domains,
    sinusoidal_positions,
)
from endodepth.models.registry import build

pytestmark = pytest.mark.usefixtures("one_thread")

DOMAINS = [("near", 1.0, 20.0), ("far", 10.0, 200.0)]


def _inputs(sign: float, batch: int = 1):
    """Features of one 'domain': the bottleneck's sign tells them apart."""
    g = torch.Generator().manual_seed(int(sign > 0))
    bottleneck = sign + 0.1 * torch.randn(batch, 8, 2, 3, generator=g)
    levels = [torch.randn(batch, 8, 4, 6, generator=g), torch.randn(batch, 4, 8, 12, generator=g)]
    return bottleneck, levels, torch.randn(batch, 5, 8, 12, generator=g)


@pytest.fixture(scope="module")
def trained_router() -> MetricBinsRouter:
    """A tiny router taught by its cross-entropy that positive bottlenecks are 'far' and negative 'near'."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # module fixtures run before the tests' one_thread
    torch.manual_seed(0)
    head = MetricBinsRouter(8, (8, 4), 5, DOMAINS, embed_dim=16, router_layers=1, router_feedforward=32,
                            n_bins=16, n_attractors=(4, 2))
    opt = torch.optim.Adam(head.router.parameters(), lr=3e-3)
    parts = [_inputs(-1.0, 2), _inputs(1.0, 2)]
    x = [torch.cat(t) for t in zip(*[(b, *lv, last) for b, lv, last in parts])]
    bottleneck, levels, last = x[0], x[1:3], x[3]
    labels = torch.tensor([0, 0, 1, 1])
    for _ in range(40):
        head(bottleneck, levels, last, domains=labels)
        loss = torch.nn.functional.cross_entropy(head.last_routing.logits, labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
    torch.set_num_threads(threads)
    return head.eval()


def test_each_sample_gets_its_own_head_not_the_batch_vote(trained_router):
    near, far = _inputs(-1.0), _inputs(1.0)
    with torch.no_grad():
        mixed = trained_router(torch.cat([near[0], far[0]]), [torch.cat(p) for p in zip(near[1], far[1])],
                               torch.cat([near[2], far[2]]))
        assert trained_router.last_routing.chosen.tolist() == [0, 1]
        alone = []
        for bottleneck, levels, last in (near, far):
            alone.append(trained_router(bottleneck, levels, last))
        x, embeddings = trained_router.embed(near[0], near[1])
        near_head = trained_router.heads["near"](x, embeddings, near[2])
    assert torch.allclose(mixed[0], alone[0][0], atol=1e-5) and torch.allclose(mixed[1], alone[1][0], atol=1e-5)
    assert torch.allclose(mixed[0], near_head[0], atol=1e-5)
    assert mixed[0].max() <= 20.0 and mixed[1].min() >= 10.0  # each within its own head's range


def test_labels_route_samples_in_training(trained_router):
    far = _inputs(1.0)
    with torch.no_grad():
        forced = trained_router(*far, domains=torch.tensor([0]))
        x, embeddings = trained_router.embed(far[0], far[1])
        expected = trained_router.heads["near"](x, embeddings, far[2])
    assert trained_router.last_routing.chosen.tolist() == [0]
    assert torch.allclose(forced, expected)


def test_routes_carry_head_and_probabilities_summing_to_one(trained_router):
    near, far = _inputs(-1.0), _inputs(1.0)
    with torch.no_grad():
        trained_router(torch.cat([near[0], far[0]]), [torch.cat(p) for p in zip(near[1], far[1])],
                       torch.cat([near[2], far[2]]))
    routes = trained_router.routes(2)
    assert [r.head for r in routes] == ["near", "far"]
    logits = trained_router.last_routing.logits.numpy()
    for route, row in zip(routes, logits):
        expected = np.exp(row - row.max()) / np.exp(row - row.max()).sum()
        assert math.isclose(sum(route.probabilities.values()), 1.0, abs_tol=1e-6)
        np.testing.assert_allclose(list(route.probabilities.values()), expected, rtol=1e-5)
        assert route.head == max(route.probabilities, key=route.probabilities.get)


def test_positions_are_zoedepths_sin_then_cos():
    pe = sinusoidal_positions(5, 8, torch.device("cpu"), torch.float32).numpy()
    pos, i = np.arange(5)[:, None], np.arange(0, 8, 2)[None]
    angle = pos * np.exp(i * -np.log(1e4) / 8)
    np.testing.assert_allclose(pe, np.concatenate([np.sin(angle), np.cos(angle)], 1), atol=1e-6)


def test_domains_need_two_distinct_names():
    assert as_domains([["a", 1, 2], ["b", 1, 3]])[1].max_depth == 3.0
    with pytest.raises(ValueError, match="two or more"):
        as_domains([["a", 1, 2]])
    with pytest.raises(ValueError, match="distinct"):
        as_domains([["a", 1, 2], ["a", 1, 3]])


@pytest.mark.parametrize("name", ["metric-bins-router", "depth-anything-v2-vits-metric-bins-router"])
def test_routed_models_put_the_route_in_each_result(name):
    options = {"short_side": 56} if name.startswith("depth-anything") else {"input_size": (64, 96)}
    model = build(name, **options).eval()
    rgb = np.random.default_rng(3).integers(0, 256, (2, 48, 60, 3), dtype=np.uint8)
    results = model.predict_batch(list(rgb))
    names = [d.name for d in ENDOSCOPY_DOMAINS]
    for result in results:
        assert result.kind == "metric-mm" and result.route is not None
        assert list(result.route.probabilities) == names
        assert math.isclose(sum(result.route.probabilities.values()), 1.0, abs_tol=1e-6)
        top = ENDOSCOPY_DOMAINS[names.index(result.route.head)]
        assert top.min_depth <= result.output.min() and result.output.max() <= top.max_depth


def test_single_head_model_has_no_route():
    result = build("metric-bins", input_size=(64, 96)).predict(np.zeros((40, 50, 3), np.uint8))
    assert result.route is None and result.kind == "metric-mm"
    assert 1.0 <= result.output.min() and result.output.max() <= 150.0


def test_relative_meter_weights_start_the_metric_model(tmp_path):
    from endodepth.models.checkpoint import save_checkpoint

    relative = build("default")
    path = save_checkpoint(relative.state_dict(), tmp_path / "relative.safetensors", "default")
    model = create("metric-bins-router", weights=path)
    key = "enc_3.0.transformer.attn.qkv.weight"
    assert torch.equal(model.state_dict()[key], relative.state_dict()[key])
