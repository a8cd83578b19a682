"""The training path on tiny data: augmentation, a few optimisation steps, the train command."""

import json

import numpy as np
import pytest
import torch

from endodepth import models
from endodepth.cli import main
from endodepth.train.augment import augment
from endodepth.train.datasets import FrameSet, FrameSets, split_by_sequence
from endodepth.train.trainer import Trainer, TrainOptions

pytestmark = pytest.mark.usefixtures("one_thread")


def _frames(folder, n=6, h=64, w=80):
    """Frames whose brightness falls with a known depth (a lit ramp), saved as a training set."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    depth = np.empty((n, h, w), np.float32)
    rgb = np.empty((n, h, w, 3), np.uint8)
    for i in range(n):
        d = 30 + 60 * (xx / w if i % 2 else yy / h) + rng.uniform(0, 10)
        depth[i] = d
        rgb[i] = np.clip(255 * (30 / d) ** 2, 0, 255)[..., None].astype(np.uint8)
    depth[:, :3, :3] = np.nan
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "rgb.npy", rgb)
    np.save(folder / "depth.npy", depth.astype(np.float16))
    return folder


def test_augment_moves_image_and_depth_together():
    h, w = 8, 10
    xx = np.broadcast_to(np.arange(w), (h, w))
    yy = np.broadcast_to(np.arange(h)[:, None], (h, w))
    rgb = np.stack([np.stack([xx * 20, yy * 30, np.full((h, w), 100)], -1)] * 16).astype(np.uint8)
    depth = np.stack([(xx * 100 + yy).astype(np.float32)] * 16)
    out_rgb, out_depth = augment(rgb, depth, np.random.default_rng(1))
    flips = set()
    for r, d in zip(out_rgb, out_depth):
        # depth encodes (x, y); the red/green channels must still increase along the same x and y
        x_order = np.argsort(d[0] // 100)
        y_order = np.argsort(d[:, 0] % 100)
        assert np.all(np.diff(r[0, x_order, 0].astype(int)) >= 0)
        assert np.all(np.diff(r[y_order, 0, 1].astype(int)) >= 0)
        flips.add((d[0, 0] // 100 > 0, d[0, 0] % 100 > 0))
    assert len(flips) == 4  # all four flip combinations occur in 16 draws
    assert not np.array_equal(out_rgb, rgb)  # colour jitter changed the pixels


def test_a_few_steps_fit_a_tiny_set_and_selectivity_enters_the_loss(tmp_path):
    data = FrameSet(_frames(tmp_path / "d"))
    opts = TrainOptions(model="meter-xxs", model_options={"input_size": (64, 64)}, steps=25, batch_size=4,
                        warmup=1, lr=3e-3, selectivity_layers=("dec_3",), val_every=25, val_frames=6)
    trainer = Trainer(opts, data, data, log=lambda r: None)
    first = trainer.step()
    assert set(first) == {"silog", "gradient", "selectivity"}
    assert -0.1 <= first["selectivity"] <= 0.1  # -weight x mean DS, DS in [-1, 1]
    before = trainer.validate()["abs_rel"]
    for _ in range(25):
        last = trainer.step()
    assert last["silog"] < first["silog"]
    assert trainer.validate()["abs_rel"] < before


def test_split_by_sequence_holds_back_whole_scenes():
    train, val = split_by_sequence(30, 5, 2)
    assert list(val) == list(range(20, 30)) and list(train) == list(range(20))


@pytest.mark.slow
def test_train_command_renders_trains_and_writes_a_loadable_checkpoint(tmp_path):
    out = tmp_path / "run" / "tiny.safetensors"
    argv = ["train", str(out), "--data", str(tmp_path / "synth"), "--sequences", "2", "--frames", "2",
            "--render-size", "64x48", "--val-sequences", "1", "--steps", "2", "--batch-size", "2",
            "--val-every", "1", "--selectivity-layers", "dec_3", "--threads", "1", "--workers", "1"]
    assert main(argv) == 0
    meta = json.loads((tmp_path / "synth" / "meta.json").read_text())
    assert [s["seed"] for s in meta["sequences"]] == [0, 1]
    log = [json.loads(line) for line in out.with_name("tiny.safetensors.log.jsonl").read_text().splitlines()]
    assert log[0]["train_frames"] == 2 and log[0]["val_frames"] == 2
    assert [r["step"] for r in log[1:]] == [1, 2] and all(np.isfinite(r["val_abs_rel"]) for r in log[1:])
    model = models.create(out)
    assert model.name == "default" and model.predict(np.zeros((48, 64, 3), np.uint8)).output.shape == (48, 64)


def test_heavy_augmentation_degrades_images_but_moves_depth_exactly_as_the_standard_one():
    rng = np.random.default_rng(0)
    rgb = rng.integers(40, 200, (12, 32, 40, 3), dtype=np.uint8)
    depth = rng.uniform(10, 100, (12, 32, 40)).astype(np.float32)
    std_rgb, std_depth = augment(rgb, depth, np.random.default_rng(3))
    heavy_rgb, heavy_depth = augment(rgb, depth, np.random.default_rng(3), "heavy")
    np.testing.assert_array_equal(heavy_depth, std_depth)
    assert heavy_rgb.shape == rgb.shape and heavy_rgb.dtype == np.uint8
    changed = [np.abs(h.astype(int) - s.astype(int)).mean() > 1 for h, s in zip(heavy_rgb, std_rgb)]
    assert sum(changed) >= 6
    with pytest.raises(ValueError, match="augmentation"):
        augment(rgb, depth, rng, "extreme")


def test_frame_sets_read_several_sets_as_one_in_order(tmp_path):
    a, b = FrameSet(_frames(tmp_path / "a", n=4)), FrameSet(_frames(tmp_path / "b", n=6), np.arange(1, 6))
    both = FrameSets([a, b])
    assert len(both) == 9
    rgb, depth = both.batch(np.array([8, 0, 4, 3]))
    want = [a.batch(np.array([0, 3])), b.batch(np.array([0, 4]))]  # set a first, then b, each sorted
    np.testing.assert_array_equal(rgb, np.concatenate([w[0] for w in want]))
    np.testing.assert_array_equal(depth, np.concatenate([w[1] for w in want]))


def test_palette_augmentation_scrambles_colour_but_not_depth():
    rng = np.random.default_rng(0)
    rgb = np.zeros((40, 8, 8, 3), np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 200, 90, 40  # one reddish tissue colour
    depth = rng.uniform(10, 100, (40, 8, 8)).astype(np.float32)
    _, heavy_depth = augment(rgb, depth, np.random.default_rng(5), "heavy")
    out_rgb, out_depth = augment(rgb, depth, np.random.default_rng(5), "palette")
    np.testing.assert_array_equal(out_depth, heavy_depth)
    means = out_rgb.reshape(40, -1, 3).mean(axis=1)
    gray = np.ptp(means, axis=1) < 3
    not_red = means.argmax(axis=1) != 0
    assert gray.sum() >= 3 and (not_red & ~gray).sum() >= 3  # grayscale frames and shuffled channels occur


def test_fine_tuning_starts_from_the_given_weights(tmp_path):
    from endodepth.models.checkpoint import save_checkpoint
    from endodepth.models.registry import build

    start = build("meter-xxs", input_size=(64, 64))
    torch.nn.init.constant_(next(start.parameters()), 0.5)
    path = tmp_path / "start.safetensors"
    save_checkpoint(start.state_dict(), path, start.name, start.options)
    data = FrameSet(_frames(tmp_path / "d"))
    tuned = Trainer(TrainOptions(model="meter-xxs", model_options={"input_size": (64, 64)}, weights=str(path)),
                    data, None, log=lambda r: None)
    fresh = Trainer(TrainOptions(model="meter-xxs", model_options={"input_size": (64, 64)}), data, None,
                    log=lambda r: None)
    for name, value in start.state_dict().items():
        torch.testing.assert_close(tuned.model.state_dict()[name], value)
    assert not torch.equal(next(fresh.model.parameters()), next(start.parameters()))
    assert tuned.model.training


def test_train_command_pairs_data_folders_with_their_recipes(tmp_path):
    out = tmp_path / "mix.safetensors"
    argv = ["train", str(out), "--data", str(tmp_path / "v1"), str(tmp_path / "v2"), "--sequences", "2", "3",
            "--first-seed", "0", "10", "--generator-version", "1", "2", "--frames", "1", "--render-size", "32x24",
            "--val-sequences", "1", "--steps", "1", "--batch-size", "2", "--threads", "1", "--workers", "1"]
    assert main(argv) == 0
    seeds = [[s["seed"] for s in json.loads((tmp_path / v / "meta.json").read_text())["sequences"]]
             for v in ("v1", "v2")]
    assert seeds == [[0, 1], [10, 11, 12]]
    log = json.loads(out.with_name("mix.safetensors.log.jsonl").read_text().splitlines()[0])
    assert log["train_frames"] == 3 and log["val_frames"] == 2
    assert [r["version"] for r in log["recipes"]] == [1, 2]
    assert main([*argv[:5], "--sequences", "2", "3", "4", *argv[8:]]) == 2
    assert main([*argv, "--wise-alpha", "0.5"]) == 2  # interpolation needs the --weights it started from


def test_wise_alpha_writes_the_weights_between_start_and_tuned(tmp_path):
    from endodepth.models.checkpoint import read_checkpoint, save_checkpoint
    from endodepth.models.registry import build

    start = build("meter-xxs", input_size=(64, 64))
    path = tmp_path / "start.safetensors"
    save_checkpoint(start.state_dict(), path, start.name, start.options)
    data = FrameSet(_frames(tmp_path / "d"))
    outs = {}
    for alpha in (1.0, 0.25):
        opts = TrainOptions(model="meter-xxs", model_options={"input_size": (64, 64)}, weights=str(path), steps=3,
                            batch_size=4, warmup=1, lr=3e-3, wise_alpha=alpha, val_every=3)
        outs[alpha] = read_checkpoint(Trainer(opts, data, None, log=lambda r: None).train(tmp_path / f"{alpha}.pt"))[0]
    moved = 0
    for name, s in start.state_dict().items():
        if s.is_floating_point():
            torch.testing.assert_close(outs[0.25][name], s + 0.25 * (outs[1.0][name] - s))
            moved += int(not torch.equal(outs[1.0][name], s))
    assert moved > 10
