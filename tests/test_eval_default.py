"""The bundled default model: loads with no argument and beats the reference answers on held-out synthetic frames."""

import numpy as np
import pytest

from endodepth import models
from endodepth.analysis.metrics import evaluate_frame


def test_default_loads_its_bundled_weights_without_arguments():
    spec = models.spec("default")
    assert spec.weights_path is not None, "models/weights/default.safetensors is missing"
    trained = models.create("default")
    fresh = spec.factory()
    assert trained.name == "default" and trained.kind == "relative"
    changed = [k for k, v in fresh.state_dict().items() if not np.allclose(v.numpy(), trained.state_dict()[k].numpy())]
    assert len(changed) > 100  # the weights were loaded, not the initialisation


@pytest.mark.slow
def test_default_beats_constant_and_shading_on_a_held_out_scene():
    from endodepth.synth import HELDOUT_SEED_START, render_sequence

    seq = render_sequence(2, 320, 256, HELDOUT_SEED_START + 500, scene="random")
    scores = {}
    for name in ("default", "baseline-constant", "baseline-shading"):
        model = models.create(name)
        scores[name] = np.mean([
            evaluate_frame(r.output, r.kind, gt)["abs_rel"]
            for r, gt in zip(model.predict_batch(list(seq.rgb)), seq.depth)
        ])
    assert scores["default"] < scores["baseline-constant"]
    assert scores["default"] < scores["baseline-shading"]
