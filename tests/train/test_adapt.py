"""`endodepth adapt` and AdaptJob on tiny synthetic clips: labels, objectives, checkpoint + card, bad input, cancel."""

import json

import cv2
import numpy as np
import pytest
import torch

from endodepth.cli import main
from endodepth.io.detect import open_source
from endodepth.io.plain import write_plain
from endodepth.kinds import finite_positive
from endodepth.models import create
from endodepth.models.checkpoint import read_checkpoint
from endodepth.synth import render_sequence
from endodepth.train.adapt import AdaptCancelled, AdaptJob, AdaptOptions
from endodepth.train.adapt_files import card_path, default_output
from endodepth.train.pseudo_labels import TeacherLabel, model_teacher, pseudo_labels

W, H = 96, 80


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """Six frames of a rendered tube with ground truth (plain layout)."""
    seq = render_sequence(6, W, H, seed=11, scene="tube")
    return write_plain(tmp_path_factory.mktemp("clip") / "plain", seq.rgb, seq.depth, seq.K, None, seq.fps)


@pytest.fixture(scope="module")
def one_frame(tmp_path_factory):
    seq = render_sequence(1, W, H, seed=12, scene="surface")
    return write_plain(tmp_path_factory.mktemp("one") / "plain", seq.rgb, seq.depth, seq.K, None, seq.fps)


def gt_teacher(frame):
    """A stand-in for the stereo teacher: the frame's ground truth, confidence 1."""
    return TeacherLabel(np.nan_to_num(frame.gt_depth), None, finite_positive(frame.gt_depth))


def _scale_free_error(pred: np.ndarray, ref: np.ndarray) -> float:
    """RMS of the log ratio after removing its mean (the error SILog at variance focus 1 sees)."""
    g = np.log(pred) - np.log(ref)
    return float(np.sqrt(np.mean((g - g.mean()) ** 2)))


def test_pseudo_labels_are_the_teacher_at_the_loss_size(one_frame):
    model = create("default")
    with open_source(one_frame) as source:
        frame = source[0]
        labels, weights = pseudo_labels([frame], model_teacher(model), (40, 48))
    expected = cv2.resize(model.predict(frame.rgb).output, (48, 40), interpolation=cv2.INTER_AREA)
    np.testing.assert_allclose(labels[0, 0].numpy(), expected, rtol=1e-4)
    assert torch.all(weights == 1)


def test_holes_and_confidence_carry_into_the_weights(one_frame):
    with open_source(one_frame) as source:
        frame = source[0]
    depth = np.full((H, W), 50.0, np.float32)
    valid = np.ones((H, W), bool)
    valid[:, : W // 2] = False
    confidence = np.full((H, W), 0.25, np.float32)
    labels, weights = pseudo_labels([frame], lambda f: TeacherLabel(depth, confidence, valid), (H // 2, W // 2))
    assert torch.all(weights[..., : W // 4] == 0)
    torch.testing.assert_close(weights[..., W // 4 :], torch.full_like(weights[..., W // 4 :], 0.25))
    torch.testing.assert_close(labels[..., W // 4 :], torch.full_like(labels[..., W // 4 :], 50.0))


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_pseudo_objective_reproduces_the_teacher_on_a_one_frame_clip(one_frame, tmp_path):
    with open_source(one_frame) as source:
        job = AdaptJob(source, tmp_path / "a.safetensors",
                       AdaptOptions(objective="pseudo", steps=20, lr=2e-2), teacher=gt_teacher)
        frame = source[0]
        gt = frame.gt_depth
        ok = finite_positive(gt)
        before = _scale_free_error(job.model.predict(frame.rgb).output[ok], gt[ok])
        result = job.run()
        after = _scale_free_error(job.model.predict(frame.rgb).output[ok], gt[ok])
    assert after < 0.8 * before
    curve = result.card["loss_curve"]
    assert curve[-1]["silog"] < curve[0]["silog"]


def test_checkpoint_and_card_round_trip(clip, tmp_path):
    out = tmp_path / "adapted.safetensors"
    with open_source(clip) as source:
        job = AdaptJob(source, out, AdaptOptions(objective="mono", steps=3, frames=(0, 4), batch_size=2, eval_frames=2))
        result = job.run()
        rgb = source[5].rgb
    card = json.loads(card_path(out).read_text())
    assert card == json.loads(json.dumps(result.card, default=str))
    assert (card["base_model"], card["objective"], card["steps"]) == ("default", "mono", 3)
    assert card["frames"]["range"] == [0, 4] and card["frames"]["used"] == 4
    assert card["parameters"]["adapters"] == job.model.num_parameters(trainable_only=True) > 0
    assert card["parameters"]["pose_network"] > 0
    assert card["learned_intrinsics"] is None  # the plain layout states its K
    check = card["ground_truth_check"]
    assert check["before"]["indices"] == [4, 5] and "held-out" in check["before"]["frames"]
    rebuilt = create(out)
    assert rebuilt.name == "lora-adapted" and rebuilt.kind == "relative"
    np.testing.assert_allclose(rebuilt.predict(rgb).output, job.model.predict(rgb).output, rtol=1e-5)
    base = create("default").predict(rgb).output
    assert not np.allclose(rebuilt.predict(rgb).output, base, rtol=1e-5)  # the adapters did learn something


def test_stage_2_trains_all_weights_and_the_checkpoint_round_trips(clip, tmp_path):
    out = tmp_path / "full.safetensors"
    with open_source(clip) as source:
        job = AdaptJob(source, out, AdaptOptions(objective="mono", steps=2, stage=2, stage2_steps=3, frames=(0, 4),
                                                 batch_size=2, eval_frames=1, pose_warmup=0.0))
        steps = []
        job.progress = lambda step, total, terms: steps.append((step, total))
        result = job.run()
        rgb = source[5].rgb
    assert steps == [(1, 5), (2, 5), (3, 5), (4, 5), (5, 5)]
    card = json.loads(card_path(out).read_text())
    assert (card["stage"], card["steps"], card["stage2_steps"]) == (2, 2, 3) and "all weights" in card["checkpoint"]
    assert len(result.card["loss_curve"]) == 5
    assert card["parameters"]["stage2"]["total"] > card["parameters"]["adapters"]
    tensors, info = read_checkpoint(out)
    assert set(tensors) == set(job.model.state_dict()) and info["model"] == "lora-adapted"
    base = create("default").state_dict()
    moved = tensors["enc_0.1.weight"]  # a norm's weight: no adapter wraps it, only stage 2 trains it
    assert not torch.allclose(moved, base["enc_0.1.weight"])
    assert all(not v.any() for k, v in tensors.items() if "lora_B" in k)  # folded: the adapters are the identity
    rebuilt = create(out)
    np.testing.assert_allclose(rebuilt.predict(rgb).output, job.model.predict(rgb).output, rtol=1e-5)


def test_stage_2_steps_need_stage_2(clip, tmp_path, capsys):
    rc = main(["adapt", str(clip), "--out", str(tmp_path / "x.safetensors"), "--stage2-steps", "5"])
    assert rc == 2 and "--stage2-steps goes with --stage 2" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_cancel_writes_nothing(clip, tmp_path):
    out = tmp_path / "c.safetensors"
    with open_source(clip) as source:
        job = AdaptJob(source, out, AdaptOptions(objective="mono", steps=5, batch_size=1, eval_frames=1))
        job.progress = lambda step, total, terms: job.cancel()
        with pytest.raises(AdaptCancelled):
            job.run()
    assert list(tmp_path.iterdir()) == []


def test_cli_end_to_end_then_the_checkpoint_evaluates(clip, tmp_path, capsys):
    out = tmp_path / "m.safetensors"
    rc = main(["adapt", str(clip), "--out", str(out), "--objective", "mono", "--steps", "2", "--frames", "0:4",
               "--batch-size", "2", "--threads", "1"])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "ground-truth check on 2 held-out frames" in text
    assert out.is_file() and card_path(out).is_file()
    assert main(["eval", str(clip), "--model", str(out), "--model", "default"]) == 0
    assert "m " in capsys.readouterr().out


def test_ctrl_c_leaves_no_file(clip, tmp_path, monkeypatch, capsys):
    def interrupted(self, *args):
        raise KeyboardInterrupt

    monkeypatch.setattr(AdaptJob, "_step", interrupted)
    out = tmp_path / "k.safetensors"
    assert main(["adapt", str(clip), "--out", str(out), "--objective", "mono", "--steps", "3"]) == 130
    assert "interrupted" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--objective", "mono"], "needs at least 3 frames"),
        (["--objective", "stereo"], "needs a stereo source"),
        (["--objective", "pseudo"], "needs a teacher"),
        (["--model", "baseline-constant", "--objective", "pseudo", "--teacher", "default"],
         "baseline-constant cannot be adapted"),
        (["--frames", "5:2"], "--frames '5:2'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(one_frame, tmp_path, capsys, args, message):
    rc = main(["adapt", str(one_frame), "--out", str(tmp_path / "x.safetensors"), *args])
    err = capsys.readouterr().err
    assert rc == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert list(tmp_path.iterdir()) == []


def test_output_folder_is_refused(clip, tmp_path, capsys):
    assert main(["adapt", str(clip), "--out", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err


def test_the_default_output_is_beside_the_video_named_after_it(tmp_path):
    video = tmp_path / "case7.mp4"
    video.write_bytes(b"")
    assert default_output(video) == tmp_path / "case7.adapted.safetensors"
    (tmp_path / "case7.adapted.safetensors").write_bytes(b"")
    assert default_output(video) == tmp_path / "case7.adapted-2.safetensors"  # never over an earlier one
    folder = tmp_path / "keyframe_1"
    folder.mkdir()
    assert default_output(folder) == tmp_path / "keyframe_1.adapted.safetensors"


def test_a_read_only_folder_sends_the_default_output_elsewhere(tmp_path, monkeypatch):
    video = tmp_path / "ro" / "endo.mp4"
    video.parent.mkdir()
    video.write_bytes(b"")
    monkeypatch.setattr("os.access", lambda path, mode: str(path) != str(video.parent))
    assert default_output(video, tmp_path / "models") == tmp_path / "models" / "endo.adapted.safetensors"


def test_mono_learns_the_intrinsics_of_a_source_without_calibration(tmp_path):
    seq = render_sequence(5, W, H, seed=13, scene="tube")
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, rgb in enumerate(seq.rgb):
        cv2.imwrite(str(folder / f"{i:03d}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    with open_source(folder) as source:
        assumed = np.asarray(source.intrinsics)
        job = AdaptJob(source, tmp_path / "k.safetensors", AdaptOptions(objective="mono", steps=4, batch_size=2))
        card = job.run().card
    learned = np.asarray(card["learned_intrinsics"])
    assert card["intrinsics_assumed"] and learned.shape == (3, 3)
    np.testing.assert_allclose(learned, assumed, rtol=0.05, atol=0.6)  # 4 steps move it a little from the assumption
    assert not np.allclose(learned, assumed, rtol=1e-6, atol=1e-4)


def test_specular_highlights_get_no_label_weight(one_frame):
    with open_source(one_frame) as source:
        frame = source[0]
    frame.rgb = frame.rgb.copy()
    frame.rgb[:, : W // 2] = np.minimum(frame.rgb[:, : W // 2], 150)  # no highlight on the left half
    frame.rgb[20:30, 10:20] = 255  # one highlight there

    def flat(_frame):
        return TeacherLabel(np.full((H, W), 50.0, np.float32), None, np.ones((H, W), bool))

    _, plain = pseudo_labels([frame], flat, (H, W))
    _, masked = pseudo_labels([frame], flat, (H, W), mask_specular=True)
    assert torch.all(plain == 1)
    assert torch.all(masked[0, 0, 20:30, 10:20] == 0)
    left = masked[0, 0, :, : W // 2 - 3]  # the right half's own highlights grow 2 pixels into it
    assert torch.all(left[:17] == 1) and torch.all(left[33:] == 1)


def test_the_anchor_is_zero_until_the_adapters_move_and_scale_free(clip, tmp_path):
    with open_source(clip) as source:
        job = AdaptJob(source, tmp_path / "a.safetensors", AdaptOptions(objective="mono", steps=4, frames=(0, 4), anchor=0.1,
                                                                        batch_size=2, eval_frames=1, pose_warmup=0.0))
        curve = []
        job.progress = lambda step, total, terms: curve.append(terms["anchor"])
        job.run()
    assert curve[0] < 1e-4 < curve[-1]  # the first step sees the base itself; later ones a moved model
    base = torch.rand(2, 1, 8, 8) + 0.5
    assert float(job._anchor(3.0 * base, base, torch.ones_like(base))) < 1e-4  # blind to scale
    assert float(job._anchor(base * torch.exp(0.1 * torch.randn_like(base)), base, torch.ones_like(base))) > 1e-3
