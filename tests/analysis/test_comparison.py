"""Model comparison: alignment to a shared scale, difference maps, shared range, metrics."""

import numpy as np
import pytest

from endodepth.analysis.comparison import GT, abs_difference, align, compare
from endodepth.analysis.metrics import evaluate_frame
from endodepth.models.base import DepthResult
from endodepth.vis.colormap import FixedRange

rng = np.random.default_rng(0)
gt = rng.uniform(30.0, 120.0, (40, 50)).astype(np.float32)
gt[:3] = np.nan  # unknown ground truth


def result(depth, kind):
    return DepthResult(np.asarray(depth, np.float32), kind)


def test_median_alignment_to_ground_truth():
    noise = rng.normal(0, 2.0, gt.shape).astype(np.float32)
    results = {
        "rel": result(np.nan_to_num(gt, nan=50.0) * 0.01, "relative"),
        "inv": result(1.0 / (np.nan_to_num(gt, nan=50.0) * 3.0), "relative-inverse"),
        "metric": result(np.nan_to_num(gt, nan=50.0) + noise, "metric-mm"),
    }
    c = compare(results, gt)
    ok = np.isfinite(gt)
    assert c.reference == GT and c.unit == "mm"
    assert np.allclose(c.aligned["rel"][ok], gt[ok], rtol=1e-5)
    assert np.allclose(c.aligned["inv"][ok], gt[ok], rtol=1e-5)
    assert c.scales["rel"][0] == pytest.approx(100.0, rel=1e-5) and c.scales["metric"] == (1.0, 0.0)
    assert np.nanmax(c.difference["rel"]) < 1e-3
    assert np.allclose(c.difference["metric"][ok], np.abs(noise[ok]), atol=1e-4)
    assert np.isnan(c.difference["metric"][0]).all()
    assert c.metrics["rel"]["abs_rel"] < 1e-5 and c.metrics["metric"]["abs_rel"] > 0.005
    every = np.concatenate([c.aligned[n][ok] for n in results] + [gt[ok]])
    assert c.range == pytest.approx(tuple(np.percentile(every, (2, 98))), rel=1e-5)
    diffs = np.concatenate([np.zeros(2 * ok.sum()), np.abs(noise[ok])])  # rel and inv match exactly
    assert c.difference_range[1] == pytest.approx(np.percentile(diffs, 98), abs=1e-3)


def test_scale_and_shift_alignment_in_depth_and_inverse_depth():
    ref = np.nan_to_num(gt, nan=50.0)
    valid = np.ones(gt.shape, bool)
    aligned, (s, t) = align(result(2.0 * ref + 5.0, "relative"), ref, valid, "scale-shift")
    assert (s, t) == (pytest.approx(0.5, rel=1e-4), pytest.approx(-2.5, abs=1e-2))
    assert np.allclose(aligned, ref, rtol=1e-4)
    aligned, _ = align(result(4.0 / ref + 0.1, "relative-inverse"), ref, valid, "scale-shift")
    assert np.allclose(aligned, ref, rtol=1e-3)
    with pytest.raises(ValueError):
        align(result(ref, "relative"), ref, valid, "best")


def test_without_ground_truth_the_first_model_is_the_reference():
    a = rng.uniform(1.0, 2.0, (8, 9)).astype(np.float32)
    c = compare({"a": result(a, "relative"), "b": result(a * 7.0, "relative")},
                color_range=FixedRange(0.0, 5.0).update)
    assert c.reference == "a" and c.unit == "relative" and c.metrics == {}
    assert np.allclose(c.aligned["b"], a, rtol=1e-5) and list(c.difference) == ["b"]
    assert c.range == (0.0, 5.0)


def test_abs_difference_is_nan_outside_valid():
    valid = np.array([[True, False], [True, True]])
    d = abs_difference(np.array([[1.0, 2.0], [np.nan, 4.0]]), np.array([[3.0, 2.0], [1.0, 1.5]]), valid)
    assert d[0, 0] == 2.0 and np.isnan(d[0, 1]) and np.isnan(d[1, 0]) and d[1, 1] == 2.5


def test_without_ground_truth_a_stereo_reference_measures_the_others():
    stereo = np.nan_to_num(gt, nan=50.0)
    stereo[10:14, 10:20] = np.nan  # stereo holes are left out of the errors
    rel = np.nan_to_num(gt, nan=50.0) * 0.02
    rel[20:] *= 1.5  # half the frame is wrong by 50 %
    results = {"mono": result(rel, "relative"), "stereo": result(stereo, "metric-mm")}
    c = compare(results, reference="stereo")
    assert c.reference == "stereo" and c.unit == "mm" and c.measured_against == "stereo"
    assert list(c.metrics) == ["mono"]  # the reference is not measured against itself
    ok = np.isfinite(stereo)
    expected = evaluate_frame(rel, "relative", np.where(ok, stereo, np.nan))
    assert c.metrics["mono"]["abs_rel"] == pytest.approx(expected["abs_rel"]) and expected["abs_rel"] > 0.1
    assert c.metrics["mono"]["coverage"] == pytest.approx(1.0)
    assert np.isnan(c.difference["mono"][10:14, 10:20]).all()
    plain = compare(results)  # no reference asked for: the first model, and no errors
    assert plain.reference == "mono" and plain.metrics == {} and plain.measured_against is None
    with_gt = compare(results, gt, reference="stereo")  # ground truth wins over the reference
    assert with_gt.reference == GT and with_gt.measured_against == GT and set(with_gt.metrics) == {"mono", "stereo"}
    with pytest.raises(ValueError, match="not among"):
        compare(results, reference="other")


def test_a_metric_model_is_scaled_to_a_relative_reference_like_the_others():
    """Without ground truth and with a relative model as the reference, millimetres left as they are would put
    the relative maps at the bottom of one colour scale (all dark): the metric one is median-scaled too."""
    a = rng.uniform(1.0, 2.0, (8, 9)).astype(np.float32)
    c = compare({"rel": result(a, "relative"), "mm": result(a * 60.0, "metric-mm")})
    assert c.reference == "rel" and c.scales["mm"][0] == pytest.approx(1 / 60.0, rel=1e-5)
    assert np.allclose(c.aligned["mm"], a, rtol=1e-5)
    c = compare({"mm": result(a * 60.0, "metric-mm"), "rel": result(a, "relative")})  # a metric reference keeps mm
    assert c.unit == "mm" and np.allclose(c.aligned["rel"], a * 60.0, rtol=1e-5)
