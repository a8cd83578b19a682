"""Depth Anything V2 (DINOv2 ViT + DPT head) with its own preprocessing, official checkpoints as-is.

Relative models output affine-invariant inverse depth. With `metric=True` the head ends in
a Sigmoid scaled by `max_depth`, given here in millimetres: the official metric
checkpoints are trained in metres, so load them with `max_depth` = their max depth x 1000
(hypersim: 20 m -> 20000, vkitti: 80 m -> 80000) to get millimetres.
"""

from __future__ import annotations

from collections.abc import Mapping

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from endodepth.kinds import METRIC_MM, RELATIVE_INVERSE
from endodepth.models.base import DepthEstimator
from endodepth.models.dinov2 import BACKBONES, PATCH, create_dinov2, intermediate_tokens
from endodepth.models.dpt import DPTHead
from endodepth.models.registry import register

MEAN = np.array([0.485, 0.456, 0.406])
STD = np.array([0.229, 0.224, 0.225])
# size -> (head features, channels of the four reassembled maps)
CONFIGS: dict[str, tuple[int, tuple[int, ...]]] = {
    "vits": (64, (48, 96, 192, 384)),
    "vitb": (128, (96, 192, 384, 768)),
    "vitl": (256, (256, 512, 1024, 1024)),
}


def resize_shape(height: int, width: int, input_size: int = 518) -> tuple[int, int]:
    """Depth Anything's network size (H, W): keep the aspect ratio, both sides >= `input_size`,
    each rounded to a multiple of 14 (up when rounding would fall below `input_size`)."""
    scale = max(input_size / height, input_size / width)

    def side(x: float) -> int:
        y = int(np.round(x / PATCH) * PATCH)
        return y if y >= input_size else int(np.ceil(x / PATCH) * PATCH)

    return side(scale * height), side(scale * width)


class DepthAnythingV2(DepthEstimator):
    """Depth Anything V2 for one backbone size; `forward` takes a normalised (B, 3, 14h, 14w) batch."""

    kind = RELATIVE_INVERSE
    input_size = (518, 518)

    def __init__(
        self, encoder: str = "vits", metric: bool = False, max_depth: float = 150.0, dropout: float = 0.1,
        short_side: int = 518,
    ) -> None:
        super().__init__()
        features, channels = CONFIGS[encoder]
        self.layer_indices = BACKBONES[encoder][1]
        self.backbone = create_dinov2(encoder)
        self.depth_head = DPTHead(self.backbone.embed_dim, features, channels, metric=metric, dropout=dropout)
        self.metric = metric
        self.max_depth = float(max_depth)
        self.short_side = short_side
        self.kind = METRIC_MM if metric else RELATIVE_INVERSE
        self.input_size = (short_side, short_side)
        self.default_layers = tuple(f"depth_head.scratch.layer{i}_rn" for i in range(1, 5)) + tuple(
            f"depth_head.scratch.refinenet{i}" for i in (4, 3, 2, 1)
        )

    def preprocess(self, rgb: np.ndarray) -> torch.Tensor:
        """Depth Anything's `image2tensor`: /255, bicubic resize (cv2), ImageNet normalisation."""
        height, width = resize_shape(rgb.shape[1], rgb.shape[2], self.short_side)
        batch = [
            ((cv2.resize(im / 255.0, (width, height), interpolation=cv2.INTER_CUBIC) - MEAN) / STD).astype(np.float32)
            for im in rgb
        ]
        return torch.from_numpy(np.stack(batch)).permute(0, 3, 1, 2).to(self.device)

    def features(self, x: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """The four (patch tokens, class token) pairs the head reads."""
        return intermediate_tokens(self.backbone, x, self.layer_indices)

    def _finish(self, out: torch.Tensor) -> torch.Tensor:
        return out * self.max_depth if self.metric else F.relu(out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        patch_h, patch_w = x.shape[-2] // PATCH, x.shape[-1] // PATCH
        return self._finish(self.depth_head(self.features(x), patch_h, patch_w))

    def _sampled_output(
        self, levels: dict[str, torch.Tensor], patch_h: int, patch_w: int, samples: int
    ) -> torch.Tensor:
        """The output from the decoder levels, each image `samples` times in a row (the stages after the MC dropout)."""
        path_1 = levels["path_1"].repeat_interleave(samples, dim=0)
        return self._finish(self.depth_head.predict_from(path_1, patch_h, patch_w))

    def stochastic_forward(self, x: torch.Tensor, samples: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """MC-dropout: backbone and decoder once, the dropout-carrying stages `samples` times."""
        if samples <= 1:
            return self.forward(x), None
        patch_h, patch_w = x.shape[-2] // PATCH, x.shape[-1] // PATCH
        levels = self.depth_head.forward_levels(self.features(x), patch_h, patch_w)
        dropout = self.depth_head.dropout
        was_training = dropout.training
        dropout.train()
        try:
            out = self._sampled_output(levels, patch_h, patch_w, samples)
        finally:
            dropout.train(was_training)
        out = out.unflatten(0, (x.shape[0], samples))
        return out.mean(dim=1), out.std(dim=1)


def da2_checkpoint_filter(state_dict: Mapping[str, torch.Tensor], model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Official Depth Anything V2 keys (`pretrained.*`, `depth_head.*`) -> ours; ours pass through.

    The backbone's `pretrained.` prefix becomes `backbone.` (the rest already are timm's
    names) and DINOv2's unused `mask_token` is dropped.
    """
    out = {}
    for key, value in state_dict.items():
        if key == "pretrained.mask_token":
            continue
        out["backbone." + key[len("pretrained."):] if key.startswith("pretrained.") else key] = value
    return out


def _register(encoder: str, size_name: str) -> None:
    @register(
        f"depth-anything-v2-{encoder}",
        description=f"Depth Anything V2 {size_name} (relative inverse depth; metric=True, max_depth=mm for metric)",
        checkpoint_filter=da2_checkpoint_filter,
    )
    def factory(**options) -> DepthAnythingV2:
        return DepthAnythingV2(encoder, **options)


for _encoder, _size_name in (("vits", "Small"), ("vitb", "Base"), ("vitl", "Large")):
    _register(_encoder, _size_name)
