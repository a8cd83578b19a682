"""Bad input a new user runs into: each ends in one line (or a warning) that names the file, never a traceback."""

import json
import struct
import zlib

import cv2
import numpy as np
import pytest
from io_fixtures import replace_tar_member

from endodepth.cli import main
from endodepth.io.keyframes import ScaredKeyframeSource


def bomb_png(path, width=60000, height=60000):
    """A valid PNG header claiming width x height 8-bit RGB pixels, with one tiny compressed row."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))
    return path


@pytest.mark.parametrize("command", ["info", "infer"])
def test_decompression_bomb_png_is_one_line(tmp_path, capsys, command):
    path = bomb_png(tmp_path / "huge.png")
    extra = ["--model", "baseline-shading", "--device", "cpu"] if command == "infer" else []
    assert main([command, str(path), *extra]) == 2
    err = capsys.readouterr().err
    assert err == (f"endodepth {command}: error: {path}: header claims 3,600,000,000 pixels, more than the 134 M "
                   "pixels accepted (damaged, or a decompression bomb?)\n")


def _rewrite_frame_data(folder, member: str, data: bytes) -> None:
    replace_tar_member(folder / "data" / "frame_data.tar.gz", member, data)


def test_malformed_frame_data_warns_and_goes_on_without_poses(keyframe):
    _rewrite_frame_data(keyframe.folder, "frame_data000000.json", b'{"camera-pose": [[1, 0, 0, 0], ')
    with ScaredKeyframeSource(keyframe.folder) as source:
        with pytest.warns(UserWarning, match="frame_data000000.json: no valid 'camera-pose'.*without camera poses"):
            first = source.frame(0)
        assert first.pose is None and first.gt_depth is not None
        assert source.frame(1).pose is None  # said once, then no poses for this keyframe


def test_eval_on_a_keyframe_with_malformed_frame_data_evaluates(keyframe, capsys, tmp_path):
    _rewrite_frame_data(keyframe.folder, "frame_data000000.json", json.dumps({"camera-pose": [[1, 2]]}).encode())
    out = tmp_path / "eval.json"
    assert main(["eval", str(keyframe.folder), "--model", "baseline-constant", "--device", "cpu",
                 "--json", str(out)]) == 0
    err = capsys.readouterr().err
    assert "endodepth eval: warning: " in err and "'camera-pose' must be 4x4, found 1x2" in err
    assert "Traceback" not in err
    assert json.loads(out.read_text())["frames"] == 4


def test_infer_skips_an_unreadable_image_and_keeps_the_others(tmp_path, capsys):
    folder = tmp_path / "frames"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in (1, 3):
        cv2.imwrite(str(folder / f"{i:04d}.png"), rng.integers(0, 255, (24, 32, 3), np.uint8))
    (folder / "0002.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    out = tmp_path / "depth"
    assert main(["infer", str(folder), "--model", "baseline-shading", "--device", "cpu", "--out", str(out)]) == 1
    captured = capsys.readouterr()
    assert sorted(p.name for p in out.iterdir()) == ["0001.npy", "0003.npy"]
    assert f"endodepth infer: warning: {folder / '0002.png'}: cannot be read as an image" in captured.err
    assert "endodepth infer: 1 of 3 frame(s) could not be read and were skipped" in captured.err
    assert "Traceback" not in captured.err and "wrote 2 npy file(s)" in captured.out


def test_image_just_over_the_limit_is_refused_by_its_header(tmp_path):
    """Below PIL's own refusal, our limit still reads the claimed size from the header."""
    from endodepth.errors import InputError
    from endodepth.io.source import rgb_image

    path = bomb_png(tmp_path / "big.png", 12000, 12000)  # 144 M pixels > 134 M
    with pytest.raises(InputError, match=r"big.png: header claims 12000x12000 pixels"):
        rgb_image(path)
