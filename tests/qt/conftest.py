"""Qt fixtures: isolated QSettings, small synthetic inputs (image folder, SCARED keyframe), a main window."""

from __future__ import annotations

import os

import cv2
import numpy as np
import pytest

if not os.environ.get("DISPLAY"):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6 import QtCore

# As endodepth-gui does: one GL context group, so shaders survive new windows (and floating docks).
QtCore.QCoreApplication.setAttribute(QtCore.Qt.ApplicationAttribute.AA_ShareOpenGLContexts)

WIDTH, HEIGHT = 80, 64


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path, monkeypatch):
    """QSettings of the app go to a temp folder, never to the user's config."""
    for fmt in (QtCore.QSettings.Format.NativeFormat, QtCore.QSettings.Format.IniFormat):
        QtCore.QSettings.setPath(fmt, QtCore.QSettings.Scope.UserScope, str(tmp_path / "config"))


def gradient_frames(count: int) -> np.ndarray:
    """(count, H, W, 3) uint8 frames: a bright blob that moves, inside a dark circular border."""
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    frames = []
    for i in range(count):
        r = np.hypot(xx - WIDTH / 2 - 3 * i, yy - HEIGHT / 2)
        b = np.clip(40 + 200 * np.exp(-(r / 30) ** 2), 0, 255)
        img = np.stack([b, b * 0.5, b * 0.4], -1)
        img[np.hypot(xx - WIDTH / 2, yy - HEIGHT / 2) > 36] = 0
        frames.append(img.astype(np.uint8))
    return np.stack(frames)


@pytest.fixture
def image_folder(tmp_path):
    """A folder of 8 PNG frames."""
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, rgb in enumerate(gradient_frames(8)):
        cv2.imwrite(str(folder / f"{i:04d}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return folder


@pytest.fixture(scope="session")
def scared_keyframe(tmp_path_factory):
    """A small synthetic SCARED keyframe (6 frames 80x64, ground truth and poses), written once."""
    from endodepth.io.scared import write_keyframe
    from endodepth.synth.render import render_sequence

    seq = render_sequence(6, WIDTH, HEIGHT, seed=5, scene="tube", stereo=True)
    folder = tmp_path_factory.mktemp("scared") / "dataset_1" / "keyframe_1"
    write_keyframe(folder, seq.rgb, seq.right_rgb, seq.xyz, seq.right_xyz, seq.poses, seq.calibration(), seq.fps)
    return folder


@pytest.fixture
def window(qtbot):
    """The main window with its own settings file; threads stopped at the end."""
    from endodepth.qt.main_window import MainWindow
    from endodepth.qt.settings import settings

    store = settings()
    store.clear()
    win = MainWindow(store)
    win.quiet = True
    qtbot.addWidget(win)
    win.resize(1200, 800)
    win.show()
    yield win
    win.shutdown()


@pytest.fixture
def wait_frame(qtbot):
    """wait_frame(win, index, model=None): until the window has drawn frame `index` (of `model`)."""

    def wait(win, index: int, model: str | None = None, timeout: int = 30000):
        def drawn():
            u = win.last_update
            assert u is not None and u.result.index == index and u.generation == win.generation
            assert model is None or u.primary == model

        qtbot.waitUntil(drawn, timeout=timeout)
        return win.last_update

    return wait


@pytest.fixture(scope="session")
def stereo_video(tmp_path_factory):
    """A stacked stereo video (3 frames, views 240x192, textured surface) with its calibration beside it,
    and no ground truth."""
    from endodepth.io.calibration import write_calibration
    from endodepth.io.video import write_video
    from endodepth.synth import HELDOUT_SEED_START, render_sequence

    seq = render_sequence(3, 240, 192, HELDOUT_SEED_START + 701, scene="surface", stereo=True)
    folder = tmp_path_factory.mktemp("stereo-video")
    video = write_video(folder / "pair.mp4", np.concatenate([seq.rgb, seq.right_rgb], axis=1), seq.fps)
    write_calibration(folder / "endoscope_calibration.yaml", seq.calibration())
    return video


@pytest.fixture(scope="session")
def mono_video(tmp_path_factory):
    """A plain mono video with a long name (8 frames, no calibration, no ground truth)."""
    from endodepth.io.video import write_video

    folder = tmp_path_factory.mktemp("mono-video")
    return write_video(folder / "laparoscopic_cholecystectomy_case_0123.mp4", gradient_frames(8), 25.0)
