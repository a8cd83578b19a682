import numpy as np
import pytest

from endodepth.cli import main
from endodepth.io.calibration import read_calibration
from endodepth.io.detect import open_source
from endodepth.synth import render_sequence

ARGS = ["--frames", "4", "--size", "64x48", "--seed", "2", "--scene", "surface"]


def test_scared_layout_reads_back_with_exact_depth_and_poses(tmp_path):
    assert main(["synth", str(tmp_path), *ARGS, "--keyframe", "3"]) == 0
    src = open_source(tmp_path / "dataset_1" / "keyframe_3")
    assert src.kind == "scared-keyframe" and len(src) == 4 and src.size == (64, 48) and src.has_ground_truth
    seq = render_sequence(4, 64, 48, seed=2, scene="surface")
    for i in range(4):
        frame = src.frame(i)
        np.testing.assert_allclose(frame.gt_depth, seq.depth[i], rtol=1e-6, equal_nan=True)
        np.testing.assert_allclose(frame.pose, seq.poses[i], atol=1e-9)
        np.testing.assert_allclose(frame.K, seq.K)
        assert np.abs(frame.rgb.astype(int) - seq.rgb[i]).mean() < 12  # mp4 compression only
    calib = read_calibration(tmp_path / "dataset_1" / "keyframe_3" / "endoscope_calibration.yaml")
    np.testing.assert_allclose(calib.T, [-seq.baseline_mm, 0, 0])
    np.testing.assert_allclose(calib.R, np.eye(3))


def test_plain_layout_and_video_with_calibration(tmp_path):
    assert main(["synth", str(tmp_path / "plain"), *ARGS, "--layout", "plain", "--no-fov-mask"]) == 0
    src = open_source(tmp_path / "plain")
    assert src.kind == "plain" and len(src) == 4
    seq = render_sequence(4, 64, 48, seed=2, scene="surface", fov_mask=False)
    np.testing.assert_allclose(src.frame(3).gt_depth, seq.depth[3], rtol=1e-6, equal_nan=True)
    np.testing.assert_array_equal(src.frame(3).rgb, seq.rgb[3])

    assert main(["synth", str(tmp_path / "clip" / "clip.mp4"), *ARGS, "--layout", "video"]) == 0
    video = open_source(tmp_path / "clip" / "clip.mp4")
    assert video.kind == "video" and len(video) == 4 and not video.intrinsics_assumed
    np.testing.assert_allclose(video.frame(0).K, seq.K)


@pytest.mark.parametrize("setting", ["nonsense=3", "scene=cube"])
def test_bad_setting_is_one_line_error(tmp_path, capsys, setting):
    assert main(["synth", str(tmp_path), "--frames", "1", "--set", setting]) == 2
    assert f"--set '{setting}': expected NAME=VALUE" in capsys.readouterr().err


@pytest.mark.parametrize("args", [["--size", "big"], ["--frames", "0"]])
def test_bad_size_or_count_is_a_usage_error(tmp_path, args):
    with pytest.raises(SystemExit):
        main(["synth", str(tmp_path), *args])


@pytest.mark.parametrize(
    "setting, problem",
    [
        ("speed=abc", "expected a number, e.g. the default 1.0"),
        ("fold_count=2.5", "expected an integer, e.g. the default 4"),
        ("fov_mask=1", "expected true or false, e.g. the default true"),
        ("white_balance=1", "expected a JSON list, e.g. the default [1.0, 1.0, 1.0]"),
        ('tissues=["liver", "bone"]', "unknown tissue 'bone'; known: mucosa, mucosa_pale, mucosa_red, "
         "peritoneum, liver, fat, bowel, heldout_serosa, heldout_spleen, heldout_omentum, heldout_stomach"),
    ],
)
def test_setting_of_the_wrong_type_is_one_line_error(tmp_path, capsys, setting, problem):
    assert main(["synth", str(tmp_path), "--frames", "1", "--set", setting]) == 2
    usage, *_, err = capsys.readouterr().err.strip().splitlines()
    assert usage.startswith("usage: endodepth synth ")  # a usage error, reported as argparse reports one
    assert err == f"endodepth synth: error: --set '{setting}': {problem}"


def test_output_that_is_a_file_is_one_line_error(tmp_path, capsys):
    (tmp_path / "taken").write_text("x")
    assert main(["synth", str(tmp_path / "taken"), "--frames", "1", "--size", "16x16"]) == 2
    assert f"{tmp_path / 'taken'}: exists and is not a folder" in capsys.readouterr().err


def test_int_accepted_for_a_float_setting(tmp_path):
    assert main(["synth", str(tmp_path), *ARGS, "--layout", "plain", "--set", "speed=2"]) == 0
