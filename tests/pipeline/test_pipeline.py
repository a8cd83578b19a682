"""Pipeline.process: models, depth conversion and the post-processing the views get."""

from __future__ import annotations

import numpy as np
import pytest
from pipeline_fakes import FakeDepth, H, K, MemorySource, W, frame_value

from endodepth.pipeline.processing import Pipeline, PostOptions
from endodepth.vis.colormap import FixedRange, lut


class InverseFake(FakeDepth):
    kind = "relative-inverse"


def test_process_runs_every_model_and_backprojects_their_depth():
    post = PostOptions(max_points=200, fov=False, colormap="gray", range_policy=lambda: FixedRange(0.0, 1.0))
    pipe = Pipeline(MemorySource(5), [FakeDepth("a"), InverseFake("b")], post=post)
    out = pipe.process(4)
    z = frame_value(4) / 255.0
    assert out.index == 4 and set(out.results) == {"a", "b"}
    assert out.depth["a"] == pytest.approx(np.full((H, W), z), abs=1e-6)
    assert out.depth["b"] == pytest.approx(np.full((H, W), 1.0 / z), rel=1e-5)  # inverse depth -> depth
    points, colors = out.clouds["b"]
    assert 0 < len(points) <= 200 and np.allclose(points[:, 2], 1.0 / z, rtol=1e-5)
    # x of each point, projected back through K, lands on a pixel column of the frame
    u = points[:, 0] / points[:, 2] * K[0, 0] + K[0, 2]
    assert np.allclose(u, np.round(u), atol=1e-3) and u.min() > -1e-3 and u.max() < W
    assert (colors == frame_value(4)).all()
    level = round(z * 255)
    assert (out.colors["a"] == lut("gray")[level]).all() and out.ranges["a"] == (0.0, 1.0)
    assert {"decode_ms", "infer_ms", "infer_ms/a", "infer_ms/b", "post_ms"} <= set(out.timings)


def test_points_outside_the_field_of_view_are_left_out():
    yy, xx = np.mgrid[:H, :W]
    disk = (yy - H / 2) ** 2 + (xx - W / 2) ** 2 <= (H / 2 - 1) ** 2

    class Vignetted(MemorySource):
        def frame(self, i):
            f = super().frame(i)
            f.rgb[~disk] = 0
            return f

    pipe = Pipeline(Vignetted(100), [FakeDepth()], post=PostOptions(max_points=10_000, fov=True))
    out = pipe.process(90)  # grey level 100 inside the circle, black outside
    assert (out.valid & disk).sum() / (out.valid | disk).sum() > 0.95
    assert len(out.clouds["fake"][0]) == (out.valid & disk).sum()  # black pixels have depth 0
