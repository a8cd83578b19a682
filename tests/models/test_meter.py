"""METER: published sizes, output shape and kind, feature taps, odd sizes, and that it learns."""

import numpy as np
import pytest
import torch

from endodepth.models import create
from endodepth.models.meter import Meter, MobileViTBlock

# Totals of the public METER variants (architecture.py instantiated with torch, BN included).
PUBLISHED = {"xxs": 713_464, "xs": 1_449_760, "s": 3_295_168}

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("variant", sorted(PUBLISHED))
def test_parameter_count_matches_published_variant(variant):
    n = Meter(variant).num_parameters()
    assert abs(n - PUBLISHED[variant]) / PUBLISHED[variant] < 0.05, n


def test_predict_gives_positive_relative_depth_at_frame_size():
    model = create("meter-xxs")
    rgb = np.random.default_rng(0).integers(0, 256, (256, 320, 3), dtype=np.uint8)
    result = model.predict(rgb)
    assert result.kind == "relative" == model.kind
    assert result.output.shape == (256, 320) and result.output.dtype == np.float32
    assert np.isfinite(result.output).all() and (result.output > 0).all()
    other = model.predict(rgb[:100, :130])
    assert other.output.shape == (100, 130)


def test_default_layers_are_hookable_stage_outputs():
    model = create("meter-xxs")
    rgb = np.zeros((64, 80, 3), np.uint8)
    feats = model.predict(rgb, layers=model.default_layers).features
    # (channels, stride) per tap for XXS: encoder channels c0, c2, c4, c6, c10; decoder 64/2, 64/4, 64/8.
    expected = {
        "enc_0": (16, 2), "enc_1": (24, 4), "enc_2": (48, 8), "enc_3": (64, 16), "enc_4": (160, 32),
        "dec_1": (32, 16), "dec_2": (16, 8), "dec_3": (8, 4),
    }
    assert set(feats) == set(expected)
    h, w = model.input_size
    for name, (c, stride) in expected.items():
        assert feats[name].shape == (c, h // stride, w // stride), name


@pytest.mark.parametrize("size, out", [((192, 256), (48, 64)), ((96, 160), (24, 40)), ((70, 90), (18, 23))])
def test_any_input_size_gives_a_quarter_resolution_output(size, out):
    model = Meter("xxs", input_size=(64, 64)).eval()
    with torch.no_grad():
        y = model(torch.rand(1, 3, *size))
    assert y.shape == (1, 1, *out) and torch.isfinite(y).all()


def test_input_size_must_be_a_multiple_of_32():
    with pytest.raises(ValueError, match="multiple of 32"):
        Meter("xxs", input_size=(250, 320))
    with pytest.raises(ValueError, match="variant"):
        Meter("huge")
    with pytest.raises(ValueError, match="output"):
        Meter("xxs", output="log")


def test_transformer_attends_across_pixels_at_the_same_patch_offset():
    block = MobileViTBlock(dim=8, channels=4, mlp_dim=16).eval()
    seen = {}
    block.transformer.register_forward_hook(lambda m, i, o: seen.setdefault("tokens", i[0]))
    x = torch.rand(2, 4, 6, 10)
    with torch.no_grad():
        local = block.local(x)
        block(x)
    # Patch offset (i, j) holds the pixels local[:, :, i::2, j::2], flattened row-major.
    expected = torch.stack([local[:, :, i::2, j::2].flatten(2).transpose(1, 2) for i in (0, 1) for j in (0, 1)], 1)
    assert torch.allclose(seen["tokens"], expected.reshape(8, 15, 8))


def test_training_steps_reduce_a_log_depth_loss():
    model = Meter("xxs", input_size=(64, 64)).train()
    x = torch.rand(2, 3, 64, 64)
    target = torch.linspace(0.0, 1.0, 16).repeat(2, 1, 16, 1)  # log depth grows left to right
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(4):
        loss = (model.forward_raw(x) - target).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses
