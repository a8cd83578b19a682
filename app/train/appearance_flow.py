"""AF-SfMLearner's appearance flow: a per-pixel brightness residual that calibrates the target frame for the
light moving with the endoscope, so that the photometric error measures geometry rather than lighting.

As in AF-SfMLearner (`networks/appearance_flow_decoder.py`, `trainer_end_to_end.py`, `layers.get_smooth_bright`):
- the net reads [registered source, target] (6 channels) and gives a 3-channel tanh residual C at 4 scales;
- the calibrated target is clamp(I_t + C * M, 0, 1), M the occlusion mask;
- the constraint term is the M-masked mean of |calibrated - registered| (weight 0.01), and the
  smoothness term is |grad C| exp(-|grad (I_t - registered)|) over M (weight 0.01).
Differences: AF-SfMLearner registers the source by a trained optical flow; this project has no flow
net, so the registered source is the source warped by the depth and pose (detached), and M is the
"lands inside the source view" mask. The encoder is a small four-level convolutional net, not a ResNet-18.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

CONSTRAINT, SMOOTHNESS = 0.01, 0.01  # AF-SfMLearner's transform_constraint and transform_smoothness
CHANNELS = (16, 32, 64, 128)


def _block(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1), nn.ELU(inplace=True))


class AppearanceFlowNet(nn.Module):
    """[registered source, target] (B, 6, H, W) in [0, 1] -> tanh brightness residuals (B, 3, H/2**s, W/2**s), s = 0..3.

    A four-level encoder (stride 2 each) and a decoder with skips; each scale's output conv starts at
    zero, so training starts from "no correction".
    """

    def __init__(self, channels: tuple[int, ...] = CHANNELS) -> None:
        super().__init__()
        c = (6, *channels)
        self.down = nn.ModuleList(_block(c[i], c[i + 1], 2) for i in range(len(channels)))
        self.up = nn.ModuleList(_block(c[i + 1] + (c[i] if i else 0), max(c[i], 16)) for i in range(len(channels)))
        self.out = nn.ModuleList(nn.Conv2d(max(c[i], 16), 3, 3, 1, 1) for i in range(len(channels)))
        for conv in self.out:
            nn.init.zeros_(conv.weight)
            nn.init.zeros_(conv.bias)

    def forward(self, registered: torch.Tensor, target: torch.Tensor) -> list[torch.Tensor]:
        """The residual at scales 0 (full resolution) to 3."""
        x = torch.cat([registered, target], 1)
        skips = [x]
        for down in self.down:
            skips.append(down(skips[-1]))
        y, outs = skips[-1], []
        for i in reversed(range(len(self.down))):
            y = F.interpolate(y, size=skips[i].shape[-2:], mode="nearest")
            y = self.up[i](torch.cat([y, skips[i]], 1) if i else y)
            outs.append(torch.tanh(self.out[i](y)))
        return outs[::-1]


def calibrated_target(target: torch.Tensor, flow: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """clamp(I_t + C * M, 0, 1) with C upsampled (bilinear) to the target's size and M (B, 1, H, W) detached."""
    if flow.shape[-2:] != target.shape[-2:]:
        flow = F.interpolate(flow, size=target.shape[-2:], mode="bilinear", align_corners=False)
    return (target + flow * mask.detach()).clamp(0.0, 1.0)


def constraint(calibrated: torch.Tensor, registered: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The mask-weighted mean of the channel-mean |calibrated - registered| (registered detached)."""
    diff = (calibrated - registered.detach()).abs().mean(1, keepdim=True)
    return (diff * mask).sum() / mask.sum().clamp_min(1.0)


def brightness_smoothness(flow: torch.Tensor, target: torch.Tensor, registered: torch.Tensor,
                          mask: torch.Tensor) -> torch.Tensor:
    """AF-SfMLearner's `get_smooth_bright`: |grad C| exp(-|grad (I_t - registered)|), x and y, over the mask.

    `flow` is at the target's size; each direction's sum is divided by its mask's sum.
    """
    residue = target - registered.detach()
    total = flow.new_zeros(())
    for dim in (-1, -2):
        n = flow.shape[dim] - 1
        grad_c = (flow.narrow(dim, 0, n) - flow.narrow(dim, 1, n)).abs().mean(1, keepdim=True)
        grad_r = (residue.narrow(dim, 0, n) - residue.narrow(dim, 1, n)).abs().mean(1, keepdim=True)
        m = mask.narrow(dim, 0, n)
        total = total + (grad_c * torch.exp(-grad_r) * m).sum() / m.sum().clamp_min(1.0)
    return total
