"""Speed of ground truth at 1280x1024: decoding scene_points from the tar.gz (cold) against the
cache (run with `pytest tests/io/test_bench_gt.py --benchmark-only`)."""

import numpy as np
import pytest
from io_fixtures import make_keyframe

from endodepth.io.gt_cache import GroundTruthCache
from endodepth.io.keyframes import ScaredKeyframeSource
from endodepth.io.scared import SCENE_NAME, SCENE_POINTS

H, W = 1024, 1280


@pytest.fixture(scope="module")
def big_keyframe(tmp_path_factory):
    return make_keyframe(tmp_path_factory.mktemp("gt") / "dataset_1" / "keyframe_1", n=2, h=H, w=W)


@pytest.mark.benchmark(group="ground-truth")
def test_bench_gt_cold_decode_1280x1024(benchmark, big_keyframe):
    """One scene_points frame out of the tar.gz (gzip, tar member, TIFF, left Z): the first pass."""
    with ScaredKeyframeSource(big_keyframe.folder) as src:
        z = benchmark(src._decode_scene_depth, SCENE_NAME.format(1))
    expected = big_keyframe.left_xyz[1][..., 2]
    np.testing.assert_array_equal(z[~np.isnan(expected)], expected[~np.isnan(expected)])


@pytest.mark.benchmark(group="ground-truth")
def test_bench_gt_cached_read_1280x1024(benchmark, big_keyframe, tmp_path):
    """The same frame from the ground-truth cache: the second pass or a scrub back."""
    cache = GroundTruthCache(big_keyframe.folder / SCENE_POINTS, root=tmp_path)
    z = big_keyframe.left_xyz[1][..., 2].copy()
    cache.put("scene_points000001.tiff", z)
    np.testing.assert_array_equal(benchmark(cache.get, "scene_points000001.tiff", (H, W)), z)
