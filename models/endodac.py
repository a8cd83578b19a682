"""EndoDAC (Cui et al. 2024): Depth Anything ViT-B/14 with DV-LoRA MLPs, conv necks and
multi-scale sigmoid disparity heads. Its `depth_model.pth` loads strictly (same key layout).

The output is EndoDAC's scaled disparity 1/max_depth + (1/min_depth - 1/max_depth) * sigmoid
(min 0.1, max 150), kind RELATIVE_INVERSE: 1/output is the depth EndoDAC's evaluation
median-scales.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from endodepth.kinds import RELATIVE_INVERSE
from endodepth.models.adapters import add_dvlora, add_residual_blocks, mark_trainable
from endodepth.models.base import DepthEstimator
from endodepth.models.dinov2 import PATCH, create_dinov2, intermediate_tokens
from endodepth.models.dpt import DPTDecoder
from endodepth.models.registry import register


class HeadDepth(nn.Module):
    """conv 3x3 -> x2 bilinear (corners aligned) -> conv 3x3 -> ReLU -> conv 1x1 to one channel."""

    def __init__(self, features: int) -> None:
        super().__init__()
        self.head = nn.Sequential(
            nn.Conv2d(features, features // 2, 3, padding=1),
            nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True),
            nn.Conv2d(features // 2, 32, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(32, 1, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(x)


class EndoDACHead(DPTDecoder):
    """The DPT decoder with a sigmoid disparity head on each of path_1 ... path_4."""

    def __init__(self, in_channels: int = 768, features: int = 128, out_channels=(96, 192, 384, 768)) -> None:
        super().__init__(in_channels, features, out_channels)
        for i in range(1, 5):
            setattr(self, f"conv_depth_{i}", HeadDepth(features))

    def forward(
        self, features: list[tuple[torch.Tensor, torch.Tensor]], patch_h: int, patch_w: int
    ) -> list[torch.Tensor]:
        """Disparities in (0, 1), finest first: 4x, 2x, 1x, 1/2x the decoder's finest level / 2."""
        levels = self.forward_levels(features, patch_h, patch_w)
        return [torch.sigmoid(getattr(self, f"conv_depth_{i}")(levels[f"path_{i}"])) for i in range(1, 5)]


class EndoDAC(DepthEstimator):
    """EndoDAC's depth network; input RGB in [0, 1] (no normalisation) at 256x320, run at 224x280."""

    kind = RELATIVE_INVERSE
    input_size = (256, 320)
    align_corners = False  # EndoDAC's evaluation resizes with cv2 (half-pixel centres)

    def __init__(
        self, rank: int = 4, residual_blocks=(2, 5, 8, 11), min_depth: float = 0.1, max_depth: float = 150.0,
        network_size=(224, 280),
    ) -> None:
        super().__init__()
        self.encoder = create_dinov2("vitb")
        # DINOv2's mask token, unused, kept so depth_model.pth loads with every key matched
        self.encoder.mask_token = nn.Parameter(torch.zeros(1, self.encoder.embed_dim), requires_grad=False)
        add_dvlora(self.encoder, ("mlp.fc1", "mlp.fc2"), rank, rank)
        add_residual_blocks(self.encoder, residual_blocks)
        self.depth_head = EndoDACHead()
        self.min_depth, self.max_depth = min_depth, max_depth
        self.network_size = tuple(network_size)
        self.default_layers = tuple(f"depth_head.scratch.refinenet{i}" for i in (4, 3, 2, 1))
        mark_trainable(self, ("depth_head.conv_depth_",))

    def preprocess(self, rgb: np.ndarray) -> torch.Tensor:
        """Lanczos resize to 320x256 (EndoDAC's data loader), [0, 1] RGB."""
        height, width = self.input_size
        batch = np.stack([cv2.resize(im, (width, height), interpolation=cv2.INTER_LANCZOS4) for im in rgb])
        return torch.from_numpy(batch).to(self.device).permute(0, 3, 1, 2).float().div_(255.0)

    def disparities(self, x: torch.Tensor) -> list[torch.Tensor]:
        """EndoDAC's four sigmoid disparity maps (("disp", 0) ... ("disp", 3))."""
        x = F.interpolate(x, size=self.network_size, mode="bilinear", align_corners=True)
        depth = len(self.encoder.blocks)
        tokens = intermediate_tokens(self.encoder, x, tuple(range(depth - 4, depth)))
        return self.depth_head(tokens, x.shape[-2] // PATCH, x.shape[-1] // PATCH)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lo, hi = 1.0 / self.max_depth, 1.0 / self.min_depth
        return lo + (hi - lo) * self.disparities(x)[0]


@register(
    "endodac",
    description="EndoDAC (ViT-B/14, DV-LoRA r=4, conv necks; SCARED self-supervised); loads depth_model.pth",
)
def endodac(**options) -> EndoDAC:
    """EndoDAC with its paper's settings unless `options` change them."""
    return EndoDAC(**options)
