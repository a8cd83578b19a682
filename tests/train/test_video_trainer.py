"""Training on frame triples: steps, checkpoint chosen on validation, resume with optimizer state, two gloo ranks."""

import json
import os
import socket

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from endodepth import models
from endodepth.train import distributed
from endodepth.train.trainer import Trainer, TrainOptions
from endodepth.train.video_data import FrameTriples
from endodepth.train.video_trainer import DISTILL, VideoOptions, VideoTrainer, resume_path

H, W = 32, 64


def _triples(n: int = 6) -> FrameTriples:
    """A textured plane seen by a camera sliding sideways: frame i is the texture rolled by 2 i pixels."""
    rng = np.random.default_rng(0)
    coarse = rng.uniform(0, 255, (H // 4, W // 2, 3)).astype(np.float32)
    texture = np.kron(coarse, np.ones((4, 4, 1))).astype(np.uint8)
    rgb = np.stack([np.roll(texture, -2 * i, axis=1)[:, :W] for i in range(n)])
    K = np.tile(np.array([[40.0, 0, (W - 1) / 2], [0, 40.0, (H - 1) / 2], [0, 0, 1]], np.float32), (n, 1, 1))
    depth = np.full((n, H, W), 50.0, np.float32)
    depth[:, :, : W // 2] = 40.0
    return FrameTriples(rgb, K, depth, np.array([[i - 1, i, i + 1] for i in range(1, n - 1)]))


def _options(**changes) -> VideoOptions:
    base = dict(model="meter-xxs", model_options={"input_size": (32, 64)}, from_scratch=True, steps=2,
                batch_size=2, lr=1e-3, warmup=1, val_every=2, val_frames=4, device="cpu", scales=2)
    return VideoOptions(**{**base, **changes})


def _cpu_world() -> distributed.World:
    return distributed.World(0, 1, torch.device("cpu"))


def test_self_supervised_run_writes_checkpoint_card_and_resume_file(tmp_path):
    out = tmp_path / "ss.safetensors"
    records = []
    trainer = VideoTrainer(_options(convention="af-sfmlearner"), _triples(), _triples(), records.append)
    trainer.train(out)
    assert records[0]["step"] == 0 and "val_abs_rel" in records[0]  # the curve starts before training
    assert records[0]["saved"]  # the start is the checkpoint to beat
    assert set(records[-1]) >= {"photometric", "smoothness", "kept", "val_abs_rel"}
    card = json.loads((tmp_path / "ss.safetensors.card.json").read_text())
    assert card["world_size"] == 1 and card["checkpoint_chosen_on"] == "validation frames"
    assert card["trainable"]["pose_network"] > 1_000_000 and card["convention"] == "af-sfmlearner"
    assert models.create(out).name == "meter-xxs" and resume_path(out).is_file()


def test_resume_continues_exactly_with_the_optimizer_state(tmp_path):
    straight = VideoTrainer(_options(steps=4, val_every=100), _triples(), None, lambda r: None)
    straight.train(tmp_path / "a.safetensors")
    first = VideoTrainer(_options(steps=2, val_every=2), _triples(), None, lambda r: None)
    first.train(tmp_path / "b.safetensors")
    second = VideoTrainer(_options(steps=4, val_every=100), _triples(), None, lambda r: None)
    second.resume(resume_path(tmp_path / "b.safetensors"))
    assert second.step_count == 2 and second.optimizer.state  # Adam moments came back
    second.train(tmp_path / "b.safetensors")
    for (name, a), b in zip(straight.model.state_dict().items(), second.model.state_dict().values()):
        assert torch.equal(a, b), name


def _trainer(objective: str, world: distributed.World | None = None, steps: int = 3):
    """A video trainer, or the supervised one on the same frames (as a rendered set), for `world`."""
    if objective != "supervised":
        return VideoTrainer(_options(steps=steps, val_every=100), _triples(), None, lambda r: None, world=world)
    data = _triples()
    options = TrainOptions(model="meter-xxs", model_options={"input_size": (32, 64)}, steps=steps, batch_size=2,
                           warmup=1, val_every=100, device="cpu")
    return Trainer(options, _ArraySet(data.rgb, data.depth), None, lambda r: None, world=world)


class _ArraySet:
    """In-memory frames with the FrameSet interface the supervised trainer reads."""

    def __init__(self, rgb, depth):
        self.rgb, self.depth = rgb, depth

    def __len__(self) -> int:
        return len(self.rgb)

    def batch(self, picks):
        return self.rgb[np.sort(picks)], self.depth[np.sort(picks)]


def _rank_main(rank: int, port: int, folder: str, objective: str) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE="2", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    world = distributed.join(torch.device("cpu"))
    trainer = _trainer(objective, world)
    trainer.train(os.path.join(folder, "ddp.safetensors"))
    torch.save(dict(trainer.model.named_parameters()), os.path.join(folder, f"rank{rank}.pt"))
    distributed.leave(world)


@pytest.mark.slow
@pytest.mark.parametrize("objective", ["self-supervised", "supervised"])
def test_two_gloo_ranks_keep_identical_weights(tmp_path, objective):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_rank_main, args=(port, str(tmp_path), objective), nprocs=2, join=True)
    a, b = (torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1))
    start = dict(_trainer(objective, steps=0).model.named_parameters())
    assert any(not torch.equal(a[k], start[k]) for k in a)  # they trained
    assert [k for k in a if not torch.equal(a[k], b[k])] == []  # and stayed in step (norm statistics are per rank)
    if objective == "self-supervised":
        assert json.loads((tmp_path / "ddp.safetensors.card.json").read_text())["world_size"] == 2


def test_distillation_fits_the_teachers_labels():
    data = _triples()
    label = torch.from_numpy(data.depth)[:, None]
    trainer = VideoTrainer(_options(objective=DISTILL, lr=3e-3, steps=30), data, None, lambda r: None,
                           labels=(label, torch.ones_like(label)))
    first = trainer.step()
    assert set(first) == {"silog_0", "silog_1", "silog_2", "silog_3"} and first["silog_3"] > 0
    for _ in range(15):
        last = trainer.step()
    assert sum(last.values()) < sum(first.values())


def test_python_dash_m_endodepth_is_the_command_torchrun_runs():
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "endodepth", "train", "--help"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0 and "--objective" in done.stdout and "--resume" in done.stdout


def test_a_run_that_only_gets_worse_keeps_the_starting_weights(tmp_path):
    out = tmp_path / "worse.safetensors"
    records = []
    trainer = VideoTrainer(_options(steps=4, val_every=2), _triples(), _triples(), records.append)
    start = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    scores = iter([0.1, 0.2, 0.3])  # validation at steps 0, 2 and 4: worse and worse
    trainer._scores = lambda: {"val_abs_rel": next(scores)}
    trainer.train(out)
    assert [r["step"] for r in records] == [0, 2, 4] and [r.get("saved", False) for r in records] == [True, False, False]
    assert trainer.best == 0.1
    kept = models.create(out).state_dict()
    assert all(torch.equal(kept[k], v) for k, v in start.items())
    assert not all(torch.equal(trainer.model.state_dict()[k], v) for k, v in start.items())  # it did train
