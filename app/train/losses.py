"""Supervised depth losses as small pure functions on (B, 1, H, W) tensors with a validity mask.

All work on log depth, so they are blind to a global scale of the prediction: the models are
relative and evaluation median-scales them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def silog(
    log_pred: torch.Tensor, log_gt: torch.Tensor, valid: torch.Tensor, variance_focus: float = 0.85
) -> torch.Tensor:
    """Scale-invariant log loss (Eigen et al.; BTS): sqrt(mean g^2 - lambda (mean g)^2) per image, g = log ratio.

    lambda = 1 ignores the scale entirely; below 1 a little of it is learnt. Mean over images.
    `valid` may hold weights in [0, 1] (e.g. a teacher's confidence): the means are then weighted.
    """
    g = (log_pred - log_gt) * (valid > 0)
    n = valid.sum(dim=(1, 2, 3)).clamp_min(1e-6)
    mean = (valid * g).sum(dim=(1, 2, 3)) / n
    mean_sq = (valid * g * g).sum(dim=(1, 2, 3)) / n
    return (mean_sq - variance_focus * mean * mean).clamp_min(1e-8).sqrt().mean()


def gradient_matching(
    log_pred: torch.Tensor, log_gt: torch.Tensor, valid: torch.Tensor, scales: int = 3
) -> torch.Tensor:
    """Multi-scale gradient matching of the log-depth difference (MiDaS): sharp, scale-free edges.

    At each scale the difference of log depths is compared between neighbouring valid pixels.
    """
    total = log_pred.new_zeros(())
    diff, mask = (log_pred - log_gt) * valid, valid
    for s in range(scales):
        if s:
            diff = F.avg_pool2d(diff, 2)
            mask = (F.avg_pool2d(mask, 2) > 0.999).to(mask.dtype)
            diff = diff * mask
        gx = (diff[..., :, 1:] - diff[..., :, :-1]).abs() * mask[..., :, 1:] * mask[..., :, :-1]
        gy = (diff[..., 1:, :] - diff[..., :-1, :]).abs() * mask[..., 1:, :] * mask[..., :-1, :]
        total = total + (gx.sum() + gy.sum()) / mask.sum().clamp_min(1)
    return total / scales


def normalised_log_depth(depth: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """log depth minus each image's median log depth over its valid pixels (0 where invalid)."""
    log_d = torch.where(valid > 0, depth.clamp_min(1e-6).log(), torch.zeros_like(depth))
    medians = torch.stack(
        [ld[v > 0].median() if bool((v > 0).any()) else ld.new_zeros(()) for ld, v in zip(log_d, valid)]
    )
    return (log_d - medians.view(-1, 1, 1, 1)) * valid


def ssi_inverse(log_pred: torch.Tensor, log_gt: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Scale-and-shift-invariant loss on inverse depth (MiDaS, Ranftl et al. 2020): both inverse
    depths are shifted by their median and divided by their mean absolute deviation over the
    valid pixels, then compared by mean absolute difference. Mean over images."""
    losses = []
    for lp, lg, v in zip(log_pred, log_gt, valid):
        m = v > 0
        if int(m.sum()) < 2:
            continue
        p, g = torch.exp(-lp[m]), torch.exp(-lg[m])
        p = (p - p.median()) / ((p - p.median()).abs().mean() + 1e-6)
        g = (g - g.median()) / ((g - g.median()).abs().mean() + 1e-6)
        losses.append((p - g).abs().mean())
    return torch.stack(losses).mean() if losses else log_pred.new_zeros(())
