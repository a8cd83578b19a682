"""The stereo term of objective stereo: the right view warped into the left with the true depth matches
better than with a wrong depth, on a rendered stereo pair and on a plane with an exact shift."""

import numpy as np
import pytest
import torch

from endodepth.synth import render_sequence
from endodepth.train.photometric import stereo_photometric_loss, stereo_warp
from endodepth.train.stereo_term import StereoViews, best_scale, metric_scale
from endodepth.train.video_data import FrameTriples
from endodepth.train.video_trainer import VideoOptions, VideoTrainer

W, H = 128, 96


def _pair_tensors(seq, i: int = 0):
    """Left, right (1, 3, H, W) in [0, 1], the left depth (1, 1, H, W) mm, K1, K2, right_T_left of a rendering."""
    calib = seq.calibration()
    image = [torch.from_numpy(np.ascontiguousarray(v[i])).permute(2, 0, 1)[None].float() / 255 for v in
             (seq.rgb, seq.right_rgb)]
    depth = torch.from_numpy(np.nan_to_num(seq.depth[i], nan=0.0))[None, None].float()
    T = torch.eye(4)[None]
    T[0, :3, :3], T[0, :3, 3] = torch.from_numpy(calib.R), torch.from_numpy(calib.T)
    K1, K2 = (torch.from_numpy(k)[None].float() for k in (calib.K1, calib.K2))
    return *image, depth, K1, K2, T


def test_a_plane_shifted_by_its_disparity_warps_exactly():
    """A plane at Z with baseline b: the right view is the left shifted by f b / Z pixels."""
    f, b, shift = 80.0, 5.0, 8  # focal and disparity in pixels, baseline in mm
    K = torch.tensor([[f, 0, (W - 1) / 2], [0, f, (H - 1) / 2], [0, 0, 1]])[None]
    T = torch.eye(4)[None]
    T[0, 0, 3] = -b
    g = torch.Generator().manual_seed(0)
    left = torch.nn.functional.interpolate(torch.rand(1, 3, H // 4, W // 4, generator=g), size=(H, W), mode="bicubic")
    right = torch.roll(left, shifts=-shift, dims=-1)  # x_right = x_left - f b / z
    warped, inside = stereo_warp(right, torch.full((1, 1, H, W), f * b / shift), K, K, T)
    torch.testing.assert_close(warped[..., shift:], left[..., shift:], atol=1e-4, rtol=0)
    assert not inside[..., : shift // 2].any() and inside[..., shift + 1 :].all()  # left border: not in the right view


def test_true_depth_explains_a_rendered_stereo_pair_better_than_wrong_depths():
    seq = render_sequence(1, W, H, seed=3, scene="surface", stereo=True)
    left, right, depth, K1, K2, T = _pair_tensors(seq)
    valid = (depth > 0).float()

    def loss(d):
        return stereo_photometric_loss(d.clamp_min(1.0), left, right, K1, K2, T, valid).item()

    true = loss(depth)
    flat = torch.full_like(depth, float(depth[depth > 0].median()))
    assert true < 0.85 * loss(depth * 1.3)  # rendered noise and highlights keep the true error above 0
    assert true < 0.85 * loss(depth / 1.3)
    assert true < 0.85 * loss(flat)


def test_the_students_depth_is_taken_to_the_labels_millimetres():
    g = torch.Generator().manual_seed(1)
    label = 40 + 30 * torch.rand(2, 1, 8, 10, generator=g)
    weight = torch.ones_like(label)
    weight[:, :, :4] = 0  # unlabelled pixels do not count
    student = label / torch.tensor([50.0, 0.02])[:, None, None, None]
    student[:, :, :4] = 1e3
    torch.testing.assert_close(metric_scale(student, label, weight).flatten(), torch.tensor([50.0, 0.02]))


def _shifted_plane_views(f: float = 80.0, b: float = 5.0, shift: int = 8):
    """StereoViews of one textured plane whose right view is the left shifted by `shift` px: depth f b / shift."""
    g = torch.Generator().manual_seed(0)
    left = torch.nn.functional.interpolate(torch.rand(1, 3, H // 4, W // 4, generator=g), size=(H, W), mode="bicubic")
    right = torch.roll(left, shifts=-shift, dims=-1)
    pair = (torch.stack([left[0], right[0]]).permute(0, 2, 3, 1).clamp(0, 1) * 255).round().byte().numpy()
    K = torch.tensor([[f, 0, (W - 1) / 2], [0, f, (H - 1) / 2], [0, 0, 1]])
    T = torch.eye(4)
    T[0, 3] = -b
    return StereoViews(pair[None], K, K, T), f * b / shift


def test_the_baseline_fixes_the_scale_of_a_relative_depth():
    views, true_mm = _shifted_plane_views()
    relative = torch.full((1, 1, H, W), 0.25)  # a relative network's output: true depth / 200

    def loss(mm_per_unit: float):
        return views.photometric(relative * mm_per_unit, [0]), views.coverage(relative * mm_per_unit, [0])

    scales = np.geomspace(1.0, 1e4, 81)
    assert best_scale(loss, scales) == pytest.approx(true_mm / 0.25, rel=0.06)
    assert views.coverage(relative * 1.0, [0]) == 0  # far too near: nothing lands in the right view


def test_self_supervised_training_on_a_stereo_source_gives_the_mm_scale_a_gradient():
    views, _ = _shifted_plane_views()
    n = 3
    rgb = np.repeat(views.pairs[:, 0], n, axis=0)
    stereo = StereoViews(np.repeat(views.pairs, n, axis=0), views.K_left, views.K_right, views.right_T_left)
    K = np.repeat(views.K_left.numpy()[None], n, axis=0)
    data = FrameTriples(rgb, K, None, np.array([[0, 1, 2]]), stereo)
    options = VideoOptions(model="meter-xxs", model_options={"input_size": (H, W)}, from_scratch=True, steps=2,
                           batch_size=1, warmup=1, val_every=100, device="cpu", scales=1)
    trainer = VideoTrainer(options, data, None, lambda r: None)
    start = trainer.nets["scale"]().item()
    record = trainer.step()
    assert record["stereo_photometric"] > 0 and record["mm_per_unit"] == pytest.approx(start, rel=0.01)
    assert trainer.nets["scale"].log_scale.grad is not None and trainer.nets["scale"].log_scale.grad != 0
    assert "scale_network" in trainer.counts()
