"""Field-of-view and highlight masks on synthetic endoscope-like images."""

import numpy as np
import pytest

from endodepth.vis.masks import fov_mask, specular_mask

H, W = 180, 240


def tissue(seed: int = 0) -> np.ndarray:
    """Reddish texture with dark patches (as dark as 25) like shadowed tissue."""
    rng = np.random.default_rng(seed)
    base = rng.uniform(25, 160, (H // 10, W // 10))
    r = np.kron(base, np.ones((10, 10)))
    rgb = np.stack([r, r * 0.35, r * 0.3], axis=-1)
    return np.clip(rgb + rng.normal(0, 3, rgb.shape), 0, 255).astype(np.uint8)


def test_fov_mask_finds_the_circle_and_keeps_dark_tissue_inside():
    yy, xx = np.mgrid[:H, :W]
    disk = (yy - H / 2) ** 2 + (xx - W / 2) ** 2 <= 85**2  # touches top and bottom edges
    rgb = tissue()
    rgb[70:110, 100:140] = 3  # a dark cavity inside the view
    rgb[~disk] = np.random.default_rng(1).integers(0, 6, ((~disk).sum(), 3))  # noisy black border
    rgb[5, 5] = 200  # a bright speck in the border is not the view
    m = fov_mask(rgb)
    assert m.shape == (H, W) and m.dtype == bool
    iou = (m & disk).sum() / (m | disk).sum()
    assert iou > 0.97
    assert m[90, 120] and not m[5, 5]


def test_frames_without_a_border_get_an_all_true_mask():
    assert fov_mask(tissue()).all()
    assert fov_mask(np.zeros((H, W, 3), np.uint8)).all()


def test_specular_mask_marks_bright_unsaturated_spots_and_their_halo():
    rgb = tissue()
    rgb[50:54, 60:64] = 250  # a highlight
    rgb[120:130, 30:40] = (255, 40, 40)  # bright but saturated red: not a highlight
    m = specular_mask(rgb, dilate=2)
    assert m[50:54, 60:64].all() and m[48, 62] and not m[45, 62]
    assert not m[120:130, 30:40].any()
    assert m[48:56, 60:64].all() and m[50:54, 58:66].all() and m.sum() == m[48:56, 58:66].sum() < 64


def test_non_rgb_input_is_refused():
    with pytest.raises(ValueError, match="uint8 RGB"):
        fov_mask(np.zeros((10, 10), np.float32))
