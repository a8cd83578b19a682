import numpy as np
import pytest

from endodepth.analysis.depth import as_depth, median_scale, resize_to, scale_shift, valid_mask


def test_as_depth_inverts_only_inverse_depth():
    x = np.array([0.5, 2.0, 0.0, -1.0], np.float32)
    np.testing.assert_allclose(as_depth(x, "relative-inverse"), [2.0, 0.5, np.inf, np.inf])
    np.testing.assert_array_equal(as_depth(x, "relative"), x)
    np.testing.assert_array_equal(as_depth(x, "metric-mm"), x)
    with pytest.raises(ValueError, match="kind"):
        as_depth(x, "disparity")


def test_valid_mask_excludes_nan_zero_and_out_of_range():
    gt = np.array([np.nan, 0.0, 1e-3, 0.5, 149.9, 150.0, 300.0])
    np.testing.assert_array_equal(valid_mask(gt, 1e-3, 150), [0, 0, 0, 1, 1, 0, 0])


def test_median_scale_matches_medians():
    gt = np.array([10.0, 20.0, 30.0, 1000.0])
    pred = np.array([1.0, 4.0, 5.0, 0.0])
    valid = np.array([True, True, True, False])
    scaled, ratio = median_scale(pred, gt, valid)
    assert ratio == pytest.approx(20.0 / 4.0)
    np.testing.assert_allclose(scaled, pred * 5.0)


def test_scale_shift_recovers_an_affine_map():
    pred = np.linspace(0, 1, 50, dtype=np.float32)
    ref = 3.0 * pred + 7.0
    ref[0] = 1e3  # outlier outside the mask
    valid = np.ones(50, bool)
    valid[0] = False
    aligned, s, t = scale_shift(pred, ref, valid)
    assert (s, t) == pytest.approx((3.0, 7.0), rel=1e-5)
    np.testing.assert_allclose(aligned[valid], ref[valid], rtol=1e-5)


def test_resize_to_is_bilinear_and_keeps_same_size():
    x = np.array([[0.0, 1.0]], np.float32)
    same = resize_to(x, (1, 2))
    assert same is x or np.array_equal(same, x)
    up = resize_to(x, (1, 4))
    np.testing.assert_allclose(up[0], [0.0, 0.25, 0.75, 1.0])  # half-pixel centres, edge clamped
