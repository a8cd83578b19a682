import cv2
import numpy as np
import pytest
import torch

from endodepth.cli import main
from endodepth.errors import EndoDepthError
from endodepth.models.registry import DeviceError, UnknownModelError, resolve_device, spec


def test_unknown_name_is_a_key_error_and_one_of_ours():
    with pytest.raises(UnknownModelError) as err:
        spec("no-such-model")
    assert isinstance(err.value, KeyError) and isinstance(err.value, EndoDepthError)
    assert str(err.value).startswith("unknown model 'no-such-model'; available: ")


def test_missing_cuda_and_unknown_device(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(DeviceError, match="device 'cuda': CUDA is not available on this machine"):
        resolve_device("cuda")
    with pytest.raises(RuntimeError, match="device 'gpu0': "):
        resolve_device("gpu0")
    assert resolve_device("auto") == torch.device("cpu")


@pytest.mark.parametrize("command", ["bench", "infer"])
def test_cli_without_cuda_says_so_in_one_line(monkeypatch, tmp_path, capsys, command):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    image = tmp_path / "x.png"
    cv2.imwrite(str(image), np.zeros((16, 16, 3), np.uint8))
    assert main([command, str(image), "--model", "baseline-shading", "--device", "cuda"]) == 2
    err = capsys.readouterr().err
    assert err == f"endodepth {command}: error: device 'cuda': CUDA is not available on this machine " \
                  "(torch sees no GPU); use --device cpu\n"
