"""The viewer's display grid: depth kept at the network's resolution and read at the shown pixels
equals the full-resolution pipeline's maps at those pixels; clouds are the same points; the frame's
resolution is still there for the protocol (errors against ground truth, exports)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from endodepth.frame import Frame
from endodepth.kinds import RELATIVE_INVERSE
from endodepth.models.base import DepthEstimator
from endodepth.pipeline.processing import Pipeline, PostOptions
from endodepth.pipeline.views import depth_view, full_view, scales_to_mm
from endodepth.vis.colormap import FixedRange
from endodepth.vis.resample import display_step, sample_bilinear

H, W = 100, 130
K = np.array([[90.0, 0, 64.0], [0, 90.0, 49.0], [0, 0, 1]])


class Smooth(DepthEstimator):
    """Inverse depth from a 10x12 input: a smooth, non-constant map (so interpolation shows)."""

    kind = RELATIVE_INVERSE
    input_size = (10, 12)

    def __init__(self, align_corners: bool) -> None:
        super().__init__()
        self.name, self.align_corners = f"smooth-{align_corners}", align_corners
        self.weight = torch.nn.Parameter(torch.ones(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ramp = torch.linspace(0.5, 1.5, x.shape[-1])[None, None, None, :]
        return (x.mean(dim=1, keepdim=True) + 0.2) * ramp * self.weight


class Vignetted:
    """Frames with a dark border (the FOV mask matters) and ground truth."""

    fps = 25.0

    def __len__(self) -> int:
        return 3

    def frame(self, i: int) -> Frame:
        yy, xx = np.mgrid[:H, :W]
        rgb = np.stack([(xx * 1.5 + i * 7) % 255, (yy * 2) % 255, np.full((H, W), 120)], -1).astype(np.uint8)
        rgb[(yy - H / 2) ** 2 + (xx - W / 2) ** 2 > (H / 2) ** 2] = 0
        gt = (40.0 + xx * 0.1 + yy * 0.05).astype(np.float32)
        return Frame(i, i / self.fps, rgb, K, K_assumed=False, gt_depth=gt)


def _post(display_width: int | None) -> PostOptions:
    return PostOptions(max_points=900, fov=True, specular=True, colormap="turbo",
                       range_policy=lambda: FixedRange(0.5, 3.0), display_width=display_width)


@pytest.mark.parametrize("align", [False, True])
def test_display_grid_equals_the_full_resolution_maps_at_the_shown_pixels(align):
    model = Smooth(align)
    full = Pipeline(Vignetted(), [model], post=_post(None)).process(1)
    grid = Pipeline(Vignetted(), [model], post=_post(40)).process(1)
    step = display_step(W, 40)
    name = model.name
    assert full.step == 1 and grid.step == step == 4 and full.results[name].output.shape == (H, W)
    assert grid.results[name].output.shape == (10, 12)  # kept as the network gave it
    np.testing.assert_allclose(grid.depth[name], full.depth[name][::step, ::step], rtol=1e-5)
    np.testing.assert_array_equal(grid.valid, full.valid[::step, ::step])
    np.testing.assert_array_equal(grid.fov, full.fov[::step, ::step])
    np.testing.assert_array_equal(grid.specular, full.specular[::step, ::step])
    np.testing.assert_array_equal(grid.frame_valid, full.valid)
    shown_colors = full.colors[name][::step, ::step]
    assert (grid.colors[name] != shown_colors).any(axis=-1).mean() < 0.01  # rounding at a LUT boundary at most
    (p_full, c_full), (p_grid, c_grid) = full.clouds[name], grid.clouds[name]
    np.testing.assert_allclose(p_grid, p_full, rtol=1e-5)
    np.testing.assert_array_equal(c_grid, c_full)
    np.testing.assert_allclose(grid.full_output(name), full.results[name].output, rtol=1e-5)
    np.testing.assert_allclose(grid.full_depth(name), full.depth[name], rtol=1e-5)


def test_views_sample_the_grid_and_exports_get_the_frame_resolution():
    model = Smooth(True)
    full = Pipeline(Vignetted(), [model], post=_post(None)).process(2)
    grid = Pipeline(Vignetted(), [model], post=_post(40)).process(2)
    name = model.name
    scale_full, scale_grid = scales_to_mm(full)[name], scales_to_mm(grid)[name]
    assert scale_grid == pytest.approx(scale_full, rel=0.02)  # the median over the shown pixels
    view = depth_view(grid, name, scale_grid)
    assert view.size == (W, H) and view.rgb.shape == (25, 33, 3) and view.step == 4
    np.testing.assert_array_equal(view.rgb, grid.frame.rgb[::4, ::4])
    u, v = 70, 51
    assert view.depth_at(u, v) == pytest.approx(full.depth[name][v - v % 4, u - u % 4] * scale_grid, rel=1e-5)
    assert np.isnan(view.depth_at(1, 1))  # outside the field of view
    exported = full_view(grid, name, scale_grid, "turbo")
    reference = depth_view(full, name, scale_grid)
    assert exported.depth.shape == (H, W) and exported.step == 1
    np.testing.assert_allclose(exported.depth, reference.depth, rtol=1e-5)
    np.testing.assert_array_equal(exported.valid, reference.valid)
    np.testing.assert_allclose(exported.points, reference.points, rtol=1e-5)
    assert view.point_depth_rgba.shape == (len(view.points), 4) and view.display_points.shape == view.points.shape


def test_sample_bilinear_matches_interpolation_at_every_step():
    rng = np.random.default_rng(3)
    values = rng.random((9, 11), dtype=np.float32)
    for align in (False, True):
        up = F.interpolate(torch.from_numpy(values)[None, None], size=(50, 61), mode="bilinear",
                           align_corners=align)[0, 0].numpy()
        for step in (1, 2, 3, 7):
            np.testing.assert_allclose(sample_bilinear(values, (50, 61), step, align), up[::step, ::step],
                                       rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(sample_bilinear(up, up.shape, 3), up[::3, ::3])  # already that size: sliced
