"""Training frames from any source (SCARED keyframes, split files, AF-SfMLearner trees, plain layouts, folders, videos).

`load_triples` reads frame triples (t - k, t, t + k) that lie inside one keyframe or video (never
across the parts of a dataset), shrunk to the training size with their K scaled to match, into
memory once. `augment_triples` is monodepth2's augmentation: one colour jitter shared by the three
frames of a triple (network input only; the losses see the original colours) and a horizontal
flip of images and intrinsics together.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from endodepth.errors import InputError
from endodepth.frame import Frame
from endodepth.io.source import Source
from endodepth.train.stereo_term import StereoViews, small_pair


@dataclass
class FrameTriples:
    """Frames (N, h, w, 3) uint8, K (N, 3, 3), ground truth (N, h, w) mm or None, triples (T, 3) of positions;
    for stereo sources the left and right views of the same N frames with the pair's geometry at this size."""

    rgb: np.ndarray
    K: np.ndarray
    depth: np.ndarray | None
    triples: np.ndarray
    stereo: StereoViews | None = None

    def __len__(self) -> int:
        return len(self.triples)

    def batch(self, picks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Centre frames and their ground truth (the `FrameSet.batch` interface that validation reads)."""
        centre = self.triples[np.asarray(picks), 1]
        return self.rgb[centre], self.depth[centre]


def shrink(frame: Frame, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The frame's RGB area-shrunk to `size` (h, w), its K scaled to match and its ground truth (nearest)."""
    h, w = size
    H, W = frame.rgb.shape[:2]
    rgb = cv2.resize(frame.rgb, (w, h), interpolation=cv2.INTER_AREA)
    K = np.diag([w / W, h / H, 1.0]) @ np.asarray(frame.K, np.float64)
    gt = None
    if frame.gt_depth is not None:
        gt = cv2.resize(np.asarray(frame.gt_depth, np.float32), (w, h), interpolation=cv2.INTER_NEAREST)
    return rgb, K.astype(np.float32), gt


def _locate(source: Source) -> Callable[[int], tuple[Source, int]]:
    """Where frame i lives: the part and position for concatenations and splits, else the source itself."""
    locate = getattr(source, "locate", None)
    return locate if locate is not None else (lambda i: (source, i))


def load_triples(source: Source, size: tuple[int, int], frame_step: int = 1, max_triples: int = 2000,
                 with_depth: bool = False, stereo: bool = False) -> FrameTriples:
    """Triples around up to `max_triples` evenly spread centre frames of `source` (neighbours in the same part);
    with `stereo`, also the right views and calibration when every frame read has them."""
    locate, k = _locate(source), frame_step
    centres = []
    for i in range(len(source)):
        part, j = locate(i)
        if j - k >= 0 and j + k < len(part):
            centres.append((part, j))
    if not centres:
        raise InputError(source.path, f"has no frame with neighbours {k} frames before and after in the same clip")
    picks = np.linspace(0, len(centres) - 1, min(len(centres), max_triples)).round().astype(int)
    slots: dict[tuple[int, int], int] = {}
    rgb, Ks, depth, triples, pairs, first = [], [], [], [], [], None
    for part, j in (centres[p] for p in picks):
        row = []
        for d in (-k, 0, k):
            key = (id(part), j + d)
            if key not in slots:
                frame = part[j + d]
                im, K, gt = shrink(frame, size)
                slots[key] = len(rgb)
                rgb.append(im)
                Ks.append(K)
                depth.append(gt if gt is not None else np.full(size, np.nan, np.float32))
                stereo = stereo and frame.is_stereo
                first = first or frame
                if stereo:
                    pairs.append(small_pair(frame, size))
            row.append(slots[key])
        triples.append(row)
    gt = np.stack(depth) if with_depth else None
    views = StereoViews.build(pairs, first.stereo, first.size) if stereo else None
    return FrameTriples(np.stack(rgb), np.stack(Ks), gt, np.asarray(triples), views)


def _grey(x: torch.Tensor) -> torch.Tensor:
    return (0.299 * x[:, :, 0] + 0.587 * x[:, :, 1] + 0.114 * x[:, :, 2])[:, :, None]


def _rotate_hue(x: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """Hue rotation by `angle` (radians, per sample) in YIQ space; x is (B, F, 3, H, W)."""
    to_yiq = x.new_tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
    yiq = torch.einsum("ij,bfjhw->bfihw", to_yiq, x)
    c, s = angle.cos().view(-1, 1, 1, 1), angle.sin().view(-1, 1, 1, 1)
    i, q = yiq[:, :, 1], yiq[:, :, 2]
    yiq = torch.stack([yiq[:, :, 0], c * i - s * q, s * i + c * q], 2)
    return torch.einsum("ij,bfjhw->bfihw", torch.linalg.inv(to_yiq), yiq)


def colour_jitter(x: torch.Tensor, rng: np.random.Generator, p: float = 0.5) -> torch.Tensor:
    """monodepth2's jitter (brightness, contrast, saturation x0.8-1.2, hue +-0.1 turn), p = 0.5, one draw per triple.

    `x` is (B, F, 3, H, W) in [0, 1]; all F frames of a sample get the same draw.
    """
    b = x.shape[0]
    on = torch.from_numpy(rng.random(b) < p).view(-1, 1, 1, 1, 1)
    draw = {k: torch.from_numpy(rng.uniform(lo, hi, b).astype(np.float32)).view(-1, 1, 1, 1, 1)
            for k, (lo, hi) in {"brightness": (0.8, 1.2), "contrast": (0.8, 1.2), "saturation": (0.8, 1.2),
                                "hue": (-0.1, 0.1)}.items()}
    y = x * draw["brightness"]
    mean = _grey(y).mean((1, 2, 3, 4), keepdim=True)
    y = (y - mean) * draw["contrast"] + mean
    grey = _grey(y)
    y = grey + (y - grey) * draw["saturation"]
    y = _rotate_hue(y, draw["hue"].view(-1) * 2 * np.pi)
    return torch.where(on, y.clamp(0, 1), x)


def flips(n: int, rng: np.random.Generator) -> torch.Tensor:
    """Which of `n` samples to flip horizontally (p = 0.5 each)."""
    return torch.from_numpy(rng.random(n) < 0.5)


def flip_batch(x: torch.Tensor, flip: torch.Tensor) -> torch.Tensor:
    """Samples of `x` (B, ...) mirrored along their last axis where `flip` is set."""
    return torch.where(flip.view(-1, *[1] * (x.ndim - 1)), x.flip(-1), x)


def augment_triples(frames: torch.Tensor, K: torch.Tensor, rng: np.random.Generator,
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(network input, loss images, K, which samples were flipped): frames (B, F, 3, H, W) in [0, 1] flipped
    with p = 0.5, then jittered."""
    flip = flips(len(frames), rng)
    frames = flip_batch(frames, flip)
    K = K.clone()
    K[flip, 0, 2] = (frames.shape[-1] - 1) - K[flip, 0, 2]
    return colour_jitter(frames, rng), frames, K, flip
