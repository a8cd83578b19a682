"""Selectivity and comparison docks on real model outputs: shapes and values checked independently."""

from __future__ import annotations

import numpy as np
import pytest

from endodepth.analysis.comparison import GT
from endodepth.analysis.metrics import MAX_DEPTH, MIN_DEPTH

SHADING = "baseline-shading"
CONSTANT = "baseline-constant"


def test_selectivity_matrix_has_units_by_bins_and_a_unit_map(window, qtbot, wait_frame, image_folder):
    window.set_models(["meter-xxs"], "cpu")
    window.open_path(image_folder)
    wait_frame(window, 0, "meter-xxs")
    view = window.selectivity_view
    layers = [view.layer_box.itemText(i) for i in range(view.layer_box.count())]
    assert "enc_0" in layers and view.layer_box.currentText() in layers
    view.layer_box.setCurrentText("enc_2")
    qtbot.waitUntil(lambda: view.snapshot is not None and view.snapshot.layer == "enc_2", timeout=30000)
    features = window.last_update.result.results["meter-xxs"].features["enc_2"]
    snap = view.snapshot
    assert view.matrix_item.image.shape == (features.shape[0], 32) == snap.matrix.shape
    assert sorted(snap.order.tolist()) == list(range(features.shape[0]))
    preferred = np.nanargmax(np.nan_to_num(snap.matrix, nan=-1), axis=1)
    assert np.all(np.diff(preferred) >= 0)  # rows sorted by preferred depth bin
    assert snap.shown_unit == int(np.argmax(snap.selectivity))
    rgb = window.last_update.result.frame.rgb
    assert snap.activation.shape == rgb.shape[:2] and view.map_item.image.shape == rgb.shape[:2] + (4,)
    view.unit_box.setValue(3)
    qtbot.waitUntil(lambda: view.snapshot.shown_unit == 3, timeout=30000)
    fmap = window.last_update.result.results["meter-xxs"].features["enc_2"][3]
    act = view.snapshot.activation
    # the map is the unit's response upsampled to the frame: same mean up to interpolation
    assert abs(float(act.mean()) - float(fmap.mean())) < 0.05 * (abs(float(fmap.mean())) + float(fmap.std()) + 1e-6)
    # drawn normalised: the strongest response is the brightest, most opaque overlay pixel
    overlay = view.map_item.image
    strongest = np.unravel_index(np.argmax(act), act.shape)
    assert overlay[strongest][3] == overlay[..., 3].max() and overlay[..., 3].max() >= 235


def test_comparison_aligns_to_ground_truth_and_plots_errors(window, qtbot, wait_frame, scared_keyframe):
    window.worker.state.set_compared([SHADING, CONSTANT])
    window.set_models([SHADING], "cpu")
    window.open_path(scared_keyframe)
    update = wait_frame(window, 0, SHADING)
    qtbot.waitUntil(lambda: window.comparison_view.snapshot is not None, timeout=30000)
    snap = window.comparison_view.snapshot
    result = update.result
    gt = result.frame.gt_depth
    assert snap.reference == GT and snap.unit == "mm"
    depth = result.depth[SHADING]
    with np.errstate(invalid="ignore"):
        valid = result.valid & (gt > MIN_DEPTH) & (gt < MAX_DEPTH) & np.isfinite(depth) & (depth > 0)
    # independent median scaling to the ground truth, then |aligned - GT|
    ratio = np.median(gt[valid]) / np.median(depth[valid])
    expected = np.abs(depth * ratio - gt)
    ok = np.isfinite(snap.difference)
    assert ok.sum() > 0.5 * valid.sum()
    np.testing.assert_allclose(snap.difference[ok], expected[ok], rtol=1e-4, atol=1e-3)
    np.testing.assert_array_equal(window.comparison_view.diff_item.image, snap.difference_colors)
    assert set(snap.metrics) == {SHADING, CONSTANT}
    assert {"abs_rel", "rmse", "a1"} <= set(snap.metrics[SHADING])
    # the constant model, median-scaled, is the median everywhere: abs_rel = mean(|median - gt| / gt)
    with np.errstate(invalid="ignore"):
        g = gt[(gt > MIN_DEPTH) & (gt < MAX_DEPTH)].astype(np.float64)  # the metrics use every GT pixel
    assert snap.metrics[CONSTANT]["abs_rel"] == pytest.approx(np.mean(np.abs(np.median(g) - g) / g), rel=1e-3)
    window.seek(1)
    qtbot.waitUntil(lambda: 1 in window.comparison_view.history.get(SHADING, {}), timeout=30000)
    x, y = window.comparison_view.curves[SHADING].getData()
    assert list(x) == [0, 1] and not window.comparison_view.metric_note.isVisible()
    assert y[0] == snap.metrics[SHADING]["abs_rel"]
    # three panels (two models and the ground truth) share one colour range, with linked views
    boxes = window.comparison_view.boxes
    assert boxes[1].linkedView(0) is boxes[0] and boxes[1].linkedView(1) is boxes[0]
    assert window.comparison_view.colorbar.levels() == pytest.approx(window.comparison_view.snapshot.range)
    assert window.image_view.colorbar.getAxis("left").labelText == "depth [mm]"


def test_without_ground_truth_or_stereo_the_metric_plot_says_what_it_needs(window, qtbot, wait_frame, mono_video):
    view = window.comparison_view
    box, note = view.metric_plot.getViewBox(), view.metric_note

    def says(words: str) -> bool:
        # drawn inside the plot's area, not clipped
        return note.isVisible() and words in note.toPlainText() and box.sceneBoundingRect().contains(
            note.sceneBoundingRect())

    window.set_models([SHADING], "cpu")
    window.open_path(mono_video)
    wait_frame(window, 0, SHADING)
    assert view.snapshot is None and says("tick 2 to 4 models")
    window.worker.state.set_compared([SHADING, CONSTANT])
    qtbot.waitUntil(lambda: view.snapshot is not None, timeout=30000)
    # a relative model is no reference to measure errors against: only the difference map is drawn
    assert view.snapshot.metrics == {} and view.snapshot.difference_colors is not None and not view.curves
    assert says("no ground truth and no stereo depth")
