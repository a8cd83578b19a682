import json

from endodepth.cli import main
from endodepth.models import registry


def test_zoo_rows_say_which_weights_each_model_needs(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(registry, "WEIGHTS_DIR", tmp_path)  # no bundled file present
    assert main(["models", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["baseline-shading"]["parameters"] == 0 and rows["baseline-shading"]["weights"] == "none needed"
    assert rows["meter-xxs"]["parameters"] == 713_464 and rows["meter-xxs"]["weights"] == "user-supplied"
    assert rows["default"]["weights"] == "missing" and rows["default"]["kind"] == "relative"
    assert rows["depth-anything-v2-vits"]["input_size"] == "518x518"
