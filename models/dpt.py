"""The DPT decoder of Depth Anything V2 (same module names, so its checkpoints load as they are)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from endodepth.models.dinov2 import PATCH


class ResidualConvUnit(nn.Module):
    """ReLU-conv-ReLU-conv with a skip connection (no batch norm, as Depth Anything runs it)."""

    def __init__(self, features: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(features, features, 3, padding=1)
        self.conv2 = nn.Conv2d(features, features, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(F.relu(self.conv1(F.relu(x)))) + x


class FeatureFusionBlock(nn.Module):
    """Adds the refined skip input, refines again, upsamples (bilinear, corners aligned), 1x1 conv."""

    def __init__(self, features: int) -> None:
        super().__init__()
        self.out_conv = nn.Conv2d(features, features, 1)
        self.resConfUnit1 = ResidualConvUnit(features)
        self.resConfUnit2 = ResidualConvUnit(features)

    def forward(
        self, x: torch.Tensor, skip: torch.Tensor | None = None, size: tuple[int, int] | torch.Size | None = None
    ) -> torch.Tensor:
        if skip is not None:
            x = x + self.resConfUnit1(skip)
        x = self.resConfUnit2(x)
        resize = {"scale_factor": 2} if size is None else {"size": size}
        x = F.interpolate(x, **resize, mode="bilinear", align_corners=True)
        return self.out_conv(x)


class DPTDecoder(nn.Module):
    """Reassembles four token maps at 1/4, 1/8, 1/16 and 1/32 of the patch grid's scale and fuses them.

    `forward_levels` returns every decoder level, so other heads (metric bins, EndoDAC's
    multi-scale disparity heads) can attach to them.
    """

    def __init__(self, in_channels: int, features: int, out_channels: tuple[int, ...]) -> None:
        super().__init__()
        self.projects = nn.ModuleList(nn.Conv2d(in_channels, c, 1) for c in out_channels)
        self.resize_layers = nn.ModuleList([
            nn.ConvTranspose2d(out_channels[0], out_channels[0], 4, stride=4),
            nn.ConvTranspose2d(out_channels[1], out_channels[1], 2, stride=2),
            nn.Identity(),
            nn.Conv2d(out_channels[3], out_channels[3], 3, stride=2, padding=1),
        ])
        self.scratch = nn.Module()
        for i, c in enumerate(out_channels, start=1):
            setattr(self.scratch, f"layer{i}_rn", nn.Conv2d(c, features, 3, padding=1, bias=False))
        for i in range(1, 5):
            setattr(self.scratch, f"refinenet{i}", FeatureFusionBlock(features))

    def forward_levels(
        self, features: list[tuple[torch.Tensor, torch.Tensor]], patch_h: int, patch_w: int
    ) -> dict[str, torch.Tensor]:
        """bottleneck (= layer4_rn) and the fused paths path_4 (coarsest) ... path_1 (finest)."""
        s = self.scratch
        rn = []
        for i, (tokens, _cls) in enumerate(features):
            x = tokens.transpose(1, 2).reshape(tokens.shape[0], -1, patch_h, patch_w)
            x = self.resize_layers[i](self.projects[i](x))
            rn.append(getattr(s, f"layer{i + 1}_rn")(x))
        path_4 = s.refinenet4(rn[3], size=rn[2].shape[2:])
        path_3 = s.refinenet3(path_4, rn[2], size=rn[1].shape[2:])
        path_2 = s.refinenet2(path_3, rn[1], size=rn[0].shape[2:])
        path_1 = s.refinenet1(path_2, rn[0])
        return {"bottleneck": rn[3], "path_4": path_4, "path_3": path_3, "path_2": path_2, "path_1": path_1}


class DPTHead(DPTDecoder):
    """Depth Anything V2's head: the decoder, then output_conv1, upsampling to the 14-multiple
    input size, and output_conv2 ending in ReLU (relative) or Sigmoid (metric).

    `dropout` sits after output_conv2's first conv and is active only for MC sampling.
    """

    def __init__(
        self, in_channels: int, features: int, out_channels: tuple[int, ...], metric: bool = False, dropout: float = 0.1
    ) -> None:
        super().__init__(in_channels, features, out_channels)
        self.scratch.output_conv1 = nn.Conv2d(features, features // 2, 3, padding=1)
        self.scratch.output_conv2 = nn.Sequential(
            nn.Conv2d(features // 2, 32, 3, padding=1),
            nn.ReLU(True),
            nn.Conv2d(32, 1, 1),
            nn.Sigmoid() if metric else nn.ReLU(True),
            nn.Identity(),
        )
        self.dropout = nn.Dropout(dropout)

    def forward(self, features: list[tuple[torch.Tensor, torch.Tensor]], patch_h: int, patch_w: int) -> torch.Tensor:
        return self.predict_from(self.forward_levels(features, patch_h, patch_w)["path_1"], patch_h, patch_w)

    def predict_from(self, path_1: torch.Tensor, patch_h: int, patch_w: int) -> torch.Tensor:
        """(B, 1, 14*patch_h, 14*patch_w) output from the finest decoder level."""
        return self.scratch.output_conv2[2:](self.output_features(path_1, patch_h, patch_w))

    def output_features(self, path_1: torch.Tensor, patch_h: int, patch_w: int) -> torch.Tensor:
        """The (B, 32, 14*patch_h, 14*patch_w) features before the last 1x1 conv (after the MC dropout),
        which other heads (metric bins) read beside the output."""
        out = self.scratch.output_conv1(path_1)
        out = F.interpolate(out, (patch_h * PATCH, patch_w * PATCH), mode="bilinear", align_corners=True)
        return self.dropout(self.scratch.output_conv2[:2](out))
