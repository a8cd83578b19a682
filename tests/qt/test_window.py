"""The window on real inputs: what each view holds after open, step, seek, play and model switches."""

from __future__ import annotations

import math
import threading
import weakref

import numpy as np
import pytest
from PySide6 import QtCore, QtWidgets

from endodepth.analysis.depth import as_depth
from endodepth.io.detect import open_source
from endodepth.vis.backproject import pixel_to_point
from endodepth.vis.colormap import colorize

WIDTH, HEIGHT = 80, 64  # conftest's frames

SHADING = "baseline-shading"
CONSTANT = "baseline-constant"


def test_open_shows_frame_colorized_depth_and_strided_cloud(window, qtbot, wait_frame, image_folder):
    window.set_models([SHADING], "cpu")
    window.open_path(image_folder)
    update = wait_frame(window, 0, SHADING)
    result = update.result
    expected_rgb = open_source(image_folder).frame(0).rgb
    np.testing.assert_array_equal(window.image_view.image_item.image, expected_rgb)

    assert result.step == 1  # an 80-pixel frame is its own display grid
    depth = as_depth(result.full_output(SHADING), result.results[SHADING].kind)
    valid = result.valid & np.isfinite(depth) & (depth > 0)
    lo, hi = np.percentile(depth[valid], (1, 99))  # the default policy: running range of 1-99 % percentiles
    assert result.ranges[SHADING] == pytest.approx((lo, hi))
    np.testing.assert_array_equal(window.image_view.depth_item.image, colorize(depth, "turbo", lo, hi, invalid=~valid))
    assert window.image_view.colorbar.getAxis("left").labelText == "depth [relative]"

    stride = math.ceil(math.sqrt(WIDTH * HEIGHT / window.cloud_view.budget_box.value()))
    expected = int(valid[::stride, ::stride].sum())
    assert window.cloud_view.stride == stride
    assert len(window.cloud_view.points) == expected == len(window.cloud_view.scatter.pos)


def test_a_smaller_point_budget_strides_the_cloud(window, qtbot, wait_frame, image_folder):
    window.set_models([SHADING], "cpu")
    window.open_path(image_folder)
    wait_frame(window, 0, SHADING)
    window.cloud_view.budget_box.setValue(1000)  # 80*64 pixels -> stride 3
    qtbot.waitUntil(lambda: window.cloud_view.stride == 3 and window.last_update.result.clouds[SHADING][0].shape[0]
                    == len(window.cloud_view.points), timeout=20000)
    valid = window.last_update.result.valid & np.isfinite(window.last_update.result.depth[SHADING])
    assert len(window.cloud_view.points) == int(valid[::3, ::3].sum())


def test_keys_step_jump_and_seek(window, qtbot, wait_frame, image_folder):
    window.set_models([SHADING], "cpu")
    window.open_path(image_folder)
    wait_frame(window, 0)
    for keys, expected in ((("Right",), 1), (("Right",), 2), (("Left",), 1), (("Shift+Right",), 7),
                           (("Home",), 0), (("End",), 7), (("Shift+Left",), 0)):
        for key in keys:
            _press(window, qtbot, key)
        wait_frame(window, expected)
        assert window.transport.position == expected
    window.transport.slider.setValue(5)  # scrubbing shows the frame under the slider
    wait_frame(window, 5)
    assert "frame 5 / 7" in window.transport.position_label.text()


def test_every_frame_playback_reaches_each_frame_and_stops(window, qtbot, wait_frame, image_folder):
    window.set_models([SHADING], "cpu")
    window.open_path(image_folder)
    wait_frame(window, 0)
    delivered = []
    window.worker.result.connect(lambda u: delivered.append(u.result.index), QtCore.Qt.ConnectionType.DirectConnection)
    window.transport.every_frame_box.setChecked(True)
    window.transport.change_speed(+2)  # 4x
    _press(window, qtbot, "Space")
    qtbot.waitUntil(lambda: not window.worker.playing and delivered and delivered[-1] == 7, timeout=30000)
    assert delivered == list(range(1, 8))
    wait_frame(window, 7)
    assert not window.transport.play_button.isChecked()


def test_switching_model_while_playing_never_draws_the_old_model(window, qtbot, wait_frame, image_folder):
    window.set_models([SHADING], "cpu")
    window.open_path(image_folder)
    wait_frame(window, 0)
    window.transport.loop_box.setChecked(True)
    window.play(True)
    qtbot.waitUntil(lambda: window.shown >= 4, timeout=20000)
    drawn = []
    window.frame_shown.connect(lambda _i: drawn.append((window.last_update.primary, window.last_update.generation)))
    window.model_bar.model_box.setCurrentText(CONSTANT)
    qtbot.waitUntil(lambda: any(p == CONSTANT for p, _ in drawn), timeout=30000)
    new_generation = window.generation
    qtbot.waitUntil(lambda: len(drawn) >= 3 and drawn[-1][0] == CONSTANT, timeout=20000)
    first_new = next(i for i, (p, _) in enumerate(drawn) if p == CONSTANT)
    assert all(p == CONSTANT and g == new_generation for p, g in drawn[first_new:])
    assert all(p == SHADING for p, _ in drawn[:first_new])
    window.play(False)
    # the constant model's depth is 1 everywhere: the hover readout gives that depth and its 3D point
    window.image_view._report(10, 20)
    K = window.last_update.result.frame.K
    x, y, z = pixel_to_point(10, 20, 1.0, K)
    assert "depth 1 relative" in window.image_view.readout.text()
    assert f"({x:.4g}, {y:.4g}, {z:.4g})" in window.image_view.readout.text()


def test_open_errors_are_reported_and_the_app_keeps_running(window, qtbot, wait_frame, image_folder, tmp_path):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    window.set_models([SHADING], "cpu")
    window.open_path(broken)
    qtbot.waitUntil(lambda: "broken.mp4" in window.labels.notice.text(), timeout=20000)
    window.open_path(image_folder)
    wait_frame(window, 0)


def _press(window, qtbot, key: str) -> None:
    """Trigger the window action bound to `key` (as a key press does)."""
    from PySide6 import QtGui

    sequence = QtGui.QKeySequence(key)
    for action in window.findChildren(QtGui.QAction):
        if sequence in action.shortcuts():
            action.trigger()
            return
    raise AssertionError(f"no action for {key}")


def test_preferences_persist_across_windows(qtbot):
    from endodepth.qt.main_window import MainWindow
    from endodepth.qt.settings import settings

    first = MainWindow(settings())
    qtbot.addWidget(first)
    first.image_view.ranges.colormap_box.setCurrentText("magma")
    first.image_view.ranges.policy_box.setCurrentText("fixed")
    first.image_view.ranges.hi_box.setValue(150.0)
    first.cloud_view.budget_box.setValue(20_000)
    first.docks["selectivity"].hide()
    first.close()
    second = MainWindow(settings())
    qtbot.addWidget(second)
    options = second.image_view.options()
    assert options["colormap"] == "magma" and options["range"] == "fixed" and options["fixed"][1] == 150.0
    assert second.cloud_view.budget_box.value() == 20_000
    second.show()
    assert not second.docks["selectivity"].isVisible() and second.docks["cloud"].isVisible()
    assert second.worker.state.post.colormap == "magma"  # the restored choice reaches the worker
    second.shutdown()


def test_help_lists_the_window_shortcuts(window):
    from PySide6 import QtGui

    from endodepth.qt.help_dialog import KEYS, SHORTCUTS, HelpDialog

    dialog = HelpDialog(window)
    table = dialog.findChild(QtWidgets.QTableWidget)
    assert table.rowCount() == len(SHORTCUTS)
    listed = {key for row in range(table.rowCount()) for key in table.item(row, 0).text().split(" / ")
              if ":" not in table.item(row, 0).text()}  # the pointer rows ("3D view: drag") bind no key
    bound = {s.toString() for a in window.findChildren(QtGui.QAction) for s in a.shortcuts()}
    assert listed == bound == {k for keys, _ in KEYS.values() for k in keys}
    for key in ("Space", "Left", "Right", "Shift+Left", "Shift+Right", "Home", "End", "+", "-", "F1", "Ctrl+O", "Ctrl+E"):
        assert key in bound


def test_mc_dropout_samples_reach_the_models(window, qtbot, wait_frame, image_folder):
    window.set_models([SHADING], "cpu")
    window.open_path(image_folder)
    wait_frame(window, 0, SHADING)
    window.model_bar.mc_box.setValue(4)
    assert window.worker.model(SHADING).mc_samples == 4
    window.set_models([CONSTANT], "cpu")
    wait_frame(window, 0, CONSTANT)
    assert window.worker.model(CONSTANT).mc_samples == 4
    # these models have no dropout: no uncertainty, so the overlay stays unavailable
    assert window.last_update.result.results[CONSTANT].uncertainty is None
    assert not window.image_view.uncertainty_box.isEnabled()


def test_garbage_is_collected_on_the_gui_thread_while_a_window_is_open(qtbot):
    """A cycle holding a Qt object, collected on a worker thread, crashes Qt: while a window is open,
    Python's automatic collection is off and a GUI-thread timer collects; closing gives it back."""
    import gc

    from endodepth.qt.main_window import MainWindow
    from endodepth.qt.settings import settings

    win = MainWindow(settings())
    win.quiet = True
    try:
        assert not gc.isenabled()

        class Cycle:
            pass

        cycle = Cycle()
        cycle.me = cycle
        threads = []
        ref = weakref.ref(cycle, lambda _ref: threads.append(threading.current_thread()))
        del cycle
        alive = [Cycle() for _ in range(2 * gc.get_threshold()[0])]  # past the count the timer looks at
        qtbot.waitUntil(lambda: ref() is None, timeout=5000)
        assert threads == [threading.main_thread()] and alive
    finally:
        win.shutdown()
        win.shutdown()  # closing twice (shutdown, then closeEvent) gives collection back once
    assert gc.isenabled()


def test_untrained_models_say_so_and_the_router_shows_its_head(window, qtbot, wait_frame, image_folder):
    router = "metric-bins-router"
    window.set_models([router], "cpu")
    window.open_path(image_folder)
    update = wait_frame(window, 0, router, timeout=60000)
    route = update.result.results[router].route
    label = window.image_view.route_label
    assert route is not None and label.isVisibleTo(window) and label.text().startswith(f"metric head: {route.head}")
    assert all(f"{name} {p:.2f}" in label.text() for name, p in route.probabilities.items())
    box = window.model_bar.model_box
    assert box.currentText() == router and box.currentData() == router  # trained: no label
    box.setCurrentIndex(box.findData("meter-xxs"))
    qtbot.waitUntil(lambda: window.worker.state.primary == "meter-xxs", timeout=20000)
    assert box.currentText() == "meter-xxs (untrained)" and "meter-xxs is untrained" in window.labels.notice.text()
    items = window.comparison_view.model_list
    texts = {items.item(i).data(QtCore.Qt.ItemDataRole.UserRole): items.item(i).text() for i in range(items.count())}
    assert texts["endodac"] == "endodac (untrained)" and texts[router] == router and texts[SHADING] == SHADING
    assert items.wordWrap() and items.textElideMode() == QtCore.Qt.TextElideMode.ElideNone  # long names wrap


def test_a_checkpoint_as_the_main_model_stays_shown_after_the_file_opens(window, wait_frame, image_folder, tmp_path):
    from endodepth.models import create
    from endodepth.models.checkpoint import save_checkpoint

    model = create("meter-xxs")
    path = str(save_checkpoint(model.state_dict(), tmp_path / "mine.safetensors", model.name, model.options))
    window.set_models([path], "cpu")
    window.open_path(image_folder)
    wait_frame(window, 0, path, timeout=60000)
    assert window.model_bar.current_model() == path  # not the list's first entry


@pytest.mark.parametrize("source, phrase", [("mono_video", ", K assumed (default FOV)"),
                                            ("scared_keyframe", ", ground truth, calibrated K")])
def test_the_status_bar_shows_the_whole_source_line_at_1600_wide(window, qtbot, wait_frame, request, source,
                                                                 phrase):
    path = request.getfixturevalue(source)
    window.resize(1600, 1000)
    window.set_models([SHADING], "cpu")
    window.open_path(path)
    wait_frame(window, 0, SHADING)
    window._update_stats()  # the live numbers take their width
    QtWidgets.QApplication.processEvents()
    label = window.labels.source
    # the status bar lays its labels out in later events: wait for the line to settle
    qtbot.waitUntil(lambda: label.text().endswith(phrase), timeout=5000)
    text = label.text()
    assert label.isVisible() and text.startswith(f"{window.info['name']}: ")
    assert label.fontMetrics().horizontalAdvance(text) <= label.contentsRect().width()
    assert label.toolTip().startswith(str(path))  # the full path


def test_scale_to_gt_is_disabled_without_ground_truth_and_keeps_the_choice(window, qtbot, mono_video,
                                                                          scared_keyframe):
    box, state = window.model_bar.align_box, window.worker.state

    def open_(path):
        window.open_path(path)
        qtbot.waitUntil(lambda: window.info is not None and window.info["path"] == str(path), timeout=20000)

    window.set_models([SHADING], "cpu")
    open_(scared_keyframe)
    assert box.isEnabled() and box.isChecked() and "no ground truth" not in box.toolTip()
    box.click()  # the user turns scaling off
    assert not state.align_to_gt
    open_(mono_video)
    assert not box.isEnabled() and not box.isChecked() and "the open source has no ground truth" in box.toolTip()
    open_(scared_keyframe)
    assert box.isEnabled() and not box.isChecked()  # still off: the user's choice
    box.click()
    open_(mono_video)
    assert not box.isChecked() and state.align_to_gt  # shown off, kept on for the next source with ground truth
    open_(scared_keyframe)
    assert box.isEnabled() and box.isChecked()
