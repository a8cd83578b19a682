"""`stereo` through the commands: eval and infer on a SCARED-format clip written by the synthetic
generator (metric depth, no scaling), and the mono refusal as one line with exit status 2."""

import numpy as np
import pytest

from endodepth.cli import main


@pytest.fixture(scope="module")
def synthetic_keyframe(tmp_path_factory):
    """Two held-out frames 480x384 of the textured surface scene, written in SCARED's format."""
    from endodepth.io.scared import write_keyframe
    from endodepth.synth import HELDOUT_SEED_START, render_sequence

    seq = render_sequence(2, 480, 384, HELDOUT_SEED_START + 700, scene="surface", stereo=True)
    folder = tmp_path_factory.mktemp("stereo") / "dataset_1" / "keyframe_1"
    write_keyframe(folder, seq.rgb, seq.right_rgb, seq.xyz, seq.right_xyz, seq.poses, seq.calibration(), seq.fps)
    return folder


@pytest.mark.slow
def test_stereo_eval_is_metric_on_the_generators_scared_clip(synthetic_keyframe, tmp_path, capsys):
    import json

    out = tmp_path / "eval.json"
    assert main(["eval", str(synthetic_keyframe), "--model", "stereo", "--no-median-scaling", "--json", str(out)]) == 0
    summary = json.loads(out.read_text())["models"]["stereo"]
    assert summary["kind"] == "metric-mm" and summary["frames"] == 2
    assert summary["abs_rel"] < 0.04 and summary["a1"] > 0.97
    assert summary["coverage"] > 0.5
    assert "coverage" in capsys.readouterr().out


@pytest.mark.slow
def test_stereo_infer_writes_millimetres_with_holes_left_unknown(synthetic_keyframe, tmp_path):
    out = tmp_path / "depth"
    assert main(["infer", str(synthetic_keyframe), "--model", "stereo", "--out", str(out)]) == 0
    depth = np.load(out / "000000.npy")
    assert depth.shape == (384, 480)
    finite = np.isfinite(depth)
    assert 0.5 < finite.mean() < 1.0  # holes stay NaN, never invented
    assert 30 < np.median(depth[finite]) < 200


def test_stereo_on_a_mono_source_is_one_line_and_exit_2(tmp_path, capsys):
    from endodepth.io.video import write_video

    video = write_video(tmp_path / "mono.mp4", np.full((2, 64, 80, 3), 100, np.uint8), 10.0)
    assert main(["infer", str(video), "--model", "stereo", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "mono.mp4: is a mono source" in err
    assert not (tmp_path / "out").exists()


def test_selectivity_says_stereo_has_no_layers(tmp_path, capsys):
    from endodepth.io.video import write_video

    video = write_video(tmp_path / "mono.mp4", np.full((2, 64, 80, 3), 100, np.uint8), 10.0)
    assert main(["selectivity", str(video), "--model", "stereo", "--depth", "prediction"]) == 2
    assert "stereo has no layers" in capsys.readouterr().err
