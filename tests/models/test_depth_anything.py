import numpy as np
import pytest
import torch

from endodepth.models import available, create, spec
from endodepth.models.depth_anything import (
    DepthAnythingV2,
    da2_checkpoint_filter,
    resize_shape,
)
from endodepth.models.dinov2 import dinov2_pos_embed

# Official parameter counts (reference notes 4.1) include DINOv2's unused mask_token (1, C),
# which we do not keep.
OFFICIAL_PARAMS = {"vits": (24_785_089, 384), "vitb": (97_470_785, 768)}


@pytest.fixture(scope="module")
def vits() -> DepthAnythingV2:
    torch.manual_seed(0)
    model = create("depth-anything-v2-vits", short_side=140)
    with torch.no_grad():  # random weights: lift the output above the final ReLU so it varies
        model.depth_head.scratch.output_conv2[2].bias.fill_(1.0)
    return model


@pytest.fixture(scope="module")
def frame() -> np.ndarray:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:256, 0:320]
    base = np.stack([xx % 256, yy % 256, (xx + yy) % 256], -1)
    return np.clip(base + rng.normal(0, 20, base.shape), 0, 255).astype(np.uint8)


def test_registered_names():
    for size in ("vits", "vitb", "vitl"):
        assert f"depth-anything-v2-{size}" in available()
        assert spec(f"depth-anything-v2-{size}").kind == "relative-inverse"


@pytest.mark.parametrize("size", ["vits", "vitb"])
def test_parameter_counts_match_official(size):
    with torch.device("meta"):
        model = DepthAnythingV2(size)
    official, mask_token = OFFICIAL_PARAMS[size]
    assert model.num_parameters() == official - mask_token


def test_vitl_builds_with_its_own_layers():
    with torch.device("meta"):
        model = DepthAnythingV2("vitl")
    assert model.layer_indices == (4, 11, 17, 23)
    assert len(model.backbone.blocks) == 24 and model.backbone.embed_dim == 1024


@pytest.mark.parametrize(
    "hw, expected", [((1024, 1280), (518, 644)), ((256, 320), (518, 644)), ((60, 80), (518, 686)), ((518, 518), (518, 518))]
)
def test_resize_shape_lower_bound_multiple_of_14(hw, expected):
    assert resize_shape(*hw) == expected


def test_pos_embed_square_shortcut_and_offset_interpolation():
    pos = torch.randn(1, 1 + 37 * 37, 8)
    assert dinov2_pos_embed(pos, 37, 37) is pos
    out = dinov2_pos_embed(pos, 37, 49)
    assert out.shape == (1, 1 + 37 * 49, 8)
    assert torch.equal(out[:, 0], pos[:, 0])
    grid = pos[:, 1:].reshape(1, 37, 37, 8).permute(0, 3, 1, 2)
    # scale-factor form with the +0.1 offset: (37 + 0.1) / 37 and (49 + 0.1) / 37
    expected = torch.nn.functional.interpolate(grid, scale_factor=(37.1 / 37, 49.1 / 37), mode="bicubic")
    assert torch.allclose(out[:, 1:], expected.permute(0, 2, 3, 1).reshape(1, -1, 8))
    by_size = torch.nn.functional.interpolate(grid, size=(37, 49), mode="bicubic")
    assert not torch.allclose(out[:, 1:], by_size.permute(0, 2, 3, 1).reshape(1, -1, 8))


def test_predict_256x320_relative(vits, frame):
    result = vits.predict(frame, layers=vits.default_layers[:1])
    assert result.output.shape == (256, 320) and result.output.dtype == np.float32
    assert np.isfinite(result.output).all() and (result.output >= 0).all() and result.output.std() > 0
    assert result.kind == "relative-inverse" and result.uncertainty is None
    assert result.features["depth_head.scratch.layer1_rn"].shape == (64, 40, 48)


def test_metric_variant_is_bounded_millimetres(frame):
    model = create("depth-anything-v2-vits", metric=True, max_depth=150.0, short_side=140)
    result = model.predict(frame)
    assert result.kind == "metric-mm"
    assert result.output.shape == (256, 320)
    assert (result.output > 0).all() and (result.output < 150.0).all()
    assert model.depth_head.scratch.output_conv2[3].__class__.__name__ == "Sigmoid"


def test_filter_maps_official_names_and_keeps_ours():
    official = {"pretrained.blocks.0.ls1.gamma": 1, "pretrained.mask_token": 2, "depth_head.projects.0.weight": 3}
    assert da2_checkpoint_filter(official, None) == {"backbone.blocks.0.ls1.gamma": 1, "depth_head.projects.0.weight": 3}
    ours = {"backbone.norm.weight": 4}
    assert da2_checkpoint_filter(ours, None) == ours


def test_mc_dropout_one_backbone_pass_and_spread(vits, frame):
    x = vits.preprocess(frame[None])
    calls = []
    hook = vits.backbone.patch_embed.register_forward_hook(lambda *a: calls.append(1))
    try:
        with torch.no_grad():
            plain = vits(x)
            one, none = vits.stochastic_forward(x, 1)
            calls.clear()
            mean, std = vits.stochastic_forward(x, 8)
    finally:
        hook.remove()
    assert none is None and torch.equal(one, plain)
    assert len(calls) == 1
    assert mean.shape == std.shape == plain.shape
    assert std.mean() > 0
    assert not vits.depth_head.dropout.training
    rel = (mean - plain).abs().mean() / plain.abs().mean()
    assert rel < 0.25


def test_mc_samples_in_predict_gives_uncertainty(vits, frame):
    vits.mc_samples = 4
    try:
        result = vits.predict(frame)
    finally:
        vits.mc_samples = 1
    assert result.uncertainty is not None and result.uncertainty.shape == (256, 320)
    assert np.isfinite(result.uncertainty).all() and result.uncertainty.max() > 0
    again = vits.predict(frame)
    assert again.uncertainty is None
    np.testing.assert_array_equal(again.output, vits.predict(frame).output)


def test_output_features_feed_the_last_conv(vits):
    """output_features is the 32-channel map before output_conv2's last 1x1 conv (metric bins reads it)."""
    head = vits.depth_head
    path_1 = torch.randn(1, head.scratch.output_conv1.in_channels, 8, 10)
    with torch.no_grad():
        feats = head.output_features(path_1, 4, 5)
        up = torch.nn.functional.interpolate(
            head.scratch.output_conv1(path_1), (56, 70), mode="bilinear", align_corners=True
        )
        expected = torch.relu(head.scratch.output_conv2[0](up))
        out = head.predict_from(path_1, 4, 5)
    assert feats.shape == (1, 32, 56, 70)
    torch.testing.assert_close(feats, expected)
    torch.testing.assert_close(out, torch.relu(head.scratch.output_conv2[2](expected)))
