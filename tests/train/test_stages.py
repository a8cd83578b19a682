"""Adapter stages on Depth Anything V2 (seeded random weights): stage 1 trains and writes adapters only, which reload
bit-exactly onto the named base through `create`; stage 2 folds them and trains the weights through GaLore."""

import pytest
import torch

from endodepth import models
from endodepth.errors import UsageError
from endodepth.models.adapters import merge_adapters, unmerge_adapters
from endodepth.models.checkpoint import read_checkpoint, save_checkpoint
from endodepth.models.registry import build
from endodepth.train.galore import GaLoreAdamW
from endodepth.train.stages import adapted_name, adapter_options, parse_adapters, stage2_parameters
from endodepth.train.video_trainer import VideoTrainer
from tests.train.test_video_trainer import _options, _triples

SMALL = {"short_side": 28, "metric": True}


def test_adapter_options_switch_sub_spaces_and_names_are_checked():
    assert parse_adapters("mlp, attention") == ("mlp", "attention")
    with pytest.raises(UsageError):
        parse_adapters("attention,ffn")
    assert adapted_name("depth-anything-v2-vitb") == "depth-anything-v2-vitb-lora"
    with pytest.raises(UsageError, match="no adapter variant"):
        adapted_name("meter-xxs")
    opts = adapter_options(["mlp"], 8, 16.0)
    assert (opts["attention"], opts["mlp"], opts["conv"], opts["residual_blocks"]) == ("none", "dvlora", "none", ())


@pytest.mark.slow
def test_stage1_adapters_reload_bit_exactly_then_stage2_trains_the_folded_weights(tmp_path):
    torch.manual_seed(0)
    base = tmp_path / "base.safetensors"
    plain = build("depth-anything-v2-vits", **SMALL)
    save_checkpoint(plain.state_dict(), base, plain.name, plain.options)
    stage1 = _options(model="depth-anything-v2-vits", from_scratch=False, weights=str(base), model_options=SMALL,
                      adapters=("attention", "mlp", "conv"), steps=4, lr=3e-3, val_every=100)
    trainer = VideoTrainer(stage1, _triples(), None, lambda r: None)
    counts = trainer.counts()["subspaces"]
    assert counts["attention"] > 0 and counts["mlp"] > 0 and counts["conv"] > 0
    frozen = {k: v.clone() for k, v in trainer.model.named_parameters() if not v.requires_grad}
    first = trainer.step()
    trainer.train(tmp_path / "stage1.safetensors")
    assert all(torch.equal(frozen[k], v) for k, v in trainer.model.named_parameters() if k in frozen)

    tensors, info = read_checkpoint(tmp_path / "stage1.safetensors")
    assert not any(k.startswith("backbone.patch_embed") for k in tensors)  # adapters only
    assert info["options"]["base_weights"] == str(base)
    reloaded = models.create(tmp_path / "stage1.safetensors")
    trained = trainer.model.state_dict()
    assert all(torch.equal(v, trained[k]) for k, v in reloaded.state_dict().items())

    x = torch.rand(1, 3, 28, 56)
    with torch.no_grad():
        unmerged = reloaded(x)
        merge_adapters(reloaded)
        merged = reloaded(x)
        unmerge_adapters(reloaded)
    assert torch.allclose(merged, unmerged, rtol=1e-4, atol=1e-3)

    stage2 = _options(model="depth-anything-v2-vits", from_scratch=False, weights=str(tmp_path / "stage1.safetensors"),
                      model_options=SMALL, stage=2, galore_rank=4, steps=3, lr=1e-4, val_every=100)
    second = VideoTrainer(stage2, _triples(), None, lambda r: None)
    assert isinstance(second.optimizer, GaLoreAdamW)
    groups = second.counts()["subspaces"]
    assert groups["projected"] > groups["plain"] > 0
    before = {k: v.clone() for k, v in second.model.named_parameters() if "attn.qkv.base_layer.weight" in k}
    with torch.no_grad():
        assert torch.allclose(second.model.eval()(x), unmerged, rtol=1e-4, atol=1e-3)  # folding kept the function
    second.train(tmp_path / "stage2.safetensors")
    moved = [k for k, v in second.model.named_parameters() if k in before and not torch.equal(v, before[k])]
    assert moved and first["photometric"] > 0
    assert models.create(tmp_path / "stage2.safetensors").name == "depth-anything-v2-vits-lora"


def test_stage2_puts_attention_and_mlp_linears_in_the_projected_group():
    with torch.device("meta"):
        model = build("depth-anything-v2-vits-lora", **adapter_options(["attention", "mlp"], 4, 4.0))
    projected, plain = stage2_parameters(model)
    names = {id(p): n for n, p in model.named_parameters()}
    assert len(projected) == 12 * 4 and all(p.ndim == 2 for p in projected)
    assert all(("attn." in names[id(p)] or "mlp." in names[id(p)]) for p in projected)
    assert not any("lora_" in names[id(p)] for p in plain + projected)
