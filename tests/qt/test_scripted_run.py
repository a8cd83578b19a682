"""A scripted run (`endodepth-gui FILE --quit-after N`, or `--screenshot`) that can show nothing ends at
once with one line on stderr and status 2: no hang, no traceback, no crash at teardown. Run as the
user runs it, in its own process (a crash at exit shows as a negative status)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest


def _run_gui(tmp_path, *args) -> subprocess.CompletedProcess:
    gui = Path(sys.executable).with_name("endodepth-gui")
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config"), "ENDODEPTH_CACHE": str(tmp_path / "cache")}
    return subprocess.run([str(gui), *map(str, args)], env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("damaged", [False, True], ids=["missing", "damaged"])
def test_unopenable_file_exits_2_with_one_line(tmp_path, damaged):
    path = tmp_path / "clip.mp4"
    if damaged:
        path.write_bytes(b"not a video at all")
        args, problem = ("--quit-after", 3), "cannot be opened as a video (not a video, or truncated/damaged)"
    else:
        args, problem = ("--screenshot", tmp_path / "shot.png"), "no such file or folder"
    done = _run_gui(tmp_path, path, *args)
    assert done.returncode == 2, done.stderr  # a segfault at teardown would be -11
    assert done.stderr.strip().splitlines() == [f"endodepth-gui: error: {path}: {problem}"]
    assert not (tmp_path / "shot.png").exists()
