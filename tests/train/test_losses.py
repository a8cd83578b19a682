import math

import numpy as np
import pytest
import torch

from endodepth.train.losses import gradient_matching, normalised_log_depth, silog


def _depth(seed=0):
    g = torch.Generator().manual_seed(seed)
    return 20 + 100 * torch.rand(2, 1, 16, 20, generator=g)


def test_silog_ignores_scale_with_full_variance_focus_and_matches_hand_value():
    gt = _depth()
    valid = torch.ones_like(gt)
    assert float(silog((gt * 3).log(), gt.log(), valid, variance_focus=1.0)) == pytest.approx(0, abs=1e-3)
    # a constant log offset c with focus 0.85: sqrt(c^2 - 0.85 c^2)
    c = math.log(3)
    assert float(silog((gt * 3).log(), gt.log(), valid, 0.85)) == pytest.approx(math.sqrt(0.15) * c, rel=1e-5)


def test_silog_counts_only_valid_pixels():
    gt = _depth()
    pred = gt.clone()
    pred[:, :, :4] = 1e6  # wrong, but masked out
    valid = torch.ones_like(gt)
    valid[:, :, :4] = 0
    assert float(silog(pred.log(), gt.log(), valid, 1.0)) == pytest.approx(0, abs=1e-3)
    assert float(silog(pred.log(), gt.log(), torch.ones_like(gt), 1.0)) > 1


def test_gradient_matching_is_zero_for_a_scaled_copy_and_sees_edges():
    gt = _depth(1)
    valid = torch.ones_like(gt)
    assert float(gradient_matching((gt * 5).log(), gt.log(), valid)) == pytest.approx(0, abs=1e-5)
    flat = torch.full_like(gt, 50.0)
    assert float(gradient_matching(flat.log(), gt.log(), valid)) > 0.1


def test_normalised_log_depth_has_zero_median_on_valid_pixels():
    gt = _depth(2)
    valid = torch.ones_like(gt)
    valid[0, 0, 0, :] = 0
    out = normalised_log_depth(gt, valid)
    for o, v in zip(out, valid):
        assert float(o[v > 0].median()) == pytest.approx(0, abs=1e-6)
    assert torch.all(out[valid == 0] == 0)
    np.testing.assert_allclose(out[1].numpy(), (gt[1].log() - gt[1].log().median()).numpy(), atol=1e-6)


def test_ssi_inverse_ignores_scale_and_shift_of_inverse_depth_but_not_shape():
    from endodepth.train.losses import ssi_inverse

    gt = torch.linspace(20, 90, 48).reshape(1, 1, 6, 8)
    valid = torch.ones_like(gt)
    shifted = 1 / (3.0 / gt + 0.01)  # inverse depth scaled and shifted
    assert float(ssi_inverse(shifted.log(), gt.log(), valid)) < 1e-4
    assert float(ssi_inverse(gt.flip(-1).log(), gt.log(), valid)) > 0.1
