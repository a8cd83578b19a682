import math

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from endodepth.analysis.selectivity import (
    SelectivityAccumulator,
    bin_weights,
    depth_bin_edges,
    selectivity_from_responses,
    sort_responses,
    unit_map,
)

ALPHA, BETA, K = 2.0, 20.0, 8

pytestmark = pytest.mark.usefixtures("one_thread")


def reference_edges(k, alpha, beta):
    """The reference thresholds written out term by term."""
    edges = [0.0]
    for i in range(k):
        edges.append(math.exp(i * math.log(beta + 1 - alpha) / (k - 1)) - (1 - alpha))
    return np.array(edges)


def numpy_responses(frames, edges):
    """R from scratch: cv2 bilinear upsampling, np.digitize binning, per-bin means over all frames."""
    k = len(edges) - 1
    units = frames[0][0].shape[0]
    sums, counts = np.zeros((units, k)), np.zeros(k)
    for feats, depth in frames:
        h, w = depth.shape
        up = np.stack([cv2.resize(c, (w, h), interpolation=cv2.INTER_LINEAR) for c in feats]).astype(np.float64)
        z = np.nan_to_num(depth, nan=-1.0)
        idx = np.digitize(z, edges, right=True) - 1
        for d in range(k):
            sel = (idx == d) & (z > 0)
            sums[:, d] += up[:, sel].sum(1)
            counts[d] += sel.sum()
    with np.errstate(invalid="ignore"):
        return np.where(counts > 0, np.abs(sums / np.maximum(counts, 1)), np.nan)


def numpy_ds(r):
    """DS per unit from R with NaN for unseen bins, written as a plain loop."""
    out = []
    for row in r:
        seen = ~np.isnan(row)
        d = int(np.nanargmax(row))
        others = [row[j] for j in range(len(row)) if seen[j] and j != d]
        m = np.mean(others)
        out.append((row[d] - m) / (row[d] + m + 1e-15))
    return np.array(out)


def planted(rng, frames=3, h=12, w=16, scale=4):
    """Blocky depth (one bin per 4x4 block of feature cells); unit k = 1 where the depth is in bin k;
    one more unit is constant."""
    edges = depth_bin_edges(K, ALPHA, BETA)
    centres = (edges[1:] + edges[:-1]) / 2
    out = []
    for _ in range(frames):
        cell_bins = np.kron(rng.integers(0, K, size=(h // 4, w // 4)), np.ones((4, 4), int))
        depth_small = centres[cell_bins].astype(np.float32)
        depth = np.kron(depth_small, np.ones((scale, scale), np.float32))
        feats = np.stack([(cell_bins == k).astype(np.float32) for k in range(K)] + [np.full((h, w), 3.0, np.float32)])
        out.append((feats, depth))
    return edges, out


def test_bin_edges_follow_the_reference_formula():
    got = depth_bin_edges(64, 0.75, 10.0, "sid")
    assert got.shape == (65,)
    assert got[0] == 0.0 and got[1] == pytest.approx(0.75) and got[64] == pytest.approx(10.0)
    np.testing.assert_allclose(got, reference_edges(64, 0.75, 10.0), rtol=1e-12)
    assert np.all(np.diff(got[1:], 2) > 0)  # spacing increases


def test_uniform_edges_are_evenly_spaced_between_the_limits():
    got = depth_bin_edges(5, 2.0, 10.0, "uniform")
    np.testing.assert_allclose(got, [0.0, 2.0, 4.0, 6.0, 8.0, 10.0])


@pytest.mark.parametrize("args", [(1, 1.0, 2.0), (8, 0.0, 2.0), (8, 3.0, 2.0)])
def test_bad_edges_are_refused(args):
    with pytest.raises(ValueError):
        depth_bin_edges(*args)


def test_invalid_and_too_deep_pixels_are_ignored():
    edges = depth_bin_edges(4, 1.0, 4.0, "uniform")  # 0, 1, 2, 3, 4
    depth = np.array([[0.5, 1.0, 1.5, 4.0, 4.5, 0.0, -1.0, np.nan]], np.float32)
    feats = np.arange(1, 9, dtype=np.float32).reshape(1, 1, 8)
    acc = SelectivityAccumulator(edges)
    acc.update({"x": feats}, depth)
    np.testing.assert_array_equal(acc.counts("x"), [2, 1, 0, 1])  # t_d < z <= t_{d+1}; 4.5 is past beta
    np.testing.assert_allclose(acc.responses("x")[0], [1.5, 3.0, np.nan, 4.0])


def test_planted_units_are_selective_for_their_bin_and_a_constant_unit_is_not():
    edges, frames = planted(np.random.default_rng(0))
    acc = SelectivityAccumulator(edges)
    for feats, depth in frames:
        acc.update({"layer": feats}, depth)
    ds, preferred, mean = acc.selectivity("layer")
    assert np.all(ds[:K] > 0.85)
    np.testing.assert_array_equal(preferred[:K], np.arange(K))
    assert abs(ds[K]) < 1e-9
    assert mean == pytest.approx(ds.mean())


def test_accumulated_responses_match_an_independent_computation():
    rng = np.random.default_rng(1)
    edges = depth_bin_edges(K, ALPHA, BETA)
    frames = []
    for _ in range(4):
        depth = rng.uniform(0.5, 24.0, size=(24, 32)).astype(np.float32)
        depth[rng.random(depth.shape) < 0.1] = np.nan
        frames.append((rng.normal(size=(5, 6, 8)).astype(np.float32), depth))
    streaming = SelectivityAccumulator(edges)
    for feats, depth in frames:
        streaming.update({"a": feats}, depth)
    expected = numpy_responses(frames, edges)
    np.testing.assert_allclose(streaming.responses("a"), expected, rtol=1e-5, atol=1e-7, equal_nan=True)
    np.testing.assert_allclose(streaming.selectivity("a")[0], numpy_ds(expected), rtol=1e-4)
    assert streaming.frames == 4


@pytest.mark.parametrize("size", [(5, 7), (23, 31), (40, 50), (2, 1)])
def test_bin_weights_equal_per_bin_sums_of_torch_bilinear_resizing(size):
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(-1, K, (2, 23, 31), generator=g)
    feats = torch.randn(2, 3, *size, generator=g, dtype=torch.float64)
    up = F.interpolate(feats, size=(23, 31), mode="bilinear", align_corners=False)
    expected = torch.zeros(3, K, dtype=torch.float64)
    for d in range(K):
        expected[:, d] = up.permute(1, 0, 2, 3)[:, labels == d].sum(1)
    got = torch.einsum("bcq,bkq->ck", feats.reshape(2, 3, -1), bin_weights(labels, K, size))
    torch.testing.assert_close(got, expected, rtol=1e-9, atol=1e-9)


def test_streaming_does_not_depend_on_frame_order():
    edges, frames = planted(np.random.default_rng(2), frames=4)
    forward, backward = SelectivityAccumulator(edges), SelectivityAccumulator(edges)
    for feats, depth in frames:
        forward.update({"a": feats}, depth)
    for feats, depth in reversed(frames):
        backward.update({"a": feats}, depth)
    np.testing.assert_allclose(forward.responses("a"), backward.responses("a"), rtol=1e-12)


def test_unseen_bins_are_left_out_of_the_mean_of_the_others():
    r = np.array([[1.0, np.nan, 0.5, 0.5], [0.0, np.nan, 0.0, 0.0]])
    ds, preferred, mean = selectivity_from_responses(r)
    np.testing.assert_allclose(ds, [(1 - 0.5) / 1.5, 0.0])
    assert preferred[0] == 0
    assert mean == pytest.approx((1 / 3) / 2)


def test_analysis_size_brings_the_depth_to_the_feature_grid():
    edges, frames = planted(np.random.default_rng(3), h=12, w=16)
    acc = SelectivityAccumulator(edges, analysis_size=(12, 16))
    for feats, depth in frames:
        acc.update({"a": feats}, depth)
    ds, preferred, _ = acc.selectivity("a")
    np.testing.assert_allclose(ds[:K], 1.0)
    np.testing.assert_array_equal(preferred[:K], np.arange(K))
    assert acc.counts("a").sum() == 3 * 12 * 16


def test_sorted_matrix_orders_units_by_preferred_bin_and_normalises_rows():
    r = np.array([[0.0, 0.0, 0.0], [0.1, 0.2, 0.9], [4.0, 1.0, 1.0], [0.5, 2.0, np.nan]])
    matrix, order = sort_responses(r)
    np.testing.assert_array_equal(order, [2, 3, 1, 0])  # the silent unit goes last
    np.testing.assert_allclose(matrix[0], [1.0, 0.25, 0.25])
    np.testing.assert_allclose(matrix[1], [0.25, 1.0, np.nan])
    np.testing.assert_allclose(np.nanmax(matrix[:3], axis=1), 1.0)
    np.testing.assert_array_equal(matrix[3], 0.0)


def test_unit_map_picks_and_resizes_one_channel():
    feats = np.random.default_rng(4).normal(size=(3, 4, 5)).astype(np.float32)
    np.testing.assert_array_equal(unit_map(feats, 2), feats[2])
    big = unit_map(feats, 1, size=(8, 10))
    np.testing.assert_allclose(big, cv2.resize(feats[1], (10, 8), interpolation=cv2.INTER_LINEAR), atol=1e-5)


def test_features_of_the_wrong_rank_are_refused():
    acc = SelectivityAccumulator(depth_bin_edges(K, ALPHA, BETA))
    with pytest.raises(ValueError, match="layer 'tokens'"):
        acc.update({"tokens": np.zeros((2, 3), np.float32)}, np.ones((4, 4), np.float32))
