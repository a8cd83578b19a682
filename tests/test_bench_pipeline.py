"""Speed of the per-frame core (run with `pytest tests/test_bench_pipeline.py --benchmark-only`)."""

import numpy as np
import pytest

from endodepth.frame import Frame
from endodepth.pipeline.processing import Pipeline, PostOptions
from endodepth.vis.backproject import backproject
from endodepth.vis.colormap import colorize
from endodepth.vis.masks import fov_mask, specular_mask

H, W = 720, 1280
rng = np.random.default_rng(0)
DEPTH = rng.uniform(20, 150, (H, W)).astype(np.float32)
yy, xx = np.mgrid[:H, :W]
RGB = np.where(((yy - H / 2) ** 2 + (xx - W / 2) ** 2 < (H / 2) ** 2)[..., None],
               rng.integers(30, 255, (H, W, 3)), 0).astype(np.uint8)
K = np.array([[0.82 * W, 0, W / 2], [0, 1.02 * H, H / 2], [0, 0, 1]])


@pytest.mark.benchmark(group="vis")
def test_colorize_720p(benchmark):
    out = benchmark(colorize, DEPTH, "turbo", 20.0, 150.0)
    assert out.shape == (H, W, 3)


@pytest.mark.benchmark(group="vis")
def test_backproject_720p_50k_points(benchmark):
    points, _ = benchmark(backproject, DEPTH, K, None, 5, RGB)
    assert len(points) == len(range(0, H, 5)) * len(range(0, W, 5))


@pytest.mark.benchmark(group="vis")
def test_fov_mask_720p(benchmark):
    assert benchmark(fov_mask, RGB)[H // 2, W // 2]


@pytest.mark.benchmark(group="vis")
def test_specular_mask_720p(benchmark):
    assert benchmark(specular_mask, RGB).shape == (H, W)


@pytest.mark.benchmark(group="pipeline")
@pytest.mark.parametrize("display_width, output", [(None, DEPTH), (640, DEPTH[::18, ::18])],
                         ids=["full-resolution", "display-grid"])
def test_post_process_720p(benchmark, display_width, output):
    """Masks, a 50k-point cloud and colours for one model: the worker's cost per frame, at the
    frame's resolution (commands, exports) and on the viewer's display grid from a network-sized map."""
    from endodepth.models.base import DepthResult

    post = PostOptions(max_points=50_000, fov=True, specular=True, colormap="turbo", display_width=display_width)
    pipe = Pipeline([], {}, post=post)

    def run():
        from endodepth.pipeline.processing import FrameResult

        res = FrameResult(Frame(0, 0.0, RGB, K), {"m": DepthResult(output, "metric-mm")}, {})
        return pipe.post_process(res)

    out = benchmark(run)
    assert len(out.clouds["m"][0]) <= 50_000 and out.colors["m"].shape[1] == (W if display_width is None else 640)
