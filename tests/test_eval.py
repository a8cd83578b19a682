"""`endodepth eval` end to end on a tiny SCARED-format dataset written with our own writer."""

import csv
import json

import numpy as np
import pytest

from endodepth import models
from endodepth.cli import main
from endodepth.models.base import DepthResult

H, W, N = 64, 80, 5


def _grey(keyframe: int, i: int) -> int:
    """Flat grey level that tells the oracle which frame it sees (robust to the video codec)."""
    return 20 + 10 * (4 * i + keyframe - 1)


def _depths(seed: int) -> np.ndarray:
    """Distinct depth maps per frame (mm), with NaN holes and out-of-range pixels."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    z = np.empty((N, H, W), np.float32)
    for i in range(N):
        z[i] = 30 + (i + seed) * 10 * (xx / W) + 40 * (yy / H) ** (i + 1) + rng.uniform(0, 2, (H, W))
        z[i, 3:9, 5 + 4 * i : 15 + 4 * i] = np.nan
    z[:, 0, :4] = 400.0
    return z


def _write(folder, keyframe: int) -> np.ndarray:
    from endodepth.io.calibration import StereoCalibration
    from endodepth.io.scared import write_keyframe

    K = np.array([[0.82 * W, 0, W / 2], [0, 1.02 * H, H / 2], [0, 0, 1]])
    z = _depths(keyframe)
    v, u = np.mgrid[0:H, 0:W].astype(np.float32)
    xyz = np.stack([(u - K[0, 2]) * z / K[0, 0], (v - K[1, 2]) * z / K[1, 1], z], axis=-1)
    rgb = np.stack([np.full((H, W, 3), _grey(keyframe, i), np.uint8) for i in range(N)])
    calib = StereoCalibration(K, np.zeros(5), K, np.zeros(5), np.eye(3), [-4.0, 0, 0])
    write_keyframe(folder, rgb, rgb, xyz, xyz, np.repeat(np.eye(4)[None], N, 0), calib, 10.0)
    return z


@pytest.fixture(scope="module")
def scared(tmp_path_factory):
    root = tmp_path_factory.mktemp("scared")
    gts = {k: _write(root / "dataset_1" / f"keyframe_{k}", k) for k in (1, 2)}
    return root, gts


class Oracle:
    """Answers 3 x the ground truth of the frame it recognises, as depth or inverse depth."""

    name = "oracle"
    options: dict = {}

    def __init__(self, gts, kind):
        self.gts, self.kind = gts, kind

    def predict(self, rgb):
        i, k = divmod(round((float(rgb.mean()) - 20) / 10), 4)
        depth = np.nan_to_num(self.gts[k + 1][i], nan=50.0) * 3.0
        return DepthResult(output=1 / depth if self.kind == "relative-inverse" else depth, kind=self.kind)

    def predict_frame(self, frame):
        return self.predict(frame.rgb)


def _constant_errors(gt: np.ndarray) -> float:
    """abs_rel of the constant baseline computed independently: the median everywhere."""
    valid = gt[np.isfinite(gt) & (gt > 1e-3) & (gt < 150)]
    return float(np.mean(np.abs(valid - np.median(valid)) / valid))


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("kind", ["relative", "relative-inverse"])
def test_oracle_has_no_error_after_median_scaling(scared, tmp_path, monkeypatch, kind):
    root, gts = scared
    real_create = models.create
    monkeypatch.setattr(
        models, "create", lambda name, **kw: Oracle(gts, kind) if name == "oracle" else real_create(name, **kw)
    )
    out_json, out_csv = tmp_path / "r.json", tmp_path / "r.csv"
    assert main(["eval", str(root), "--model", "oracle", "--model", "baseline-constant",
                 "--json", str(out_json), "--csv", str(out_csv)]) == 0
    report = json.loads(out_json.read_text())
    assert report["frames"] == 2 * N
    oracle = report["models"]["oracle"]
    assert oracle["abs_rel"] == pytest.approx(0, abs=1e-5) and oracle["a1"] == 1.0
    assert oracle["ratio_median"] == pytest.approx(1 / 3, rel=1e-4)
    expected = np.mean([_constant_errors(g) for k in (1, 2) for g in gts[k]])
    assert report["models"]["baseline-constant"]["abs_rel"] == pytest.approx(expected, rel=1e-5)
    assert report["protocol"]["median_scaling"] is True
    rows = _rows(out_csv)
    assert len(rows) == 2 * 2 * N
    assert {(r["dataset"], r["keyframe"], r["index"]) for r in rows} == {
        ("1", str(k), str(i + 1)) for k in (1, 2) for i in range(N)
    }


def test_split_lists_exactly_its_frames_with_one_based_index(scared, tmp_path, capsys):
    root, gts = scared
    split = tmp_path / "test_files.txt"
    split.write_text("dataset1/keyframe2\t3\tl\ndataset1/keyframe1\t1\tl\n")
    out_csv = tmp_path / "r.csv"
    assert main(["eval", str(root), "--model", "baseline-constant", "--split", str(split), "--csv", str(out_csv)]) == 0
    rows = _rows(out_csv)
    assert [(r["keyframe"], r["index"], r["frame"]) for r in rows] == [("2", "3", "2"), ("1", "1", "0")]
    assert float(rows[0]["abs_rel"]) == pytest.approx(_constant_errors(gts[2][2]), rel=1e-5)
    assert float(rows[1]["abs_rel"]) == pytest.approx(_constant_errors(gts[1][0]), rel=1e-5)
    table = capsys.readouterr().out
    assert "baseline-constant" in table and "abs_rel" in table


def test_a_keyframe_alone_and_a_missing_split_keyframe(scared, tmp_path, capsys):
    root, gts = scared
    assert main(["eval", str(root / "dataset_1" / "keyframe_1"), "--model", "baseline-constant"]) == 0
    line = capsys.readouterr().out.splitlines()[1]
    assert float(line.split()[1]) == pytest.approx(np.mean([_constant_errors(g) for g in gts[1]]), abs=1e-4)
    split = tmp_path / "bad.txt"
    split.write_text("dataset3/keyframe1\t1\tl\n")
    assert main(["eval", str(root), "--model", "baseline-constant", "--split", str(split)]) == 2
    assert "dataset3/keyframe1" in capsys.readouterr().err


def test_baselines_answer_as_documented():
    rgb = np.full((32, 40, 3), 64, np.uint8)
    rgb[:, 20:] = 16
    const = models.create("baseline-constant").predict(rgb)
    assert const.kind == "relative" and np.allclose(const.output, 1.0) and const.output.shape == (32, 40)
    shade = models.create("baseline-shading").predict(rgb).output
    # 1/sqrt(luma): a 4x darker region is 2x deeper (away from the blurred boundary)
    assert shade[16, 2] == pytest.approx(np.sqrt(255 / 64), rel=1e-3)
    assert shade[16, 37] / shade[16, 2] == pytest.approx(2.0, rel=1e-3)


def test_plain_layout_without_median_scaling(tmp_path, monkeypatch):
    from endodepth.io.plain import write_plain

    z = _depths(3)
    rgb = np.stack([np.full((H, W, 3), _grey(1, i), np.uint8) for i in range(N)])
    K = np.array([[0.82 * W, 0, W / 2], [0, 1.02 * H, H / 2], [0, 0, 1]])
    write_plain(tmp_path / "plain", rgb, z, K, None, 10.0)
    real_create = models.create
    monkeypatch.setattr(
        models, "create", lambda name, **kw: Oracle({1: z}, "relative") if name == "oracle" else real_create(name, **kw)
    )
    out = tmp_path / "r.json"
    assert main(["eval", str(tmp_path / "plain"), "--model", "oracle", "--no-median-scaling", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["frames"] == N and report["protocol"]["median_scaling"] is False
    # 3 x depth, clamped at 150 mm, compared unscaled: |gt - min(3 gt, 150)| / gt, mean per frame then over frames
    per_frame = []
    for g in z:
        v = g[np.isfinite(g) & (g > 1e-3) & (g < 150)]
        per_frame.append(np.mean(np.abs(v - np.minimum(3 * v, 150)) / v))
    assert report["models"]["oracle"]["abs_rel"] == pytest.approx(np.mean(per_frame), rel=1e-5)
    assert report["models"]["oracle"]["ratio_median"] == 1.0


def test_weights_go_with_a_single_model(tmp_path, capsys):
    weights = tmp_path / "w.safetensors"
    assert main(["eval", str(tmp_path), "--model", "default", "--model", "baseline-constant",
                 "--weights", str(weights)]) == 2
    assert "exactly one --model" in capsys.readouterr().err


def test_checkpoints_sharing_a_file_name_keep_their_own_rows():
    from endodepth.commands.eval import model_labels

    labels = model_labels(["a/default.safetensors", "b/default.safetensors", "baseline-shading", "c/x.pth"])
    assert labels == ["a/default.safetensors", "b/default.safetensors", "baseline-shading", "x"]


class Reference(Oracle):
    """Answers 2 x the ground truth with a confidence of 1 on the left half of the frame, 0 on the right."""

    def predict(self, rgb):
        result = super().predict(rgb)
        confidence = np.zeros(result.output.shape, np.float32)
        confidence[:, : W // 2] = 1.0
        return DepthResult(output=result.output / 1.5, kind=self.kind, confidence=confidence)


def test_a_reference_model_stands_in_for_the_ground_truth_on_its_confident_pixels(scared, tmp_path, monkeypatch):
    root, gts = scared
    real_create = models.create
    fakes = {"oracle": lambda: Oracle(gts, "relative"), "ref": lambda: Reference(gts, "relative")}
    monkeypatch.setattr(models, "create", lambda name, **kw: fakes[name]() if name in fakes else real_create(name, **kw))
    out_json = tmp_path / "r.json"
    assert main(["eval", str(root), "--reference", "ref", "--model", "oracle", "--model", "baseline-constant",
                 "--json", str(out_json)]) == 0
    report = json.loads(out_json.read_text())
    assert report["protocol"]["reference"] == "ref" and report["frames"] == 2 * N
    assert report["models"]["oracle"]["abs_rel"] == pytest.approx(0, abs=1e-5)
    # the constant is judged on the reference's depth (2 x GT, holes filled) on its confident half only
    expected = np.mean([_constant_errors(2 * np.nan_to_num(g, nan=50.0)[:, : W // 2]) for k in (1, 2) for g in gts[k]])
    whole = np.mean([_constant_errors(g) for k in (1, 2) for g in gts[k]])
    assert report["models"]["baseline-constant"]["abs_rel"] == pytest.approx(expected, rel=1e-4)
    assert abs(expected - whole) > 1e-3
