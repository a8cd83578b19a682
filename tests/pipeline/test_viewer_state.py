"""ViewerState: changes through methods, one notification per real change, dump/load round trip."""

from __future__ import annotations

import json

from endodepth.pipeline.viewer_state import ViewerState


def test_each_real_change_notifies_once_with_the_field_name():
    state, seen = ViewerState(), []
    state.listeners.append(seen.append)
    state.set_models(["a", "b", "a", ""], "cpu")
    state.set_models(["a", "b"], "cpu")  # no change: no notice
    state.set_compared(["c", "b"])
    state.set_mc_samples(0)  # at least one pass
    state.set_analyses({"comparison", "unknown"})
    state.configure(colormap="magma")
    state.configure(colormap="magma")
    assert seen == ["models", "device", "compared", "analyses", "post"]
    assert state.primary == "a" and state.running == ["a", "b", "c"]
    assert state.mc_samples == 1 and state.analyses == {"comparison"}


def test_dump_is_json_and_load_restores_it_except_the_file():
    state = ViewerState()
    state.set_file("/clips/a.mp4")
    state.set_models(["m"], "cuda")
    state.set_compared(["m", "n"])
    state.set_align_to_gt(False)
    state.set_mc_samples(4)
    state.set_selectivity_layer("enc_2")
    state.set_selectivity_unit(7)
    state.configure(colormap="viridis", max_points=1234, specular=True)
    data = json.loads(json.dumps(state.dump()))
    other, seen = ViewerState(), []
    other.listeners.append(seen.append)
    other.load(data)
    assert other.file is None and "file" not in seen  # a file is set once it opened
    dumped = other.dump()
    assert dumped == {**data, "file": None}
    assert other.post.colormap == "viridis" and other.post.max_points == 1234 and other.post.specular
