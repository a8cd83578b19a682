"""Acceptance test: our LLM-MDE equals the reference's `Language4Depth` for the same (seeded) weights.

tests/data/llm_mde_parity/README.md says how scripts/llm_mde_parity_reference.py computed the reference
with the public code; here the same seeded checkpoint is rebuilt in the reference's saved layout (aliases,
loralib's folded q/k/v) and loaded through `--llm-weights`-style folder and the official filter.
"""

import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from endodepth.errors import CheckpointError
from endodepth.models import create
from endodepth.models.llm_mde_prompt import prompt_texts

ROOT = Path(__file__).parents[2]
DATA = ROOT / "tests" / "data" / "llm_mde_parity"
_spec = importlib.util.spec_from_file_location("llm_mde_reference", ROOT / "scripts" / "llm_mde_parity_reference.py")
reference = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(reference)
LORALIB_SCALING = 1 / 4  # loralib's default alpha 1 over the fixture's r = 4

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def meta() -> dict:
    return json.loads((DATA / "official_shapes.json").read_text())


@pytest.fixture(scope="module")
def official_checkpoint(meta, tmp_path_factory) -> Path:
    """The seeded weights as the reference's main.py saves them (in eval mode: q/k/v hold W + s B A)."""
    weights = reference.seeded(meta["shapes"])
    for group in meta["aliases"]:
        for key in group[1:]:
            weights[key] = weights[group[0]]
    for key in meta["folded"]:
        prefix = key.rsplit(".", 1)[0]
        weights[key] = weights[key] + weights[prefix + ".lora_B"] @ weights[prefix + ".lora_A"] * LORALIB_SCALING
    path = tmp_path_factory.mktemp("llm-mde") / "test_model_121.pth"
    torch.save({"model_state_dict": weights, "optimizer_state_dict": {"state": {}}, "loss": 0.5}, path)
    return path


@pytest.fixture(scope="module")
def bert_folder(tmp_path_factory) -> Path:
    """A local BERT folder as `llm_weights` reads it: config, weights, vocabulary."""
    from transformers import BertConfig, BertModel

    folder = tmp_path_factory.mktemp("bert")
    config = BertConfig(vocab_size=len((DATA / "vocab.txt").read_text().splitlines()),
                        num_hidden_layers=reference.DECODER_LAYERS, **reference.BERT)
    BertModel(config).save_pretrained(folder)
    shutil.copy(DATA / "vocab.txt", folder / "vocab.txt")
    return folder


def tiny_options(folder: Path) -> dict:
    return {"vision": reference.VISION, "vision_rank": 4, "vision_alpha": 8, "language_rank": 4, "heads": 2,
            "input_size": reference.SIZE, "llm_weights": str(folder)}


def test_prompt_is_the_reference_prompt(meta):
    x = F.interpolate(reference.image(), size=(224, 224), mode="bilinear", align_corners=False)
    assert prompt_texts(x) == [meta["prompt"]]


def test_official_checkpoint_gives_the_reference_output(official_checkpoint, bert_folder):
    model = create("llm-mde-base", weights=official_checkpoint, **tiny_options(bert_folder))
    with torch.no_grad():
        out = model(reference.image())[0, 0].numpy()
    expected = np.load(DATA / "reference.npy")
    assert out.shape == expected.shape == (64, 80)
    assert expected.std() > 0.01
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-4)


def test_unfolding_matters(official_checkpoint, bert_folder):
    """Taking the saved q/k/v weights as unfolded base weights (loralib's reload) gives other numbers."""
    model = create("llm-mde-base", weights=official_checkpoint, **tiny_options(bert_folder))
    for module in model.language.modules():
        if hasattr(module, "delta_weight"):
            module.weight.data += module.delta_weight()
    with torch.no_grad():
        out = model(reference.image())[0, 0].numpy()
    assert np.abs(out - np.load(DATA / "reference.npy")).max() > 1e-3


def test_checkpoint_of_another_size_is_refused_by_name(official_checkpoint):
    with pytest.raises(CheckpointError) as err:
        create("llm-mde", weights=official_checkpoint)
    message = str(err.value)
    assert "test_model_121.pth" in message and "does not fit llm-mde" in message
    assert "shape mismatches: word_embeddings (79, 64) vs (79, 96)" in message


def test_an_official_checkpoint_without_llm_weights_asks_for_them(tmp_path):
    path = tmp_path / "test_model_121.pth"
    torch.save({"model_state_dict": {"vit_lora.lora_vit.cls_token": torch.zeros(1, 1, 8),
                                     "word_embeddings": torch.zeros(30522, 64)}}, path)
    options = {k: v for k, v in tiny_options(Path()).items() if k != "llm_weights"}
    with pytest.raises(CheckpointError) as err:
        create("llm-mde-base", weights=path, **options)
    message = str(err.value)
    assert message.startswith(f"{path}: is an official LLM-MDE checkpoint over a 30522-word language model")
    assert "pass --llm-weights DIR" in message and "\n" not in message and "shape" not in message
