"""Real-time viewing: ground truth read aside never holds the display back, the status bar says
while it is read and what the thread budget is, and the ground-truth cache can be cleared."""

from __future__ import annotations

import threading

import numpy as np

from endodepth.analysis.comparison import GT
from endodepth.io.keyframes import ScaredKeyframeSource
from endodepth.threads import ensure_applied

SHADING = "baseline-shading"
CONSTANT = "baseline-constant"


def test_ground_truth_fills_in_after_the_frame_is_shown(window, wait_frame, scared_keyframe, qtbot, monkeypatch):
    gate = threading.Event()
    read = ScaredKeyframeSource.ground_truth

    def slow(self, i):  # a cold scene_points archive: nothing until the test lets it through
        assert gate.wait(30)
        return read(self, i)

    monkeypatch.setattr(ScaredKeyframeSource, "ground_truth", slow)
    window.worker.state.set_compared([SHADING, CONSTANT])
    window.set_models([SHADING], "cpu")
    window.open_path(scared_keyframe)
    first = wait_frame(window, 0, SHADING)
    assert first.gt_pending and first.result.frame.gt_depth is None
    assert first.comparison is None and first.view.unit == "relative"
    np.testing.assert_array_equal(window.image_view.depth_item.image, first.view.colors)  # drawn meanwhile
    window._update_stats()
    assert window.labels.ground_truth.text().startswith("ground truth: reading")
    budget = ensure_applied()
    assert window.labels.threads.text() == budget.short() and window.labels.threads.toolTip() == budget.describe()
    gate.set()
    qtbot.waitUntil(lambda: window.last_update is not first and window.comparison_view.snapshot is not None,
                    timeout=30000)
    update = window.last_update
    assert update.result.index == 0 and not update.gt_pending and update.view.unit == "mm"
    assert window.comparison_view.snapshot.reference == GT and 0 in window.comparison_view.history[SHADING]
    assert window.image_view.colorbar.getAxis("left").labelText == "depth [mm]"
    qtbot.waitUntil(lambda: (window._update_stats(), window.labels.ground_truth.text() == "")[1], timeout=10000)


def test_frames_shown_before_their_ground_truth_are_analysed_when_it_arrives(window, wait_frame, scared_keyframe,
                                                                           qtbot):
    window.worker.state.set_compared([SHADING, CONSTANT])
    window.set_models([SHADING], "cpu")
    window.open_path(scared_keyframe)
    wait_frame(window, 0, SHADING)
    qtbot.waitUntil(lambda: 0 in window.comparison_view.history.get(SHADING, {}), timeout=30000)
    window.transport.loop_box.setChecked(True)
    window.play(True)
    qtbot.waitUntil(lambda: len(window.comparison_view.history.get(SHADING, {})) >= 4, timeout=60000)
    window.play(False)
    history = window.comparison_view.history[SHADING]
    assert all(np.isfinite(row["abs_rel"]) for row in history.values())


def test_clear_ground_truth_cache_action(window, tmp_path, monkeypatch):
    monkeypatch.setenv("ENDODEPTH_CACHE", str(tmp_path / "cache"))
    entry = tmp_path / "cache" / "gt" / "k" / "scene_points000000.npy"
    entry.parent.mkdir(parents=True)
    np.save(entry, np.zeros((64, 80), np.float32))
    action = next(a for menu in window.menuBar().actions() for a in menu.menu().actions()
                  if a.text() == "Clear ground-truth cache")
    action.trigger()
    assert not entry.exists()
    assert window.labels.notice.text().startswith("ground-truth cache cleared: 0.0 MB freed")


def test_the_reconstruction_dock_fuses_the_frame_resolution_depth(window, wait_frame, scared_keyframe, qtbot):
    window.set_models([SHADING], "cpu")
    window.open_path(scared_keyframe)
    update = wait_frame(window, 0, SHADING)
    qtbot.waitUntil(lambda: not window.last_update.gt_pending, timeout=30000)
    update = window.last_update
    assert update.result.results[SHADING].output.shape != update.result.frame.rgb.shape[:2]  # the network's size
    view = window.reconstruction_view
    view.start_button.setChecked(True)
    view.offer_update(update)
    qtbot.waitUntil(lambda: view.live.reconstruction.counts.fused == 1, timeout=30000)
    assert view.live.error is None
    view.start_button.setChecked(False)
