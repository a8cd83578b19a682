"""A scripted run (`endodepth-gui FILE --quit-after N`, or `--screenshot`) that can show nothing ends at once with one
line on stderr and status 2: no hang, no traceback, no crash at teardown."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from endodepth.qt.app import run_app


def test_unopenable_file_exits_2_with_one_line(tmp_path):
    bad = tmp_path / "clip.mp4"
    bad.write_bytes(b"not a video at all")
    gui = Path(sys.executable).with_name("endodepth-gui")
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config"), "ENDODEPTH_CACHE": str(tmp_path / "cache")}
    done = subprocess.run([str(gui), str(bad), "--quit-after", "3"], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 2, done.stderr  # a segfault at teardown would be -11
    assert done.stderr.strip().splitlines() == [
        f"endodepth-gui: error: {bad}: cannot be opened as a video (not a video, or truncated/damaged)"
    ]


@pytest.mark.parametrize("option", ["--quit-after", "--screenshot"])
def test_missing_file_ends_the_run(qtbot, tmp_path, capsys, option):
    missing = tmp_path / "absent.mp4"
    value = "3" if option == "--quit-after" else str(tmp_path / "shot.png")
    assert run_app([str(missing), option, value]) == 2
    assert capsys.readouterr().err.strip() == f"endodepth-gui: error: {missing}: no such file or folder"
    assert not (tmp_path / "shot.png").exists()
