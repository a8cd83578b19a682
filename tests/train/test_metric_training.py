"""Supervised training of the metric heads: millimetre targets in each head's range, the router's domain loss."""

import json

import numpy as np
import pytest
import torch

from endodepth.errors import UsageError
from endodepth.train.datasets import FrameSet, FrameSets, SynthRecipe
from endodepth.train.trainer import Trainer, TrainOptions

DOMAINS = ("laparoscopy", "colonoscopy", "sinus")
DEPTHS = {"laparoscopy": 90.0, "colonoscopy": 40.0, "sinus": 10.0}
TINTS = {"laparoscopy": (220, 120, 60), "colonoscopy": (90, 200, 60), "sinus": (60, 90, 220)}


pytestmark = pytest.mark.usefixtures("one_thread")


def _domain_set(folder, per_domain=2, h=48, w=64):
    """A rendered-set folder: each domain one colour and one depth ramp around its own distance."""
    frames, depths, sequences = [], [], []
    yy = np.mgrid[0:h, 0:w][0].astype(np.float32)
    for j in range(per_domain * len(DOMAINS)):
        domain = DOMAINS[j % len(DOMAINS)]
        depth = DEPTHS[domain] * (0.8 + 0.4 * yy / h)
        shade = (DEPTHS[domain] / depth) ** 2
        frames.append(np.clip(shade[..., None] * np.array(TINTS[domain]), 0, 255).astype(np.uint8))
        depths.append(depth)
        sequences.append({"seed": j, "domain": domain})
    folder.mkdir(parents=True)
    np.save(folder / "rgb.npy", np.stack(frames))
    np.save(folder / "depth.npy", np.stack(depths).astype(np.float16))
    (folder / "meta.json").write_text(json.dumps({"sequences": sequences}))
    return FrameSet(folder)


def _trainer(data, model="metric-bins-router", **changes):
    opts = TrainOptions(model=model, model_options={"input_size": (64, 64)}, steps=40, batch_size=6, warmup=1,
                        lr=3e-3, val_every=40, val_frames=6, **changes)
    return Trainer(opts, data, data, log=lambda r: None)


def test_frames_know_their_domain_in_batch_order(tmp_path):
    data = _domain_set(tmp_path / "d")
    picks = np.array([4, 0, 2])
    assert data.domains_of(picks) == ["laparoscopy", "sinus", "colonoscopy"]  # frames 0, 2, 4 (batch order)
    _, depth = data.batch(picks)
    assert [round(float(np.nanmedian(d))) for d in depth] == [90, 10, 40]


def test_domain_term_is_the_routers_cross_entropy(tmp_path):
    data = _domain_set(tmp_path / "d")
    trainer = _trainer(data, domain_weight=2.5)
    picks = np.arange(6)
    terms = trainer.losses(*data.batch(picks), data.domains_of(picks))
    assert set(terms) == {"silog", "gradient", "domain"}
    logits = trainer.router.last_routing.logits.detach().numpy().astype(np.float64)
    labels = [DOMAINS.index(d) for d in data.domains_of(picks)]
    log_softmax = logits - logits.max(1, keepdims=True)
    log_softmax -= np.log(np.exp(log_softmax).sum(1, keepdims=True))
    expected = -np.mean([log_softmax[i, k] for i, k in enumerate(labels)])
    assert float(terms["domain"]) == pytest.approx(2.5 * expected, rel=1e-5)
    assert trainer.router.last_routing.chosen.tolist() == labels  # trained through the labelled heads


def test_metric_targets_keep_millimetres_inside_each_heads_range(tmp_path):
    trainer = _trainer(_domain_set(tmp_path / "d"))
    gt = torch.tensor([30.0, 60.0, 120.0, 160.0]).view(1, 1, 1, 4).repeat(3, 1, 1, 1)
    valid = trainer._metric_valid(gt, torch.ones_like(gt), torch.tensor([0, 1, 2]))
    assert valid[:, 0, 0].tolist() == [[1, 1, 1, 0], [1, 1, 0, 0], [1, 0, 0, 0]]  # 150, 100, 50 mm heads


def test_router_loss_falls_on_a_tiny_run(tmp_path):
    data = _domain_set(tmp_path / "d")
    trainer = _trainer(data, domain_weight=1.0)
    first = trainer.step()
    steps = [trainer.step() for _ in range(20)]
    late = {k: np.mean([s[k] for s in steps[-5:]]) for k in first}
    assert late["silog"] < first["silog"] and late["domain"] < first["domain"], (first, late)


def test_data_of_other_domains_is_refused(tmp_path):
    data = _domain_set(tmp_path / "d")
    trainer = _trainer(data)
    rgb, depth = data.batch(np.arange(2))
    with pytest.raises(UsageError, match="--domains laparoscopy colonoscopy sinus"):
        trainer.losses(rgb, depth, ["laparoscopy", None])


def test_recipe_draws_domains_in_turn_and_old_sets_still_match(tmp_path):
    recipe = SynthRecipe(sequences=4, domains=DOMAINS)
    assert [recipe.domain_of(s) for s in recipe.seeds()] == [*DOMAINS, "laparoscopy"]
    from endodepth.train.datasets import is_rendered

    folder = tmp_path / "old"
    folder.mkdir()
    for name in ("rgb.npy", "depth.npy"):
        (folder / name).write_bytes(b"")
    old = {k: v for k, v in SynthRecipe().__dict__.items() if k not in ("version", "domains")}
    (folder / "meta.json").write_text(json.dumps({"recipe": old}))
    assert is_rendered(folder, SynthRecipe()) and not is_rendered(folder, SynthRecipe(domains=DOMAINS))


def test_several_sets_know_their_frames_domains_in_batch_order(tmp_path):
    a, _ = _domain_set(tmp_path / "a"), _domain_set(tmp_path / "b")
    b = FrameSet(tmp_path / "b", np.arange(1, 6))
    both = FrameSets([a, b])
    picks = np.array([8, 0, 4, 3])  # a's 0, 3, 4 and b's own 2 (stored frame 3)
    _, depth = both.batch(picks)
    domains = both.domains_of(picks)
    assert domains == ["laparoscopy", "laparoscopy", "colonoscopy", "laparoscopy"]
    assert [round(float(np.nanmedian(d))) for d in depth] == [DEPTHS[d] for d in domains]
