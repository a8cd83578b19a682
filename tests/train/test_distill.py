"""Distillation: the coarse scales carry real weight (not the reference code's 1//4 = 0); confidence weighs pixels."""

import numpy as np
import torch

from endodepth import models
from endodepth.frame import Frame
from endodepth.train.distill import SCALE_WEIGHTS, distillation_loss, multiscale_silog, teacher_labels


def _maps(seed=0, size=(32, 40)):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(2, 1, *size, generator=g) * 2 + 1


def test_scale_weights_are_fractions_and_every_coarse_term_is_nonzero():
    assert SCALE_WEIGHTS == (1.0, 0.5, 0.25, 0.125)
    pred, label = _maps(0).log(), _maps(1).log()
    terms = multiscale_silog(pred, label, torch.ones_like(pred))
    assert list(terms) == ["silog_0", "silog_1", "silog_2", "silog_3"]
    assert all(v.item() > 1e-3 for v in terms.values())


def test_a_coarse_term_alone_gives_the_student_a_gradient():
    pred = _maps(0).log().requires_grad_()
    terms = multiscale_silog(pred, _maps(1).log(), torch.ones_like(pred))
    (grad,) = torch.autograd.grad(terms["silog_3"], pred)
    assert grad.abs().sum() > 0


def test_zero_confidence_pixels_do_not_count():
    label = _maps(1)
    depth = label.clone()
    depth[:, :, :, :20] *= 3.0  # wrong on the left half
    weight = torch.ones_like(label)
    weight[:, :, :, :20] = 0.0
    weighted = sum(distillation_loss(depth, label, weight).values()).item()
    uniform = sum(distillation_loss(depth, label, torch.ones_like(label)).values()).item()
    assert weighted < 1e-2 < uniform


def test_an_mc_dropout_teacher_labels_frames_with_its_mean_and_confidence():
    torch.manual_seed(0)
    teacher = models.create("depth-anything-v2-vits", short_side=56, dropout=0.3, metric=True)
    rng = np.random.default_rng(0)
    frames = [Frame(i, 0.0, rng.integers(0, 255, (48, 64, 3), dtype=np.uint8), np.eye(3)) for i in range(2)]
    depth, weight = teacher_labels(teacher, frames, (12, 16), samples=6)
    assert depth.shape == weight.shape == (2, 1, 12, 16)
    valid = weight > 0
    assert valid.any() and torch.all(depth[valid] > 0)
    assert 0 < weight[valid].min() and weight.max() <= 1 and weight[valid].std() > 0  # the spread varies
    _, single = teacher_labels(teacher, frames, (12, 16), samples=1)
    assert torch.all(single[single > 0] == 1.0)  # one pass: no spread, uniform confidence
