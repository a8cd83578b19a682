"""Which models a source can run: stereo models only on stereo sources, the fallback notice, and the
stereo reference of the comparison (run beside the compared models while the comparison is shown)."""

from __future__ import annotations

from endodepth.models import spec
from endodepth.pipeline.source_models import (
    STEREO_REFERENCE,
    comparison_reference,
    fit_to_source,
    needs_stereo,
    offered,
    stereo_models,
)
from endodepth.pipeline.viewer_state import ViewerState


def test_the_registry_cards_say_which_models_need_stereo():
    assert {"stereo", "stereo-wls"} <= stereo_models()
    assert spec("stereo").card.needs_stereo and not spec("default").card.needs_stereo
    assert needs_stereo("stereo") and not needs_stereo("default") and not needs_stereo("/some/checkpoint.pth")


def test_stereo_models_are_offered_only_for_stereo_sources():
    names = ["baseline-constant", "default", "stereo", "stereo-wls"]
    assert offered(names, stereo_source=True) == names
    assert offered(names, stereo_source=False) == ["baseline-constant", "default"]


def test_a_mono_source_drops_stereo_models_with_one_line_and_falls_back_to_the_default():
    models, compared, notice = fit_to_source(["stereo"], ["stereo-wls", "meter-xxs"], False, "default")
    assert models == ["default"] and compared == ["meter-xxs"]
    assert notice is not None and "\n" not in notice
    assert "'stereo', 'stereo-wls' needs a stereo source" in notice and "showing 'default'" in notice
    models, _, notice = fit_to_source(["meter-xs", "stereo"], [], False, "default")
    assert models == ["meter-xs"] and "showing 'meter-xs'" in notice  # a monocular model left: it stays primary
    assert fit_to_source(["stereo"], ["default"], True, "default") == (["stereo"], ["default"], None)
    assert fit_to_source(["default"], ["meter-xs"], False, "default") == (["default"], ["meter-xs"], None)


def test_the_comparison_reference_is_a_compared_stereo_model_else_stereo_on_a_stereo_source():
    assert comparison_reference(["default", "stereo-wls"], stereo_source=True) == "stereo-wls"
    assert comparison_reference(["default", "meter-xs"], stereo_source=True) == STEREO_REFERENCE
    assert comparison_reference(["default", "meter-xs"], stereo_source=False) is None
    assert comparison_reference([], stereo_source=True) is None  # nothing compared: stereo is not run
    assert comparison_reference(["default", "meter-xs"], True, ground_truth=True) is None  # ground truth is it
    assert comparison_reference(["default", "stereo"], True, ground_truth=True) == "stereo"  # on frames without


def test_the_stereo_reference_runs_beside_the_compared_models_only_while_the_comparison_is_shown():
    state, seen = ViewerState(), []
    state.listeners.append(seen.append)
    state.set_models(["default"])
    state.set_compared(["default", "meter-xs"])
    assert state.reference is None and state.running == ["default", "meter-xs"]
    state.set_file("/clips/pair.mp4", "sbs", stereo_source=True)
    assert seen[-3:] == ["layout", "stereo_source", "file"]
    assert state.reference == STEREO_REFERENCE and state.running == ["default", "meter-xs", STEREO_REFERENCE]
    state.set_analyses({"selectivity"})  # comparison dock hidden: the reference costs nothing
    assert state.reference is None and state.running == ["default", "meter-xs"]
    assert state.dump()["layout"] == "sbs"


def test_a_model_whose_card_cannot_be_built_counts_as_monocular(monkeypatch):
    import endodepth.pipeline.source_models as source_models

    class Broken:
        @property
        def card(self):
            raise RuntimeError("weights missing")

    monkeypatch.setattr(source_models, "spec", lambda name: Broken())
    assert source_models._card_says_stereo("broken") is False


def test_lists_label_models_without_trained_weights(monkeypatch, tmp_path):
    from endodepth.models import registry
    from endodepth.pipeline.source_models import is_untrained, listed_name, untrained_note

    assert listed_name("meter-xs") == "meter-xs (untrained)" and listed_name("endodac") == "endodac (untrained)"
    assert listed_name("stereo") == "stereo" and listed_name("baseline-shading") == "baseline-shading"
    assert listed_name("/runs/mine.safetensors", "mine.safetensors") == "mine.safetensors"  # a checkpoint
    assert "untrained" in untrained_note("depth-anything-v2-vits") and untrained_note("stereo") is None
    monkeypatch.setattr(registry, "WEIGHTS_DIR", tmp_path)  # a bundled model whose file is gone
    assert is_untrained("default") and listed_name("default") == "default (untrained)"
