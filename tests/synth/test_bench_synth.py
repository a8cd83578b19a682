"""Rendering speed (run with `pytest tests/synth/test_bench_synth.py --benchmark-only`)."""

import numpy as np
import pytest

from endodepth.synth import SynthSettings, build_scene, render_scene


@pytest.fixture(scope="module", params=["tube", "surface"])
def scene(request):
    settings = SynthSettings(scene=request.param)
    return build_scene(np.random.default_rng(0), settings, 10), settings


@pytest.mark.benchmark(group="synth")
def test_render_320x256_per_10_frames(benchmark, scene):
    built, settings = scene
    seq = benchmark(render_scene, built, 320, 256, settings, 0)
    assert seq.rgb.shape == (10, 256, 320, 3)


@pytest.mark.benchmark(group="synth")
def test_build_scene(benchmark, scene):
    _, settings = scene
    built = benchmark.pedantic(build_scene, (np.random.default_rng(1), settings, 100), rounds=2)
    assert len(built.camera_to_world) == 100
