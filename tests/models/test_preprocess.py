"""The default preprocessing: area averaging of the uint8 frame for antialiased models, and
depth kept at the network's output size when asked (full_resolution=False)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from endodepth.models import create

pytestmark = pytest.mark.usefixtures("one_thread")


def _frame(h: int, w: int) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_default_model_shrinks_by_area_averaging():
    model = create("default")
    fh, fw = model.input_size
    rgb = _frame(5 * fh, 5 * fw)  # an exact factor: each input pixel is the mean of a 5x5 block
    block_mean = rgb.reshape(fh, 5, fw, 5, 3).astype(np.float64).mean(axis=(1, 3)) / 255.0
    x = model.preprocess(rgb[None])
    assert x.shape == (1, 3, fh, fw) and x.dtype == torch.float32
    np.testing.assert_allclose(x[0].permute(1, 2, 0).numpy(), block_mean, atol=0.51 / 255)


def test_default_model_input_stays_close_to_the_float_antialiased_resize():
    model = create("default")
    rgb = np.ascontiguousarray(np.random.default_rng(1).integers(0, 256, (1024, 1280, 3)).astype(np.uint8))
    smooth = np.stack([np.convolve(c, np.ones(31) / 31, "same") for c in rgb.reshape(-1, 3).T.astype(float)])
    rgb = smooth.T.reshape(rgb.shape).astype(np.uint8)  # natural-image-like: smooth along rows
    old = F.interpolate(torch.from_numpy(rgb)[None].permute(0, 3, 1, 2).float() / 255, size=model.input_size,
                        mode="bilinear", align_corners=False, antialias=True)
    assert (model.preprocess(rgb[None]) - old).abs().mean() < 2 / 255


def test_full_resolution_false_keeps_the_network_output():
    model = create("default")
    rgb = _frame(1024, 1280)
    small = model.predict(rgb, full_resolution=False)
    full = model.predict(rgb)
    with torch.no_grad():
        raw = model.forward(model.preprocess(rgb[None]))[0, 0].numpy()
    assert small.output.shape == raw.shape and small.output.shape != full.output.shape
    np.testing.assert_allclose(small.output, raw, rtol=1e-5)
    up = F.interpolate(torch.from_numpy(raw)[None, None], size=(1024, 1280), mode="bilinear",
                       align_corners=model.align_corners)[0, 0].numpy()
    np.testing.assert_allclose(full.output, up, rtol=1e-5)


@pytest.mark.benchmark(group="preprocess")
def test_bench_preprocess_1280x1024(benchmark):
    """The default model's preprocessing of one 1280x1024 frame (was float + antialiased torch resize)."""
    model = create("default")
    x = benchmark(model.preprocess, _frame(1024, 1280)[None])
    assert x.shape[-2:] == model.input_size
