"""Depth Anything V2 Small with the metric-bins head: millimetres in range, MC-dropout, official weights."""

import numpy as np
import pytest
import torch

from endodepth.models import create
from endodepth.models.checkpoint import load_into
from endodepth.models.depth_anything import DepthAnythingV2
from endodepth.models.depth_anything_metric import DepthAnythingMetricBins, metric_bins_checkpoint_filter

NAME = "depth-anything-v2-vits-metric-bins"

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def model() -> DepthAnythingMetricBins:
    return create(NAME, short_side=56, min_depth=2.0, max_depth=120.0)


def test_metric_depth_in_range_at_frame_size(model):
    rgb = np.random.default_rng(1).integers(0, 256, (60, 76, 3), dtype=np.uint8)
    result = model.predict(rgb, layers=["bins.head.distribution"])
    assert result.kind == "metric-mm" == model.kind
    assert result.output.shape == (60, 76) and np.isfinite(result.output).all()
    assert 2.0 <= result.output.min() and result.output.max() <= 120.0
    assert result.features["bins.head.distribution"].shape[0] == 64  # bin probabilities


def test_mc_dropout_gives_a_spread(model):
    rgb = np.random.default_rng(2).integers(0, 256, (56, 56, 3), dtype=np.uint8)
    model.mc_samples = 3
    try:
        result = model.predict(rgb)
    finally:
        model.mc_samples = 1
    assert result.uncertainty is not None and result.uncertainty.shape == (56, 56)
    assert (result.uncertainty >= 0).all() and result.uncertainty.max() > 0


def test_official_depth_anything_weights_initialise_all_but_the_head(model, tmp_path):
    official = {("pretrained." + k[len("backbone."):] if k.startswith("backbone.") else k): v
                for k, v in DepthAnythingV2("vits").state_dict().items()}
    head_before = {k: v.clone() for k, v in model.state_dict().items() if k.startswith("bins.")}
    load_into(model, tmp_path / "depth_anything_v2_vits.pth", official, metric_bins_checkpoint_filter)
    state = model.state_dict()
    key = "backbone.blocks.0.attn.qkv.weight"
    assert torch.equal(state[key], official["pretrained.blocks.0.attn.qkv.weight"])
    assert all(torch.equal(state[k], v) for k, v in head_before.items())
