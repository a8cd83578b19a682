import json

import cv2
import numpy as np
import pytest
from test_selectivity import numpy_ds, reference_edges

from endodepth.cli import main
from endodepth.io.plain import write_plain

H, W = 64, 80

pytestmark = pytest.mark.usefixtures("one_thread")


def clip(n=5, seed=0):
    """Frames whose brightness falls with depth, and that depth (mm): a tilted plane that moves."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    depths = np.stack([40 + 60 * (xx / W) * (0.6 + 0.1 * i) + 20 * yy / H for i in range(n)]).astype(np.float32)
    shade = np.clip(255 * (1.2 - depths / 120), 0, 255)
    rgb = np.stack([shade, shade * 0.6, shade * 0.5], -1) + rng.normal(0, 4, (n, H, W, 3))
    depths[:, :4, :4] = np.nan  # unknown corners are ignored
    return np.clip(rgb, 0, 255).astype(np.uint8), depths


@pytest.fixture(scope="module")
def plain_clip(tmp_path_factory):
    rgb, depths = clip()
    K = np.array([[0.82 * W, 0, W / 2], [0, 1.02 * H, H / 2], [0, 0, 1]])
    return write_plain(tmp_path_factory.mktemp("plain") / "clip", rgb, depths, K, None, fps=10)


def circle(h=H, w=W):
    """A circular field of view, as endoscopes see."""
    yy, xx = np.mgrid[0:h, 0:w]
    return (yy - h / 2 + 0.5) ** 2 + (xx - w / 2 + 0.5) ** 2 < (0.55 * h) ** 2


@pytest.fixture(scope="module")
def video_clip(tmp_path_factory):
    rgb, _ = clip(4, seed=1)
    rgb[:, ~circle()] = 0
    path = tmp_path_factory.mktemp("video") / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (W, H))
    for frame in rgb:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def recomputed(layer):
    """DS, preferred bins and mean DS from the JSON's R alone (null = unseen bin)."""
    r = np.array([[np.nan if v is None else v for v in row] for row in layer["responses"]])
    ds = numpy_ds(r)
    return ds, np.nanargmax(r, axis=1), ds.mean()


def test_dissects_ground_truth_and_writes_recomputable_json_and_plots(plain_clip, tmp_path, capsys):
    out, plots = tmp_path / "sel.json", tmp_path / "plots"
    layers = ["enc_0", "dec_3"]
    code = main(["selectivity", str(plain_clip), "--model", "meter-xxs", "--layers", *layers, "--bins", "16",
                 "--min-depth", "45", "--max-depth", "110", "--frames", "3", "--device", "cpu",
                 "--json", str(out), "--plots", str(plots)])
    assert code == 0
    captured = capsys.readouterr()
    printed = captured.out
    data = json.loads(out.read_text())
    assert data["depth_source"] == "gt" and data["frames_used"] == 3
    assert data["model"]["random_initialisation"] and "random initialisation" in captured.err
    np.testing.assert_allclose(data["bin_edges"], reference_edges(16, 45.0, 110.0), rtol=1e-12)
    assert list(data["layers"]) == layers
    for name, layer in data["layers"].items():
        ds, preferred, mean = recomputed(layer)
        np.testing.assert_allclose(layer["selectivity"], ds, rtol=1e-6, atol=1e-9)
        np.testing.assert_array_equal(layer["preferred_bin"], preferred)
        assert layer["mean_selectivity"] == pytest.approx(mean)
        assert f"{name}" in printed and f"{mean:.3f}" in printed
        assert len(layer["responses"][0]) == 16
    # 3 frames with 16 unknown pixels each; deeper than 110 mm or shallower than 0 is dropped
    counts = np.array(data["layers"]["enc_0"]["pixel_counts"])
    _, depths = clip()
    z = depths[[0, 2, 4]]
    assert counts.sum() == np.sum(np.isfinite(z) & (z <= 110))
    means = [v["mean_selectivity"] for v in data["layers"].values()]
    assert data["average_selectivity"] == pytest.approx(np.mean(means))
    for layer in layers:
        for kind in ("units", "matrix"):
            png = plots / f"{layer}_{kind}.png"
            assert cv2.imread(str(png)) is not None


def test_without_ground_truth_the_prediction_sets_the_bins(video_clip, tmp_path, capsys):
    out = tmp_path / "sel.json"
    code = main(["selectivity", str(video_clip), "--model", "meter-xxs", "--bins", "8", "--batch", "2",
                 "--analysis-size", "40x32", "--device", "cpu", "--json", str(out)])
    assert code == 0
    data = json.loads(out.read_text())
    assert data["depth_source"] == "prediction" and data["frames_used"] == 4
    assert data["analysis_size"] == [32, 40]
    assert set(data["layers"]) == {"enc_0", "enc_1", "enc_2", "enc_3", "enc_4", "dec_1", "dec_2", "dec_3"}
    inside = cv2.resize(circle().astype(np.uint8), (40, 32), interpolation=cv2.INTER_NEAREST).sum()
    counted = sum(data["layers"]["dec_3"]["pixel_counts"])  # outside the view and past beta (1%) left out
    assert 0.95 * 4 * inside < counted <= 4 * inside
    assert "average" in capsys.readouterr().out


def test_bad_requests_are_one_line_errors(plain_clip, video_clip, capsys):
    assert main(["selectivity", str(plain_clip), "--model", "meter-xxs", "--layers", "nope", "--device", "cpu"]) == 2
    assert "no layer nope" in capsys.readouterr().err
    assert main(["selectivity", str(video_clip), "--model", "meter-xxs", "--depth", "gt", "--device", "cpu"]) == 2
    assert "no ground-truth depth" in capsys.readouterr().err
    assert main(["selectivity", str(plain_clip), "--model", "no-such-model"]) == 2
    assert "unknown model 'no-such-model'" in capsys.readouterr().err
    assert main(["selectivity", str(plain_clip), "--model", "meter-xxs", "--min-depth", "90", "--max-depth", "50",
                 "--device", "cpu"]) == 2
    assert "min depth < max depth" in capsys.readouterr().err


def test_the_viewer_dock_shows_the_numbers_of_the_command(video_clip, tmp_path):
    """Same clip, model weights, bins, spacing and analysis size: the window's live selectivity (the
    dock's snapshot) equals `endodepth selectivity --batch 1` (the bin range from the first frame)."""
    import torch

    from endodepth import models
    from endodepth.io.detect import open_source
    from endodepth.pipeline.live_selectivity import ANALYSIS_SIZE, BINS, SPACING, LiveSelectivity
    from endodepth.pipeline.processing import Pipeline, PostOptions
    from endodepth.pipeline.views import scales_to_mm

    layer, out = "enc_2", tmp_path / "sel.json"
    torch.manual_seed(7)  # the same random weights in the command and here
    assert main(["selectivity", str(video_clip), "--model", "meter-xxs", "--layers", layer, "--bins", str(BINS),
                 "--spacing", SPACING, "--analysis-size", f"{ANALYSIS_SIZE[1]}x{ANALYSIS_SIZE[0]}", "--batch", "1",
                 "--device", "cpu", "--json", str(out)]) == 0
    command = json.loads(out.read_text())
    torch.manual_seed(7)
    model = models.create("meter-xxs", device="cpu")
    live = LiveSelectivity()
    live.set_layer(layer)
    with open_source(video_clip) as source:
        pipeline = Pipeline(source, [model], layers=[layer], post=PostOptions(max_points=None))
        for i in range(len(source)):
            result = pipeline.process(i)
            snap = live.update(result, model.name, scales_to_mm(result).get(model.name))
    assert snap.frames == command["frames_used"] == 4
    np.testing.assert_allclose(snap.bin_edges, command["bin_edges"], rtol=1e-12)
    np.testing.assert_allclose(snap.selectivity, command["layers"][layer]["selectivity"], rtol=1e-5, atol=1e-7)
    assert snap.mean == pytest.approx(command["layers"][layer]["mean_selectivity"], rel=1e-5)
