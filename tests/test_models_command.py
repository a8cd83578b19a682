import json

from endodepth.cli import main
from endodepth.models import registry


def test_zoo_rows_say_which_weights_each_model_needs(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(registry, "WEIGHTS_DIR", tmp_path)  # no bundled file present
    assert main(["models", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["baseline-shading"]["parameters"] == 0 and rows["baseline-shading"]["weights"] == "none needed"
    assert rows["baseline-shading"]["trained"]
    assert rows["meter-xxs"]["parameters"] == 713_464 and rows["meter-xxs"]["weights"] == "untrained (--weights FILE)"
    assert rows["default"]["weights"] == "untrained (bundled file missing)" and rows["default"]["kind"] == "relative"
    assert not rows["meter-xxs"]["trained"] and not rows["default"]["trained"]
    assert rows["depth-anything-v2-vits"]["input_size"] == "518x518"


def test_every_registered_model_agrees_with_the_zoo_table(capsys):
    """`endodepth models` states what the built model itself says (kind, input size, parameters)."""
    import torch

    from endodepth.kinds import KINDS

    assert main(["models", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert sorted(rows) == registry.available()
    for name, row in rows.items():
        with torch.device("meta"):
            model = registry.build(name)
        h, w = model.input_size
        assert (row["kind"], row["input_size"], row["parameters"]) == (model.kind, f"{h}x{w}", model.num_parameters())
        assert model.kind in KINDS, name


def test_the_bundled_metric_heads_are_trained_and_the_others_say_untrained(capsys):
    assert main(["models"]) == 0
    table = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[2:]}
    for name in ("metric-bins-router", "metric-bins", "default"):
        assert " bundled " in table[name], table[name]
    for name in ("endodac", "meter-xs", "depth-anything-v2-vits", "depth-anything-v2-vits-metric-bins-router"):
        assert "untrained (--weights FILE)" in table[name], table[name]
    assert main(["models", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["metric-bins-router"]["trained"] and rows["metric-bins-router"]["kind"] == "metric-mm"
    assert not rows["endodac"]["trained"]
