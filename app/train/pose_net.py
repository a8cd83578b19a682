"""What self-supervised depth trains beside the depth: the relative-pose network, a ResNet-18 on two stacked
frames (monodepth2's PoseDecoder), and for sources without a calibration the intrinsics: EndoDAC's head on
the pose features (one K per frame pair, `endodepth train`) or one learnt K per clip (`endodepth adapt`).

Input: a source and the target frame, RGB in [0, 1], stacked to 6 channels (AF-SfMLearner's
order [source, target], never inverted). Output: `src_T_tgt`, the (B, 4, 4) transform from the
target camera to the source camera, as axis-angle and translation scaled by `scale` (monodepth2 0.01,
AF-SfMLearner 0.001) so that training starts from (almost) no motion. Translation is in the unit of
the depth it is trained with.
"""

from __future__ import annotations

import timm
import torch
import torch.nn.functional as F
from torch import nn

from endodepth.train.photometric import pose_matrix

POSE_SCALE = 0.01
CENTRE_RANGE = 0.25  # the principal point stays within 0.5 +- this of the image size
_MEAN, _STD = 0.45, 0.225


class IntrinsicsHead(nn.Module):
    """EndoDAC's intrinsics head (`intrinsics_decoder.py`): from the pose decoder's last 256-channel feature
    (before its ReLU), global-average-pooled, fx, fy = (softplus(1x1 conv) + 0.5) (W, H) for images of `size`
    (h, w): a valid K (positive focal lengths) per pair.

    Deviation from EndoDAC: its principal point (1x1 conv + 0.5) (W, H) is unbounded (it drifted to 0.80 H in
    a run); here cx, cy = (0.5 + 0.25 tanh(1x1 conv)) (W, H), inside the image's central half, starting at
    the centre as EndoDAC's does.
    """

    def __init__(self, size: tuple[int, int], width: int = 256) -> None:
        super().__init__()
        self.size = size
        self.focal = nn.Conv2d(width, 2, 1)
        self.centre = nn.Conv2d(width, 2, 1)

    def forward(self, feature: torch.Tensor) -> torch.Tensor:
        """(B, 3, 3) intrinsics from (B, 256, h, w) features."""
        h, w = self.size
        pooled = feature.mean((2, 3), keepdim=True)
        scale = feature.new_tensor([w, h])
        focal = (F.softplus(self.focal(pooled).flatten(1)) + 0.5) * scale
        centre = (0.5 + CENTRE_RANGE * torch.tanh(self.centre(pooled).flatten(1))) * scale
        K = torch.zeros(len(feature), 3, 3, dtype=feature.dtype, device=feature.device)
        K[:, 0, 0], K[:, 1, 1] = focal[:, 0], focal[:, 1]
        K[:, 0, 2], K[:, 1, 2], K[:, 2, 2] = centre[:, 0], centre[:, 1], 1
        return K


class PoseNet(nn.Module):
    """ResNet-18 (6 input channels, random init) + 1x1 squeeze, two 3x3 convs and a 1x1 to 6 numbers;
    with `intrinsics_size` (h, w) also EndoDAC's intrinsics head for images of that size."""

    def __init__(self, input_size: tuple[int, int] | None = (64, 80), scale: float = POSE_SCALE,
                 intrinsics_size: tuple[int, int] | None = None) -> None:
        super().__init__()
        self.input_size = input_size
        self.scale = scale
        self.encoder = timm.create_model("resnet18", pretrained=False, in_chans=6, num_classes=0, global_pool="")
        width = self.encoder.num_features
        self.decoder = nn.Sequential(
            nn.Conv2d(width, 256, 1), nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, 3, padding=1),
        )
        self.head = nn.Sequential(nn.ReLU(), nn.Conv2d(256, 6, 1))
        self.intrinsics = None if intrinsics_size is None else IntrinsicsHead(intrinsics_size)

    def forward(self, source: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Axis-angle (B, 3) and translation (B, 3) of `src_T_tgt`, and with the intrinsics head K (B, 3, 3)."""
        x = torch.cat([source, target], 1)
        if self.input_size is not None and tuple(x.shape[-2:]) != tuple(self.input_size):
            x = F.interpolate(x, size=self.input_size, mode="bilinear", align_corners=False, antialias=True)
        feature = self.decoder(self.encoder.forward_features((x - _MEAN) / _STD))
        out = self.head(feature).mean((2, 3)) * self.scale
        if self.intrinsics is None:
            return out[:, :3], out[:, 3:]
        return out[:, :3], out[:, 3:], self.intrinsics(feature)

    def transform(self, source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """`src_T_tgt` (B, 4, 4) for a batch of source and target frames."""
        return pose_matrix(*self(source, target)[:2])


class LearnedIntrinsics(nn.Module):
    """One K for the whole clip, learnt with the depth and the poses when the source has no calibration
    (as EndoDAC and AF-SfMLearner learn it, but one K per clip rather than one per frame pair).

    Starts at the assumed K (at the loss size): focal lengths are exp(a) times the assumed ones, the
    principal point moves at most 10% of the frame's width / height (tanh), so training starts where
    the assumption is and cannot run away.
    """

    def __init__(self, K: torch.Tensor, size: tuple[int, int]) -> None:
        super().__init__()
        self.register_buffer("K0", torch.as_tensor(K, dtype=torch.float32).reshape(3, 3).clone())
        self.size = size  # (h, w) of the images K is for
        self.raw = nn.Parameter(torch.zeros(4))

    def forward(self) -> torch.Tensor:
        """The current (3, 3) K."""
        h, w = self.size
        K0, raw = self.K0, self.raw
        fx, fy = K0[0, 0] * raw[0].exp(), K0[1, 1] * raw[1].exp()
        cx, cy = K0[0, 2] + 0.1 * w * raw[2].tanh(), K0[1, 2] + 0.1 * h * raw[3].tanh()
        zero, one = torch.zeros_like(fx), torch.ones_like(fx)
        return torch.stack([torch.stack([fx, zero, cx]), torch.stack([zero, fy, cy]), torch.stack([zero, zero, one])])
