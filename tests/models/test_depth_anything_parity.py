"""Acceptance test: our Depth Anything V2 equals the official `infer_image` for the same weights.

The reference output was computed with the official code (see tests/data/da2_parity/README.md);
here the same seeded checkpoint is re-created from the official key list and loaded strictly.
"""

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from endodepth.errors import CheckpointError
from endodepth.models import create
from endodepth.models.checkpoint import save_checkpoint

DATA = Path(__file__).parents[1] / "data" / "da2_parity"


def seeded_state_dict(shapes: dict[str, list[int]], seed: int = 1234) -> dict[str, torch.Tensor]:
    """The seeded-weight recipe of tests/data/da2_parity/README.md."""
    out = {}
    for i, key in enumerate(sorted(shapes)):
        shape = tuple(shapes[key])
        noise = torch.randn(shape, generator=torch.Generator().manual_seed(seed + i), dtype=torch.float32)
        leaf = key.rsplit(".", 1)[-1]
        if leaf == "gamma":
            out[key] = 0.5 + 0.1 * noise
        elif "norm" in key and leaf == "weight":
            out[key] = 1.0 + 0.1 * noise
        elif leaf in ("pos_embed", "cls_token", "mask_token"):
            out[key] = 0.5 * noise
        elif len(shape) >= 2:
            out[key] = noise / math.sqrt(math.prod(shape[1:]))
        else:
            out[key] = 0.05 * noise
    return out


@pytest.fixture(scope="module")
def official_checkpoint(tmp_path_factory) -> Path:
    shapes = json.loads((DATA / "official_keys.json").read_text())
    path = tmp_path_factory.mktemp("da2") / "depth_anything_v2_vits.pth"
    torch.save(seeded_state_dict(shapes), path)
    return path


def test_official_layout_has_the_documented_keys():
    shapes = json.loads((DATA / "official_keys.json").read_text())
    assert len(shapes) == 239
    assert sum(k.startswith("pretrained.") for k in shapes) == 175
    assert shapes["pretrained.pos_embed"] == [1, 1370, 384]


def test_matches_official_infer_image(official_checkpoint):
    model = create("depth-anything-v2-vits", weights=official_checkpoint)
    bgr = cv2.imread(str(DATA / "image.png"))
    result = model.predict(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    reference = np.load(DATA / "reference.npy")
    assert result.output.shape == reference.shape == (60, 80)
    assert result.kind == "relative-inverse"
    assert reference.std() > 0.1
    np.testing.assert_allclose(result.output, reference, rtol=0, atol=1e-4)


def test_checkpoint_for_another_size_is_refused_with_keys(official_checkpoint):
    with pytest.raises(CheckpointError) as err:
        create("depth-anything-v2-vitb", weights=official_checkpoint, device="meta")
    assert "depth_anything_v2_vits.pth" in str(err.value)
    assert "shape mismatches: backbone.cls_token (1, 1, 384) vs (1, 1, 768)" in str(err.value)


def test_own_checkpoint_round_trip(official_checkpoint, tmp_path):
    model = create("depth-anything-v2-vits", weights=official_checkpoint, short_side=140)
    path = save_checkpoint(model.state_dict(), tmp_path / "ours.safetensors", model.name, model.options)
    again = create(path)
    rgb = cv2.cvtColor(cv2.imread(str(DATA / "image.png")), cv2.COLOR_BGR2RGB)
    assert again.options["short_side"] == 140
    np.testing.assert_array_equal(again.predict(rgb).output, model.predict(rgb).output)
