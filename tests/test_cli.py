import argparse
import subprocess
import sys

import pytest

from endodepth.cli import COMMANDS, main
from endodepth.commands.options import device_name, parse_size, size_type


def test_help_lists_every_subcommand():
    out = subprocess.run(
        [sys.executable, "-m", "endodepth.cli", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for name in COMMANDS:
        assert name in out


def test_each_subcommand_has_its_own_help(capsys):
    for name in COMMANDS:
        try:
            main([name, "--help"])
        except SystemExit as exc:
            assert exc.code == 0
        assert f"usage: endodepth {name}" in capsys.readouterr().out


def test_sizes_are_width_by_height():
    assert parse_size("320x256") == (320, 256) and parse_size(" 64 X 48 ") == (64, 48)
    for bad in ("abc", "320", "320x", "x256", "-3x4", "1.5x2"):
        with pytest.raises(argparse.ArgumentTypeError, match="expected WIDTHxHEIGHT"):
            parse_size(bad)
    with pytest.raises(argparse.ArgumentTypeError, match="both sides must be at least 8"):
        size_type(minimum=8)("8x4")


def test_device_names():
    assert [device_name(d) for d in ("auto", "cpu", "cuda", "cuda:1")] == ["auto", "cpu", "cuda", "cuda:1"]
    with pytest.raises(argparse.ArgumentTypeError):
        device_name("gpu")


def test_gui_size_that_is_not_a_size_is_a_usage_error(capsys):
    from endodepth.cli import gui_main

    with pytest.raises(SystemExit) as exit_:
        gui_main(["--size", "abc"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: endodepth-gui") and "argument --size: expected WIDTHxHEIGHT, e.g. 320x256, got 'abc'" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("command", ["infer", "bench", "selectivity", "eval"])
def test_bad_device_is_a_usage_error(capsys, tmp_path, command):
    with pytest.raises(SystemExit) as exit_:
        main([command, str(tmp_path), "--model", "baseline-shading", "--device", "gpu"])
    assert exit_.value.code == 2
    assert "argument --device: expected auto, cpu, cuda or cuda:N, got 'gpu'" in capsys.readouterr().err


def test_weights_with_two_models_is_a_usage_error_not_a_file_error(capsys, tmp_path):
    weights = tmp_path / "w.safetensors"
    code = main(["eval", str(tmp_path), "--model", "meter-xxs", "--model", "default", "--weights", str(weights)])
    usage, *_, err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and usage.startswith("usage: endodepth eval")
    assert err == "endodepth eval: error: --weights goes with exactly one --model"
