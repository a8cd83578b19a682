"""Acceptance test: our METER-XXS equals the official network for the same (seeded) weights.

See tests/data/meter_parity/README.md for how the reference was computed with the official code.
"""

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from endodepth.models import create
from endodepth.models.checkpoint import save_checkpoint

DATA = Path(__file__).parents[1] / "data" / "meter_parity"

pytestmark = pytest.mark.usefixtures("one_thread")


def seeded_state_dict(shapes: dict[str, list[int]], seed: int = 1000) -> dict[str, torch.Tensor]:
    """The seeded-weight recipe of tests/data/meter_parity/README.md."""
    out = {}
    for i, key in enumerate(sorted(shapes)):
        shape = tuple(shapes[key])
        if key.endswith("num_batches_tracked"):
            out[key] = torch.zeros(shape, dtype=torch.long)
            continue
        n = torch.randn(shape, generator=torch.Generator().manual_seed(seed + i))
        if key.endswith("running_var"):
            out[key] = 1 + 0.1 * n.abs()
        elif key.endswith("running_mean"):
            out[key] = 0.1 * n
        elif len(shape) >= 2:
            out[key] = n / math.sqrt(math.prod(shape[1:]))
        else:
            out[key] = 1 + 0.1 * n if key.endswith("weight") else 0.05 * n
    return out


def test_official_checkpoint_loads_and_matches_the_official_output(tmp_path):
    official = seeded_state_dict(json.loads((DATA / "official_xxs_shapes.json").read_text()))
    path = tmp_path / "build_model_best_nyu_xxs.pth"
    torch.save(official, path)
    model = create("meter-xxs", weights=path, output="linear", input_size=(64, 128))
    x = torch.rand(1, 3, 64, 128, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        raw = model.forward_raw(x)[0, 0].numpy()
    expected = np.load(DATA / "official_xxs_output.npy")
    assert raw.shape == expected.shape == (16, 32)
    np.testing.assert_allclose(raw, expected, atol=1e-5 * np.abs(expected).max() + 1e-6)


def test_our_checkpoints_round_trip(tmp_path):
    model = create("meter-xxs", input_size=(64, 64))
    path = save_checkpoint(model.state_dict(), tmp_path / "m.safetensors", "meter-xxs", {"input_size": [64, 64]})
    again = create(path)
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(model(x), again(x))
