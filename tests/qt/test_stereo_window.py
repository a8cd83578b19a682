"""The window on stereo and mono sources: stereo models offered only for stereo sources, the fallback
notice on a mono one, the stereo layout when opening, errors vs stereo in the comparison dock, and the
selectivity dock's one line for stereo."""

from __future__ import annotations

import numpy as np

from endodepth.io.stereo import MONO
from endodepth.qt.app import build_parser
from endodepth.qt.menus import VIDEO_FILTER
from endodepth.qt.open_dialog import LAYOUT_LABELS, OpenDialog
from endodepth.qt.settings import recent_layouts
from endodepth.qt.worker import default_model_name

SHADING = "baseline-shading"
CONSTANT = "baseline-constant"
STEREO_MODELS = {"stereo", "stereo-wls"}


def _offered(window) -> set[str]:
    box = window.model_bar.model_box
    return {box.itemText(i) for i in range(box.count())}


def _comparable(window) -> set[str]:
    items = window.comparison_view.model_list
    return {items.item(i).text() for i in range(items.count())}


def test_stereo_on_a_mono_source_falls_back_to_the_default_with_one_notice(window, qtbot, wait_frame, image_folder):
    default = default_model_name()[0]
    window.worker.state.set_compared([CONSTANT, "stereo-wls"])
    window.set_models(["stereo"], "cpu")
    window.open_path(image_folder)
    update = wait_frame(window, 0, default, timeout=60000)
    notice = window.labels.notice.text()
    assert "'stereo', 'stereo-wls' needs a stereo source" in notice and f"showing '{default}'" in notice
    assert "\n" not in notice and "Traceback" not in notice
    assert update.view is not None and np.isfinite(update.result.depth[default]).any()  # the view is not empty
    assert window.worker.state.compared == [CONSTANT] and window.model_bar.model_box.currentText() == default
    assert not _offered(window) & STEREO_MODELS and not _comparable(window) & STEREO_MODELS
    window.set_models(["stereo"])  # chosen again on the mono source: the same notice, the default stays
    qtbot.waitUntil(lambda: window.worker.state.models == [default], timeout=20000)
    assert "needs a stereo source" in window.labels.notice.text()


def test_a_stereo_video_offers_stereo_and_selectivity_says_it_has_no_layers(window, qtbot, wait_frame, stereo_video):
    window.set_models(["stereo"], "cpu")
    window.open_path(stereo_video)
    update = wait_frame(window, 0, "stereo", timeout=60000)
    assert window.info["stereo_pair"] and STEREO_MODELS <= _offered(window) and STEREO_MODELS <= _comparable(window)
    assert np.isfinite(update.result.depth["stereo"]).mean() > 0.3
    view = window.selectivity_view
    assert view.note.text() == "stereo matching has no network layers to analyse"
    assert view.note.isVisible() and not view.canvas.isVisible()
    window.set_models([SHADING])  # not stereo, not a network either
    qtbot.waitUntil(lambda: view.note.text() == "this model exposes no layers to analyse", timeout=20000)
    window.set_models(["meter-xxs"])  # a network: the plots come back
    qtbot.waitUntil(lambda: view.canvas.isVisible() and not view.note.isVisible(), timeout=30000)


def test_without_ground_truth_the_comparison_is_errors_vs_stereo(window, qtbot, stereo_video):
    window.worker.state.set_compared([SHADING, CONSTANT])
    window.set_models([SHADING], "cpu")
    window.open_path(stereo_video)
    qtbot.waitUntil(lambda: window.comparison_view.snapshot is not None
                    and window.comparison_view.snapshot.reference == "stereo", timeout=60000)
    snap = window.comparison_view.snapshot
    assert "stereo" in window.worker.state.running  # run as the reference beside the compared models
    assert snap.names == [SHADING, CONSTANT, "stereo"] and snap.unit == "mm"
    assert snap.errors_label == "errors vs stereo (not ground truth)"
    assert set(snap.metrics) == {SHADING, CONSTANT} and snap.metrics[SHADING]["abs_rel"] > 0
    view = window.comparison_view
    assert "errors vs stereo (not ground truth)" in view.metric_plot.getPlotItem().titleLabel.text
    assert "errors vs stereo (not ground truth)" in view.summary.text()
    assert set(view.curves) == {SHADING, CONSTANT}


def test_the_open_dialog_offers_the_stereo_layouts(qtbot, tmp_path):
    dialog = OpenDialog(None, str(tmp_path), VIDEO_FILTER)
    qtbot.addWidget(dialog)
    box = dialog.layout_box
    assert [box.itemText(i) for i in range(box.count())] == [text for text, _ in LAYOUT_LABELS]
    assert dialog.stereo_layout() is None  # auto-detect by default
    assert dialog.layout().indexOf(box) >= 0  # in the dialog, under the file list
    for i, (_, layout) in enumerate(LAYOUT_LABELS):
        box.setCurrentIndex(i)
        assert dialog.stereo_layout() == layout
    assert OpenDialog(None, str(tmp_path), VIDEO_FILTER, layout="sbs").stereo_layout() == "sbs"


def test_a_layout_choice_opens_the_video_so_and_the_recent_menu_keeps_it(window, qtbot, wait_frame, stereo_video):
    window.set_models([SHADING], "cpu")
    window.open_path(stereo_video, MONO)
    wait_frame(window, 0, SHADING)
    assert not window.info["stereo_pair"] and window.info["size"] == "240x384"  # both views in one frame
    assert not _offered(window) & STEREO_MODELS
    path = str(stereo_video.resolve())
    assert recent_layouts(window.store) == {path: MONO} and window.worker.state.layout == MONO
    action = window.recent_menu.actions()[0]
    assert action.text() == f"{path}  [mono]"
    action.trigger()  # the recent file opens with its layout again
    qtbot.waitUntil(lambda: window.worker.state.layout == MONO and window.info["size"] == "240x384", timeout=20000)
    window.open_path(stereo_video)  # auto-detect: the calibration beside it makes it a stacked pair
    qtbot.waitUntil(lambda: window.info["stereo_pair"] and window.info["size"] == "240x192", timeout=20000)
    assert STEREO_MODELS <= _offered(window) and recent_layouts(window.store) == {}


def test_gui_takes_a_stereo_layout_on_the_command_line():
    assert build_parser().parse_args(["clip.mp4", "--stereo", "stacked"]).stereo == "stacked"
    assert build_parser().parse_args(["clip.mp4"]).stereo is None


def test_the_range_export_reads_the_source_with_the_viewers_layout(window, wait_frame, stereo_video, tmp_path):
    from endodepth.pipeline.view_export import RangeExport
    from endodepth.qt.export import RangeExporter

    window.set_models([SHADING], "cpu")
    window.open_path(stereo_video, MONO)
    wait_frame(window, 0, SHADING)
    state = window.worker.state
    job = RangeExport(tmp_path, "clip", 0, 0, "npz", "none")
    exporter = RangeExporter(state.file, window.worker.model(SHADING), SHADING, job, state.layout)
    written, failed = [], []
    exporter.done.connect(written.extend)
    exporter.failed.connect(failed.append)
    exporter.run()
    assert not failed and len(written) == 1
    with np.load(written[0]) as data:
        assert data["depth"].shape == (384, 240)  # one mono frame of both views, as the viewer shows it
