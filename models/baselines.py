"""Two reference answers any network must beat, run through the same path as the networks.

`baseline-constant` predicts the same depth everywhere (after median scaling: the frame's
median depth). `baseline-shading` uses the classic cue of a light at the camera: with
irradiance falling as 1/d^2, depth ~ 1/sqrt(brightness).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from endodepth.kinds import RELATIVE
from endodepth.models.base import DepthEstimator
from endodepth.models.registry import register

_LUMA = (0.299, 0.587, 0.114)


class ConstantDepth(DepthEstimator):
    """Depth 1 at every pixel."""

    kind = RELATIVE

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ones_like(x[:, :1])


class ShadingDepth(DepthEstimator):
    """Depth = 1/sqrt(luminance), luminance box-blurred over `blur` pixels to damp texture."""

    kind = RELATIVE

    def __init__(self, blur: int = 5, floor: float = 1e-3) -> None:
        super().__init__()
        self.blur = int(blur)
        self.floor = float(floor)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        luma = sum(w * x[:, i : i + 1] for i, w in enumerate(_LUMA))
        if self.blur > 1:
            luma = F.avg_pool2d(luma, self.blur, stride=1, padding=self.blur // 2, count_include_pad=False)
        return luma.clamp_min(self.floor).rsqrt()


register(
    "baseline-constant",
    description="reference: the same depth everywhere (median depth after scaling)",
)(ConstantDepth)
register(
    "baseline-shading",
    description="reference: depth ~ 1/sqrt(brightness), the co-located light cue",
)(ShadingDepth)
