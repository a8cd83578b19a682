"""The left-right photometric term: the calibrated pair at the loss size, and the student's relative depth taken to
millimetres before warping, by the stereo teacher's labels (`endodepth adapt`) or by a learnt scale that the known
baseline fixes (`endodepth train --objective self-supervised`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from torch import nn

from endodepth.frame import Frame, StereoCalibration
from endodepth.train.photometric import stereo_photometric_loss, stereo_warp
from endodepth.vis.masks import specular_mask

WEIGHT = 1.0  # default weight of the photometric term beside the pseudo-label terms (both about 0.05-0.3 at first)


def small_pair(frame: Frame, size: tuple[int, int]) -> np.ndarray:
    """The left and right views area-shrunk to `size` (h, w): (2, h, w, 3) uint8."""
    h, w = size
    return np.stack([cv2.resize(v, (w, h), interpolation=cv2.INTER_AREA) for v in (frame.rgb, frame.right)])


def metric_scale(depth: torch.Tensor, label: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """(B, 1, 1, 1) factors taking the student's depth to the label's unit: the exp of the mean log ratio over
    the labelled pixels (detached: the scale comes from the teacher, the photometric term shapes the depth)."""
    valid = (weight > 0).to(depth.dtype)
    ratio = (label.clamp_min(1e-6).log() - depth.clamp_min(1e-6).log()) * valid
    mean = ratio.sum((1, 2, 3)) / valid.sum((1, 2, 3)).clamp_min(1.0)
    return mean.exp().detach()[:, None, None, None]


@dataclass
class StereoViews:
    """The training frames' left and right views at the loss size (N, h, w, 3) uint8, and the pair's geometry there."""

    pairs: np.ndarray  # (N, 2, h, w, 3)
    K_left: torch.Tensor  # (3, 3) at the loss size
    K_right: torch.Tensor
    right_T_left: torch.Tensor  # (4, 4), x_right = R x_left + T in mm
    weight: float = WEIGHT
    keep: np.ndarray | None = None  # (N, h, w) bool: left pixels the term looks at (None: all)

    @classmethod
    def build(cls, pairs: Sequence[np.ndarray], calib: StereoCalibration, full_size: tuple[int, int],
              weight: float = WEIGHT, mask_specular: bool = False) -> StereoViews:
        """From `small_pair` outputs of frames whose views are `full_size` (width, height); with `mask_specular`
        the left views' specular highlights are left out (they sit where the light is mirrored, not on the surface)."""
        pairs = np.stack(pairs)
        h, w = pairs.shape[2:4]
        shrink = np.diag([w / full_size[0], h / full_size[1], 1.0])
        T = np.eye(4)
        T[:3, :3], T[:3, 3] = calib.R, calib.T
        K1, K2, T = (torch.from_numpy(np.asarray(a, np.float32)) for a in (shrink @ calib.K1, shrink @ calib.K2, T))
        keep = np.stack([~specular_mask(p[0], dilate=1) for p in pairs]) if mask_specular else None
        return cls(pairs, K1, K2, T, weight, keep)

    def loss(self, depth: torch.Tensor, label: torch.Tensor, weight: torch.Tensor,
             picks: Sequence[int]) -> torch.Tensor:
        """`weight` x the photometric error of the picked frames' right views warped into the left by the
        student's depth (B, 1, h, w), scaled to mm by the labels."""
        return self.weight * self.photometric(depth * metric_scale(depth, label, weight), picks)

    def photometric(self, depth_mm: torch.Tensor, picks: Sequence[int]) -> torch.Tensor:
        """The photometric error of the picked frames' right views warped into the left by `depth_mm` (B, 1, h, w):
        the known baseline makes it depend on the depth's metric scale."""
        views = torch.from_numpy(self.pairs[list(picks)]).to(depth_mm.device).permute(0, 1, 4, 2, 3).float() / 255.0
        b = len(views)
        Ks = [k.to(depth_mm.device).expand(b, 3, 3) for k in (self.K_left, self.K_right)]
        pose = self.right_T_left.to(depth_mm.device).expand(b, 4, 4)
        keep = None if self.keep is None else torch.from_numpy(self.keep[list(picks)])[:, None].to(depth_mm)
        return stereo_photometric_loss(depth_mm, views[:, 0], views[:, 1], *Ks, pose, keep)

    def coverage(self, depth_mm: torch.Tensor, picks: Sequence[int]) -> torch.Tensor:
        """The fraction of left pixels that `depth_mm` (B, 1, h, w) puts inside the right view."""
        b = len(depth_mm)
        right = torch.zeros_like(depth_mm)
        Ks = [k.to(depth_mm.device).expand(b, 3, 3) for k in (self.K_left, self.K_right)]
        pose = self.right_T_left.to(depth_mm.device).expand(b, 4, 4)
        return stereo_warp(right, depth_mm, *Ks, pose)[1].float().mean()


class DepthScale(nn.Module):
    """Millimetres per unit of the network's depth, learnt (as a log) beside the network: on stereo sources
    the left-right term gives it a gradient, so a relative network's output becomes metric."""

    def __init__(self, mm_per_unit: float = 1.0) -> None:
        super().__init__()
        self.log_scale = nn.Parameter(torch.tensor(float(np.log(mm_per_unit))))

    def forward(self) -> torch.Tensor:
        """The current scale (a 0-d tensor)."""
        return self.log_scale.exp()


def best_scale(loss: Callable[[float], tuple[torch.Tensor, torch.Tensor]], scales: np.ndarray,
               min_coverage: float = 0.5) -> float:
    """The scale of `scales` with the lowest left-right loss among those whose warped points cover at least
    `min_coverage` of the right view: where the learnt scale starts, since the term has no gradient while the
    points fall outside (depth far off the metric one). `loss(s)` gives (loss, coverage)."""
    with torch.no_grad():
        results = [tuple(float(v) for v in loss(float(s))) for s in scales]
    losses = [value if covered >= min_coverage else np.inf for value, covered in results]
    return float(scales[int(np.argmin(losses))])
