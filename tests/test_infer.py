import json

import cv2
import numpy as np
import pytest
import torch

from endodepth.cli import main
from endodepth.models import create
from endodepth.models.checkpoint import save_checkpoint
from endodepth.models.depth_anything import DepthAnythingV2


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A small Depth Anything (network short side 70) with an output that varies."""
    torch.manual_seed(0)
    model = create("depth-anything-v2-vits", short_side=70)
    with torch.no_grad():
        model.depth_head.scratch.output_conv2[2].bias.fill_(1.0)
    return save_checkpoint(model.state_dict(), tmp_path_factory.mktemp("ckpt") / "small.safetensors", model.name, model.options)


def _image(seed: int, h: int = 48, w: int = 64) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_image_writes_raw_output_at_image_size(checkpoint, tmp_path, capsys):
    rgb = _image(0)
    cv2.imwrite(str(tmp_path / "frame.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert main(["infer", str(tmp_path / "frame.png"), "--model", str(checkpoint), "--device", "cpu"]) == 0
    written = np.load(tmp_path / "frame_depth" / "frame.npy")
    expected = create(checkpoint).predict(rgb).output
    assert written.shape == (48, 64) and written.dtype == np.float32
    np.testing.assert_allclose(written, expected, atol=1e-6)
    assert "relative-inverse" in capsys.readouterr().out


def test_folder_to_npz_keeps_names(checkpoint, tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i, name in enumerate(("a2", "a10")):
        cv2.imwrite(str(folder / f"{name}.png"), _image(i))
    out = tmp_path / "out"
    assert main(["infer", str(folder), "--model", str(checkpoint), "--format", "npz", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["a10.npz", "a2.npz"]
    with np.load(out / "a2.npz") as z:
        assert z["depth"].shape == (48, 64) and str(z["kind"]) == "relative-inverse" and z["K"].shape == (3, 3)


def test_video_to_png16_one_file_per_frame(checkpoint, tmp_path):
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    for i in range(3):
        writer.write(_image(i))
    writer.release()
    out = tmp_path / "out"
    assert main(["infer", str(video), "--model", str(checkpoint), "--format", "png16", "--out", str(out)]) == 0
    pngs = sorted(out.glob("*.png"))
    assert [p.name for p in pngs] == ["000000.png", "000001.png", "000002.png"]
    assert cv2.imread(str(pngs[0]), cv2.IMREAD_UNCHANGED).dtype == np.uint16
    assert json.loads((out / "000000.json").read_text())["kind"] == "relative-inverse"


def test_bad_model_and_missing_input_are_one_line_errors(checkpoint, tmp_path, capsys):
    cv2.imwrite(str(tmp_path / "x.png"), _image(0))
    assert main(["infer", str(tmp_path / "x.png"), "--model", "no-such-model"]) == 2
    assert "unknown model 'no-such-model'" in capsys.readouterr().err
    assert main(["infer", str(tmp_path / "absent.png"), "--model", str(checkpoint)]) == 2
    assert "absent.png: no such file" in capsys.readouterr().err


def test_untrained_model_is_announced_and_a_checkpoint_is_not(checkpoint, tmp_path, capsys):
    cv2.imwrite(str(tmp_path / "x.png"), _image(0))
    assert main(["infer", str(tmp_path / "x.png"), "--model", "meter-xxs", "--out", str(tmp_path / "a")]) == 0
    err = capsys.readouterr().err
    assert "warning: meter-xxs has no trained weights (pass --weights FILE)" in err
    assert main(["infer", str(tmp_path / "x.png"), "--model", str(checkpoint), "--out", str(tmp_path / "b")]) == 0
    assert main(["infer", str(tmp_path / "x.png"), "--model", "baseline-shading", "--out", str(tmp_path / "c")]) == 0
    assert "warning" not in capsys.readouterr().err


def test_bundled_weights_silence_the_warning(tmp_path, monkeypatch):
    from endodepth.commands.infer import untrained_warning
    from endodepth.models import registry

    model = create("default")
    monkeypatch.setattr(registry, "WEIGHTS_DIR", tmp_path)
    assert "models/weights/default.safetensors is missing" in untrained_warning("default", None)
    save_checkpoint(model.state_dict(), tmp_path / "default.safetensors", "default")
    assert untrained_warning("default", None) is None


def test_out_that_is_a_file_is_one_line_error(tmp_path, capsys):
    cv2.imwrite(str(tmp_path / "x.png"), _image(0))
    (tmp_path / "taken").write_text("x")
    assert main(["infer", str(tmp_path / "x.png"), "--model", "baseline-shading", "--out", str(tmp_path / "taken")]) == 2
    assert capsys.readouterr().err == (
        f"endodepth infer: error: {tmp_path / 'taken'}: exists and is not a folder (--out names the output folder)\n"
    )


def test_dotted_image_names_keep_their_own_outputs(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in (1, 2):
        cv2.imwrite(str(folder / f"frame.00{i}.png"), _image(i))
    out = tmp_path / "out"
    assert main(["infer", str(folder), "--model", "baseline-shading", "--format", "png16", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["frame.001.json", "frame.001.png", "frame.002.json", "frame.002.png"]


def test_video_renders_each_frame_beside_its_depth(checkpoint, tmp_path, capsys):
    folder = tmp_path / "imgs"
    folder.mkdir()
    frames = [np.full((48, 64, 3), 40 * (i + 1), np.uint8) for i in range(3)]
    for i, rgb in enumerate(frames):
        cv2.imwrite(str(folder / f"{i}.png"), rgb)
    out = tmp_path / "v" / "depth.mp4"
    assert main(["infer", str(folder), "--model", str(checkpoint), "--device", "cpu", "--video", str(out)]) == 0
    assert f"wrote the video {out}" in capsys.readouterr().out
    video = cv2.VideoCapture(str(out))
    assert int(video.get(cv2.CAP_PROP_FRAME_COUNT)) == 3
    shown = [video.read()[1] for _ in range(3)]
    video.release()
    for rgb, picture in zip(frames, shown):
        assert picture.shape == (48, 128, 3)
        assert np.abs(picture[:, :64].astype(int) - rgb).mean() < 6  # the frame itself (lossy mp4v)
    assert np.abs(shown[0][:, 64:].astype(int) - frames[0]).mean() > 20  # beside it: its colorized depth


def test_video_runs_the_model_once_per_frame_and_writes_the_same_depth(checkpoint, tmp_path, monkeypatch):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(3):
        cv2.imwrite(str(folder / f"{i}.png"), _image(i))
    assert main(["infer", str(folder), "--model", str(checkpoint), "--device", "cpu", "--out", str(tmp_path / "a")]) == 0
    calls = []
    predict_batch = DepthAnythingV2.predict_batch
    monkeypatch.setattr(DepthAnythingV2, "predict_batch", lambda self, *a, **k: calls.append(1) or predict_batch(self, *a, **k))
    assert main(["infer", str(folder), "--model", str(checkpoint), "--device", "cpu", "--out", str(tmp_path / "b"),
                 "--video", str(tmp_path / "v.mp4")]) == 0
    assert len(calls) == 3
    for i in range(3):
        np.testing.assert_array_equal(np.load(tmp_path / "a" / f"{i}.npy"), np.load(tmp_path / "b" / f"{i}.npy"))
