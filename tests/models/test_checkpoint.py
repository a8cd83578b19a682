import pickle

import pytest
import torch
from torch import nn

from endodepth.errors import CheckpointError
from endodepth.models.checkpoint import load_into, read_checkpoint, save_checkpoint


class Tiny(nn.Module):
    name = "tiny"

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.head = nn.Linear(4, 1)


class Evil:
    def __reduce__(self):
        return (print, ("this must never run",))


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_round_trip_keeps_tensors_and_metadata(tmp_path, suffix):
    model = Tiny()
    path = save_checkpoint(model.state_dict(), tmp_path / f"m{suffix}", "tiny", {"width": 4})
    tensors, info = read_checkpoint(path)
    assert info == {"model": "tiny", "options": {"width": 4}}
    other = Tiny()
    load_into(other, path, tensors)
    for k, v in model.state_dict().items():
        assert torch.equal(other.state_dict()[k], v)
    assert not list(tmp_path.glob("*.part"))


def test_pickle_that_runs_code_is_refused(tmp_path, capsys):
    path = tmp_path / "evil.pth"
    with open(path, "wb") as f:
        pickle.dump({"weight": Evil()}, f)
    with pytest.raises(CheckpointError) as err:
        read_checkpoint(path)
    assert "evil.pth" in str(err.value) and "run code" in str(err.value)
    assert "must never run" not in capsys.readouterr().out


def test_mismatch_lists_missing_unexpected_and_shapes(tmp_path):
    sd = Tiny().state_dict()
    sd.pop("head.bias")
    sd["extra.weight"] = torch.zeros(2)
    sd["conv.weight"] = torch.zeros(5, 3, 3, 3)
    with pytest.raises(CheckpointError) as err:
        load_into(Tiny(), tmp_path / "x.pth", sd)
    msg = str(err.value)
    assert "missing keys: head.bias" in msg
    assert "unexpected keys: extra.weight" in msg
    assert "conv.weight (5, 3, 3, 3) vs (4, 3, 3, 3)" in msg


def test_not_a_checkpoint(tmp_path):
    path = tmp_path / "notes.pth"
    path.write_text("hello")
    with pytest.raises(CheckpointError, match=r"notes\.pth"):
        read_checkpoint(path)
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        read_checkpoint(tmp_path / "absent.safetensors")


def test_refusal_names_the_blocked_call_in_one_line(tmp_path, capfd):
    path = tmp_path / "evil.pth"
    torch.save({"weight": Evil()}, path)
    with pytest.raises(CheckpointError) as err:
        read_checkpoint(path)
    msg = str(err.value)
    assert msg.startswith(str(path)) and "would call print" in msg and "\n" not in msg
    assert "must never run" not in capfd.readouterr().out


def test_raw_pickle_refused_without_torch_warning(tmp_path, capfd):
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"weight": Evil()}, protocol=4))
    with pytest.raises(CheckpointError, match="run code") as err:
        read_checkpoint(path)
    assert "In PyTorch 2.6" not in str(err.value)
    assert "pickle protocol" not in capfd.readouterr().err
