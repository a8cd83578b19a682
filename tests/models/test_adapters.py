import numpy as np
import pytest
import torch
from torch import nn

from endodepth.errors import CheckpointError
from endodepth.models import create
from endodepth.models.adapters import (
    ConvBottleneck,
    DVLinear,
    adapter_state_dict,
    load_adapters,
    merge_adapters,
    save_adapters,
    trainable_parameters,
    unmerge_adapters,
)
from endodepth.models.checkpoint import save_checkpoint

VITS_BLOCKS, DIM, HIDDEN = 12, 384, 1536


@pytest.fixture(scope="module")
def frame() -> np.ndarray:
    return np.random.default_rng(1).integers(0, 256, (256, 320, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def base_checkpoint(tmp_path_factory) -> str:
    torch.manual_seed(3)
    base = create("depth-anything-v2-vits", short_side=140)
    with torch.no_grad():
        base.depth_head.scratch.output_conv2[2].bias.fill_(1.0)  # output above the final ReLU
    path = tmp_path_factory.mktemp("base") / "base.pth"
    save_checkpoint(base.state_dict(), path, base.name, base.options)
    return str(path)


def _randomise_adapters(model: nn.Module) -> None:
    """Trained-looking adapters: non-zero LoRA B and conv-neck norms (they start at zero)."""
    torch.manual_seed(5)
    with torch.no_grad():
        for name, p in adapter_state_dict(model).items():
            if "lora_B" in name or "norm3" in name:
                p.normal_(0, 0.05)


def test_dvlinear_formula_and_merge():
    torch.manual_seed(0)
    base = nn.Linear(6, 5)
    layer = DVLinear.from_linear(base, r=2, alpha=4.0)
    with torch.no_grad():
        layer.lora_B.normal_()
    x = torch.randn(3, 6)
    a, b, u, v = layer.lora_A, layer.lora_B, layer.lora_U[:, 0], layer.lora_V[:, 0]
    expected = base(x) + 2.0 * (torch.diag(v) @ b @ torch.diag(u) @ a @ x.T).T
    torch.testing.assert_close(layer(x), expected)
    assert layer.lora_U.abs().max() <= 1.0  # kaiming-uniform with fan-in 1 -> U(-1, 1)
    assert not layer.weight.requires_grad
    layer.merge()
    torch.testing.assert_close(layer(x), expected)
    layer.unmerge()
    torch.testing.assert_close(layer.weight, base.weight)


def test_conv_bottleneck_starts_as_zero():
    block = ConvBottleneck(32, 4)
    assert torch.count_nonzero(block(torch.randn(1, 32, 5, 6))) == 0


def test_trainable_counts_per_subspace():
    with torch.device("meta"):
        model = create("depth-anything-v2-vits-lora", device="meta")
    counts = trainable_parameters(model)
    r = 4
    assert counts["attention"] == VITS_BLOCKS * (r * DIM + 3 * DIM * r + r * DIM + DIM * r)
    fc1 = r * DIM + HIDDEN * r + r + HIDDEN
    fc2 = r * HIDDEN + DIM * r + r + DIM
    assert counts["mlp"] == VITS_BLOCKS * (fc1 + fc2)
    bottleneck = DIM // 8
    neck = DIM * bottleneck + 2 * bottleneck + bottleneck * bottleneck * 9 + 2 * bottleneck + bottleneck * DIM + 2 * DIM
    assert counts["conv"] > 4 * neck  # necks plus decoder-conv LoRA
    assert counts["head"] == 32 * 32 * 9 + 32 + 32 + 1  # output_conv2 trains fully
    assert counts["total"] == sum(v for k, v in counts.items() if k != "total") < 1_000_000


def test_switching_subspaces_off():
    with torch.device("meta"):
        model = create("depth-anything-v2-vits-lora", attention="none", conv="none", residual_blocks=(), device="meta")
    counts = trainable_parameters(model)
    assert counts["attention"] == counts["conv"] == 0 and counts["mlp"] > 0


def test_base_checkpoint_loads_and_adapters_start_as_identity(base_checkpoint, frame):
    base = create(base_checkpoint)
    adapted = create("depth-anything-v2-vits-lora", weights=base_checkpoint, short_side=140)
    expected = base.predict(frame).output
    assert expected.std() > 0
    np.testing.assert_allclose(adapted.predict(frame).output, expected, atol=1e-5)


def test_merge_equals_unmerged_and_adapter_file_round_trip(base_checkpoint, frame, tmp_path):
    model = create("depth-anything-v2-vits-lora", weights=base_checkpoint, short_side=140)
    _randomise_adapters(model)
    unmerged = model.predict(frame).output
    base = create(base_checkpoint).predict(frame).output
    assert np.abs(unmerged - base).max() > 1e-3  # the adapters do change the output
    merge_adapters(model)
    np.testing.assert_allclose(model.predict(frame).output, unmerged, atol=1e-5)
    unmerge_adapters(model)

    model.backbone.blocks[0].mlp.fc1.lora_A.requires_grad_(False)  # a phase that freezes A still saves it
    path = save_adapters(model, tmp_path / "adapters.safetensors")
    assert path.stat().st_size < 4_000_000
    fresh = create("depth-anything-v2-vits-lora", weights=base_checkpoint, short_side=140)
    load_adapters(fresh, path)
    np.testing.assert_allclose(fresh.predict(frame).output, unmerged, atol=1e-6)


def test_incomplete_adapter_file_is_refused(tmp_path):
    with torch.device("meta"):
        model = create("depth-anything-v2-vits-lora", device="meta")
    tensors = {k: torch.zeros(v.shape) for k, v in list(adapter_state_dict(model).items())[:3]}
    path = save_checkpoint(tensors, tmp_path / "partial.pth", model.name)
    with pytest.raises(CheckpointError, match=r"partial\.pth.*missing"):
        load_adapters(model, path)
    other = save_checkpoint(tensors, tmp_path / "other.pth", "endodac")
    with pytest.raises(CheckpointError, match="for endodac"):
        load_adapters(model, other)
