import math

import numpy as np
import pytest

from endodepth.analysis.metrics import compute_errors, evaluate_frame, summarize


def test_compute_errors_by_hand():
    gt = np.array([1.0, 2.0, 4.0])
    pred = np.array([1.2, 3.0, 2.1])
    e = compute_errors(gt, pred)
    assert e["abs_rel"] == pytest.approx((0.2 / 1 + 1.0 / 2 + 1.9 / 4) / 3)
    assert e["sq_rel"] == pytest.approx((0.04 / 1 + 1.0 / 2 + 3.61 / 4) / 3)
    assert e["rmse"] == pytest.approx(math.sqrt((0.04 + 1.0 + 3.61) / 3))
    logs = [math.log(1 / 1.2), math.log(2 / 3), math.log(4 / 2.1)]
    assert e["rmse_log"] == pytest.approx(math.sqrt(sum(x * x for x in logs) / 3))
    # ratios max(gt/pred, pred/gt): 1.2, 1.5, 1.905 -> below 1.25: 1, below 1.5625: 2, below 1.953: 3
    assert (e["a1"], e["a2"], e["a3"]) == pytest.approx((1 / 3, 2 / 3, 1.0))


def _gt():
    gt = np.linspace(20, 120, 48 * 40, dtype=np.float32).reshape(48, 40)
    gt[0, :5] = np.nan
    gt[1, :5] = 0.0
    gt[2, :5] = 200.0  # beyond max depth
    return gt


def test_scaled_prediction_has_no_error_and_ratio_is_the_scale():
    gt = _gt()
    pred = np.nan_to_num(gt, nan=7.0) * 3.0  # invalid pixels hold garbage that must not count
    pred[0, :5] = 1e6
    e = evaluate_frame(pred, "relative", gt)
    assert e["abs_rel"] == pytest.approx(0.0, abs=1e-6)
    assert e["rmse"] == pytest.approx(0.0, abs=1e-4)
    assert e["a1"] == 1.0
    assert e["ratio"] == pytest.approx(1 / 3)
    assert e["valid_pixels"] == 48 * 40 - 15


def test_inverse_output_is_turned_into_depth_before_scaling():
    gt = _gt()
    inverse = 1.0 / (np.nan_to_num(gt, nan=1.0) * 3.0 + (gt == 0))
    e = evaluate_frame(inverse, "relative-inverse", gt)
    assert e["abs_rel"] == pytest.approx(0.0, abs=1e-5)
    assert e["ratio"] == pytest.approx(1 / 3, rel=1e-5)


def test_metric_models_and_disabled_scaling_are_not_rescaled():
    gt = np.linspace(20, 70, 48 * 40, dtype=np.float32).reshape(48, 40)
    pred = gt * 2.0
    for kind, scaling in (("metric-mm", True), ("relative", False)):
        e = evaluate_frame(pred, kind, gt, median_scaling=scaling)
        assert e["ratio"] == 1.0
        assert e["abs_rel"] == pytest.approx(1.0, rel=1e-6)  # |gt - 2 gt| / gt


def test_prediction_is_clamped_to_the_depth_range():
    gt = np.full((4, 4), 100.0, np.float32)
    pred = np.full((4, 4), 400.0, np.float32)
    e = evaluate_frame(pred, "metric-mm", gt, max_depth=150)
    assert e["abs_rel"] == pytest.approx(0.5)  # 400 clamped to 150


def test_prediction_is_brought_to_the_ground_truth_size():
    gt = np.full((64, 80), 50.0, np.float32)
    gt[:, 40:] = 100.0
    pred = np.full((16, 20), 2.0, np.float32)
    e = evaluate_frame(pred, "relative", gt)
    assert e["valid_pixels"] == 64 * 80
    # a constant scaled to the median 75 mm: |50-75|/50 on one half, |100-75|/100 on the other
    assert e["abs_rel"] == pytest.approx((0.5 + 0.25) / 2, rel=1e-6)


def test_no_valid_pixel_gives_none():
    gt = np.array([[np.nan, 0.0], [151.0, -1.0]], np.float32)
    assert evaluate_frame(np.ones((2, 2), np.float32), "relative", gt) is None


def test_summary_is_the_mean_over_frames():
    rows = [
        {"abs_rel": 0.1, "sq_rel": 1, "rmse": 2, "rmse_log": 0.1, "a1": 1, "a2": 1, "a3": 1, "ratio": 2.0},
        {"abs_rel": 0.3, "sq_rel": 3, "rmse": 4, "rmse_log": 0.3, "a1": 0, "a2": 0.5, "a3": 1, "ratio": 4.0},
    ]
    s = summarize(rows)
    assert s["frames"] == 2
    assert s["abs_rel"] == pytest.approx(0.2)
    assert s["a2"] == pytest.approx(0.75)
    assert s["ratio_median"] == pytest.approx(3.0)
    assert summarize([]) == {"frames": 0}
