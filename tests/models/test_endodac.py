"""EndoDAC: a checkpoint in depth_model.pth's layout (key list written from the reference
notes, section 3.8, not from our model) loads strictly and runs."""

import numpy as np
import pytest
import torch

from endodepth.errors import CheckpointError
from endodepth.models import create
from endodepth.models.adapters import trainable_parameters
from endodepth.models.endodac import EndoDAC

D, HIDDEN, R, NECK = 768, 3072, 4, 96
CHANNELS = (96, 192, 384, 768)


def depth_model_layout() -> dict[str, tuple[int, ...]]:
    """EndoDAC's depth_model.pth tensors: name -> shape."""
    keys = {
        "encoder.cls_token": (1, 1, D), "encoder.pos_embed": (1, 1370, D), "encoder.mask_token": (1, D),
        "encoder.patch_embed.proj.weight": (D, 3, 14, 14), "encoder.patch_embed.proj.bias": (D,),
        "encoder.norm.weight": (D,), "encoder.norm.bias": (D,),
    }
    for i in range(12):
        b = f"encoder.blocks.{i}."
        keys.update({
            b + "norm1.weight": (D,), b + "norm1.bias": (D,), b + "norm2.weight": (D,), b + "norm2.bias": (D,),
            b + "attn.qkv.weight": (3 * D, D), b + "attn.qkv.bias": (3 * D,),
            b + "attn.proj.weight": (D, D), b + "attn.proj.bias": (D,), b + "ls1.gamma": (D,), b + "ls2.gamma": (D,),
        })
        for fc, (n_in, n_out) in (("fc1", (D, HIDDEN)), ("fc2", (HIDDEN, D))):
            keys.update({
                f"{b}mlp.{fc}.weight": (n_out, n_in), f"{b}mlp.{fc}.bias": (n_out,),
                f"{b}mlp.{fc}.lora_A": (R, n_in), f"{b}mlp.{fc}.lora_B": (n_out, R),
                f"{b}mlp.{fc}.lora_U": (R, 1), f"{b}mlp.{fc}.lora_V": (n_out, 1),
            })
        if i in (2, 5, 8, 11):
            keys.update({
                b + "residual_.conv1.weight": (NECK, D, 1, 1), b + "residual_.conv2.weight": (NECK, NECK, 3, 3),
                b + "residual_.conv3.weight": (D, NECK, 1, 1),
                b + "residual_.norm1.weight": (NECK,), b + "residual_.norm1.bias": (NECK,),
                b + "residual_.norm2.weight": (NECK,), b + "residual_.norm2.bias": (NECK,),
                b + "residual_.norm3.weight": (D,), b + "residual_.norm3.bias": (D,),
            })
    h = "depth_head."
    for i, c in enumerate(CHANNELS):
        keys.update({f"{h}projects.{i}.weight": (c, D, 1, 1), f"{h}projects.{i}.bias": (c,)})
        keys[f"{h}scratch.layer{i + 1}_rn.weight"] = (128, c, 3, 3)
    keys.update({
        h + "resize_layers.0.weight": (96, 96, 4, 4), h + "resize_layers.0.bias": (96,),
        h + "resize_layers.1.weight": (192, 192, 2, 2), h + "resize_layers.1.bias": (192,),
        h + "resize_layers.3.weight": (768, 768, 3, 3), h + "resize_layers.3.bias": (768,),
    })
    for i in range(1, 5):
        r = f"{h}scratch.refinenet{i}."
        keys.update({r + "out_conv.weight": (128, 128, 1, 1), r + "out_conv.bias": (128,)})
        for unit in ("resConfUnit1", "resConfUnit2"):
            for conv in ("conv1", "conv2"):
                keys.update({f"{r}{unit}.{conv}.weight": (128, 128, 3, 3), f"{r}{unit}.{conv}.bias": (128,)})
        c = f"{h}conv_depth_{i}.head."
        keys.update({
            c + "0.weight": (64, 128, 3, 3), c + "0.bias": (64,), c + "2.weight": (32, 64, 3, 3), c + "2.bias": (32,),
            c + "4.weight": (1, 32, 1, 1), c + "4.bias": (1,),
        })
    return keys


@pytest.fixture(scope="module")
def depth_model_pth(tmp_path_factory):
    generator = torch.Generator().manual_seed(11)
    state = {}
    for name, shape in sorted(depth_model_layout().items()):
        noise = torch.randn(shape, generator=generator)
        state[name] = 1.0 + 0.1 * noise if "norm" in name and name.endswith("weight") else 0.02 * noise
    state.update(height=256, width=320, use_stereo=False)  # EndoDAC saves these beside the tensors
    path = tmp_path_factory.mktemp("endodac") / "depth_model.pth"
    torch.save(state, path)
    return path, state


def test_layout_and_parameter_count_match_endodac():
    assert len(depth_model_layout()) == 389
    with torch.device("meta"):
        model = EndoDAC()
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == depth_model_layout()
    assert model.num_parameters() == 99_091_748  # reference notes 3.7
    counts = trainable_parameters(model)
    assert (counts["mlp"], counts["conv"], counts["head"]) == (368_640 + 46_176, 929_280, 369_156)


def test_depth_model_pth_loads_strictly_and_predicts(depth_model_pth):
    path, state = depth_model_pth
    model = create("endodac", weights=path)
    torch.testing.assert_close(model.state_dict()["encoder.blocks.5.mlp.fc2.lora_V"], state["encoder.blocks.5.mlp.fc2.lora_V"])
    frame = np.random.default_rng(2).integers(0, 256, (256, 320, 3), dtype=np.uint8)
    result = model.predict(frame)
    assert result.kind == "relative-inverse" and result.output.shape == (256, 320)
    assert np.isfinite(result.output).all()
    assert (result.output > 1 / 150).all() and (result.output < 1 / 0.1).all() and result.output.std() > 0
    with torch.no_grad():
        disps = model.disparities(model.preprocess(frame[None]))
    assert [tuple(d.shape[-2:]) for d in disps] == [(256, 320), (128, 160), (64, 80), (32, 40)]


def test_checkpoint_of_another_model_names_the_keys(depth_model_pth, tmp_path):
    path, _ = depth_model_pth
    with pytest.raises(CheckpointError) as err:
        create("depth-anything-v2-vitb", weights=path)
    msg = str(err.value)
    assert "depth_model.pth" in msg and "missing keys: backbone.cls_token" in msg
    assert "unexpected keys: depth_head.conv_depth_1.head.0.bias" in msg
    da = tmp_path / "da.pth"
    torch.save({"pretrained.cls_token": torch.zeros(1, 1, D)}, da)
    with pytest.raises(CheckpointError, match=r"missing keys: encoder\.cls_token"):
        create("endodac", weights=da)
