"""Colormaps, colorize and the range policies."""

import numpy as np
import pytest
from matplotlib import colormaps

from endodepth.vis.colormap import (
    COLORMAPS,
    FixedRange,
    GlobalRange,
    PercentileRange,
    PerFrameRange,
    colorbar_image,
    colorize,
    lut,
)


@pytest.mark.parametrize("name", COLORMAPS)
def test_luts_match_matplotlib_at_both_ends(name):
    table = lut(name)
    assert table.shape == (256, 3) and table.dtype == np.uint8
    for i in (0, 128, 255):
        assert np.abs(table[i].astype(int) - np.array(colormaps[name](i / 255)[:3]) * 255).max() <= 1
    assert lut(name) is table  # built once


def test_colorize_maps_the_range_linearly_and_blacks_out_invalid_pixels():
    depth = np.array([[10.0, 20.0, 30.0, 40.0], [np.nan, 5.0, 50.0, 25.0]], dtype=np.float32)
    invalid = np.zeros(depth.shape, bool)
    invalid[1, 3] = True
    rgb = colorize(depth, "gray", 10.0, 40.0, invalid=invalid)
    assert rgb.shape == (2, 4, 3) and rgb.dtype == np.uint8
    assert list(rgb[0, :, 0]) == [0, 85, 170, 255]
    assert list(rgb[1, :, 0]) == [0, 0, 255, 0]  # NaN, clipped low, clipped high, invalid
    assert (rgb[1, 2] == 255).all()


def test_colorize_without_range_uses_the_frame_range():
    depth = np.linspace(3.0, 7.0, 12, dtype=np.float32).reshape(3, 4)
    rgb = colorize(depth, "turbo")
    assert (rgb[0, 0] == lut("turbo")[0]).all() and (rgb[-1, -1] == lut("turbo")[255]).all()


def test_range_policies():
    rng = np.random.default_rng(0)
    a = rng.uniform(0, 100, (20, 30)).astype(np.float32)
    a[0, 0] = np.nan
    valid = np.ones(a.shape, bool)
    valid[:, :5] = False
    sel = a[valid & np.isfinite(a)]
    assert PerFrameRange().update(a, valid) == (pytest.approx(sel.min()), pytest.approx(sel.max()))
    lo, hi = PercentileRange().update(a, valid)
    assert (lo, hi) == (pytest.approx(np.percentile(sel, 2)), pytest.approx(np.percentile(sel, 98)))
    assert FixedRange(5, 9).update(a) == (5.0, 9.0)
    g = GlobalRange()
    assert g.update(np.full((2, 2), 50.0)) == (50.0, 50.0)
    assert g.update(np.array([[40.0, 45.0]])) == (40.0, 50.0)
    assert g.update(np.array([[60.0, 41.0]])) == (40.0, 60.0)  # only widens: no flicker
    g.reset()
    assert g.update(np.array([[1.0, 2.0]])) == (1.0, 2.0)
    assert PerFrameRange().update(np.full((2, 2), np.nan)) == (0.0, 1.0)
    robust = GlobalRange(1, 99)
    spiky = np.linspace(10.0, 20.0, 1000)
    spiky[0] = 1e6  # one far-away pixel of an inverse-depth model
    lo, hi = robust.update(spiky)
    assert (lo, hi) == (pytest.approx(np.percentile(spiky, 1)), pytest.approx(np.percentile(spiky, 99)))
    assert robust.update(spiky[::-1] + 5)[1] == pytest.approx(np.percentile(spiky + 5, 99))


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="jet"):
        lut("jet")
    with pytest.raises(ValueError):
        PercentileRange(50, 10)
    with pytest.raises(ValueError):
        FixedRange(3, 3)


def test_colorbar_has_high_values_on_top():
    bar = colorbar_image("viridis", 64, 8)
    assert bar.shape == (64, 8, 3)
    assert (bar[0, 0] == lut("viridis")[255]).all() and (bar[-1, -1] == lut("viridis")[0]).all()
