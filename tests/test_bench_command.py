"""`endodepth bench` on a tiny video: the report and its JSON are complete and consistent."""

import json

import cv2
import numpy as np
import pytest

from endodepth import models
from endodepth.cli import main
from endodepth.commands.bench import DEFAULT_MODEL


@pytest.fixture
def tiny_video(tmp_path):
    path = tmp_path / "tiny.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (80, 64))
    yy, xx = np.mgrid[:64, :80]
    for i in range(8):
        img = np.zeros((64, 80, 3), np.uint8)
        img[(yy - 32) ** 2 + (xx - 40) ** 2 < 30**2] = (60 + 10 * i, 80, 160)
        writer.write(img)
    writer.release()
    return path


def test_bench_writes_sane_numbers(tiny_video, tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["bench", str(tiny_video), "--model", "baseline-shading", "--frames", "6", "--warmup", "1",
                 "--max-points", "500", "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    assert r["frames"] == 6 and r["models"] == ["baseline-shading"] and r["device"] == "cpu"
    assert r["size"] == [80, 64]
    for stage in ("decode", "inference", "post"):
        s = r[stage]
        assert 0 < s["p50"] <= s["p95"] <= s["p99"] <= s["max"], stage
        assert s["fps"] == pytest.approx(1e3 / s["mean"])
    assert r["inference"]["models"]["baseline-shading"]["mean"] <= r["inference"]["mean"] + 1e-9
    e2e = r["end_to_end"]
    assert e2e["frames"] == 6 and e2e["fps"] > 0 and e2e["latency_ms"]["p99"] >= e2e["latency_ms"]["p50"] > 0
    live = r["realtime"]
    assert live["frames"] >= 1 and live["frames"] + live["dropped"] == 6 and r["fps"] == pytest.approx(10.0)
    assert r["slowest_stage"] in ("decode", "inference+post")
    assert r["overlap_ratio"] == pytest.approx(e2e["fps"] / r["slowest_stage_fps"])
    assert r["memory"]["peak_rss_mb"] > 10 and "cuda_max_allocated_mb" not in r["memory"]
    text = capsys.readouterr().out
    assert "end-to-end throughput" in text and "x the slowest stage" in text
    assert r["display_width"] == 640 and "display grid at most 640 px" in text  # the window's post-processing
    assert r["thread_budget"].startswith("threads on ") and r["thread_budget"] in text
    assert main(["bench", str(tiny_video), "--model", "baseline-shading", "--frames", "2", "--warmup", "0",
                 "--display-width", "0", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["display_width"] is None
    assert "at the frame's resolution" in capsys.readouterr().out


def test_bench_names_bad_input(tmp_path, capsys):
    assert main(["bench", str(tmp_path / "missing.mp4"), "--model", "baseline-shading"]) == 2
    assert "missing.mp4" in capsys.readouterr().err
    assert main(["bench", str(tmp_path), "--model", "no-such-model"]) == 2
    assert "no-such-model" in capsys.readouterr().err


def test_default_model_is_registered():
    assert DEFAULT_MODEL in models.available()
