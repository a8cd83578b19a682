"""Multi-scale self-supervised photometric loss of monodepth2 and AF-SfMLearner, as small pure functions.

Two conventions (`CONVENTIONS`), chosen explicitly because they differ in more than one knob:
- `monodepth2`: per-pixel minimum reprojection over the source frames with auto-masking,
  pose output x 0.01, smoothness 1e-3;
- `af-sfmlearner`: the mean of the occlusion-masked errors of the two source frames, pose x 0.001,
  smoothness 1e-4 (`endodac`: the same with smoothness 1e-3). Our occlusion mask is the set of
  target pixels that project inside the source image in front of its camera; AF-SfMLearner's
  comes from splatting an optical flow, which this project does not train. AF-SfMLearner's appearance
flow (`train.appearance_flow`) is an option of the occlusion-masked conventions.
Each scale's disparity is upsampled to the full resolution before warping (monodepth2's default),
depth comes from `disp_to_depth(min, max)`, and smoothness at scale s is divided by 2**s.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from endodepth.train.appearance_flow import CONSTRAINT, brightness_smoothness, calibrated_target, constraint
from endodepth.train.appearance_flow import SMOOTHNESS as AF_SMOOTHNESS
from endodepth.train.photometric import min_reprojection, photometric_error, smoothness


@dataclass(frozen=True)
class Convention:
    """What distinguishes the reference works' photometric objectives."""

    name: str
    pose_scale: float
    smoothness: float
    min_reprojection: bool  # True: per-pixel minimum + auto-mask; False: occlusion-masked mean


CONVENTIONS = {
    c.name: c
    for c in (
        Convention("monodepth2", 0.01, 1e-3, True),
        Convention("af-sfmlearner", 0.001, 1e-4, False),
        Convention("endodac", 0.001, 1e-3, False),
    )
}
SCARED_DEPTH_MM = (0.1, 150.0)


def disp_to_depth(disp: torch.Tensor, min_depth: float, max_depth: float) -> tuple[torch.Tensor, torch.Tensor]:
    """monodepth2's map of a sigmoid disparity in [0, 1] to (scaled disparity, depth in [min, max])."""
    lo, hi = 1.0 / max_depth, 1.0 / min_depth
    scaled = lo + (hi - lo) * disp
    return scaled, 1.0 / scaled


def project_grid(depth: torch.Tensor, src_T_tgt: torch.Tensor, K: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Where each target pixel lands in the source: a grid_sample grid (B, H, W, 2), in-view mask (B, 1, H, W)."""
    b, _, h, w = depth.shape
    ys, xs = torch.meshgrid(torch.arange(h, dtype=depth.dtype, device=depth.device),
                            torch.arange(w, dtype=depth.dtype, device=depth.device), indexing="ij")
    pixels = torch.stack([xs, ys, torch.ones_like(xs)]).reshape(1, 3, -1)
    points = torch.linalg.inv(K) @ pixels * depth.reshape(b, 1, -1)
    points = src_T_tgt[:, :3, :3] @ points + src_T_tgt[:, :3, 3:]
    z = points[:, 2:]
    uv = (K @ points)[:, :2] / z.clamp_min(1e-6)
    grid = torch.stack([2 * uv[:, 0] / (w - 1) - 1, 2 * uv[:, 1] / (h - 1) - 1], -1).reshape(b, h, w, 2)
    inside = (grid.abs() <= 1).all(-1) & (z.reshape(b, h, w) > 0)
    return grid, inside[:, None].to(depth.dtype)


def warp_with_mask(
    source: torch.Tensor, depth: torch.Tensor, src_T_tgt: torch.Tensor, K: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The source re-rendered onto the target (bilinear, border padding) and the mask of pixels it covers."""
    grid, inside = project_grid(depth, src_T_tgt, K)
    return F.grid_sample(source, grid, mode="bilinear", padding_mode="border", align_corners=True), inside


def masked_mean_reprojection(
    warped: list[torch.Tensor], masks: list[torch.Tensor], targets: list[torch.Tensor]
) -> torch.Tensor:
    """AF-SfMLearner's term: each source's photometric error (against its own target) averaged over its mask,
    then over the sources."""
    terms = [(photometric_error(w, t) * m).sum() / m.sum().clamp_min(1.0) for w, m, t in zip(warped, masks, targets)]
    return torch.stack(terms).mean()


def full_depths(disps: list[torch.Tensor], size: tuple[int, int],
                depth_range: tuple[float, float]) -> list[torch.Tensor]:
    """Each scale's sigmoid disparity upsampled (bilinear) to `size` (h, w) and read as depth by `disp_to_depth`."""
    return [disp_to_depth(F.interpolate(d, size=size, mode="bilinear", align_corners=False), *depth_range)[1]
            for d in disps]


def _appearance_terms(flows: list[torch.Tensor], target: torch.Tensor, registered: list[torch.Tensor],
                      warped: list[torch.Tensor], masks: list[torch.Tensor]) -> tuple[list[torch.Tensor], torch.Tensor,
                                                                                      torch.Tensor]:
    """One scale's calibrated targets (one per source), and the constraint and smoothness terms averaged over the
    sources; `flows[i]` is source i's residual at this scale, `registered`/`masks` are scale 0's."""
    size = target.shape[-2:]
    flows = [F.interpolate(f, size=size, mode="bilinear", align_corners=False) for f in flows]
    targets = [calibrated_target(target, f, m) for f, m in zip(flows, masks)]
    tied = torch.stack([constraint(t, r, m) for t, r, m in zip(targets, registered, masks)]).mean()
    smooth = torch.stack([brightness_smoothness(f, target, w, m) for f, w, m in zip(flows, warped, masks)]).mean()
    return targets, tied, smooth


def photometric_objective(
    disps: list[torch.Tensor],
    target: torch.Tensor,
    sources: list[torch.Tensor],
    poses: list[torch.Tensor],
    K: torch.Tensor,
    convention: Convention,
    depth_range: tuple[float, float] = SCARED_DEPTH_MM,
    appearance: Callable[[torch.Tensor, torch.Tensor], list[torch.Tensor]] | None = None,
) -> dict[str, torch.Tensor]:
    """The multi-scale loss: `disps[s]` (B, 1, h_s, w_s) sigmoid disparity at scale s, images (B, 3, H, W) in [0, 1].

    `poses[i]` is `src_T_tgt` of `sources[i]` in the depth's unit; `K` is for the full resolution.
    Returns the photometric and smoothness terms averaged over the scales and, detached, the
    fraction of pixels that count (auto-mask or occlusion mask). With `appearance` (an
    `AppearanceFlowNet`; occlusion-masked conventions only) each source's error is taken against the
    target calibrated by the appearance flow of [its scale-0 warp, detached; the target], and the
    flow's constraint and smoothness terms (AF-SfMLearner's weights 0.01, 0.01) are returned too.
    """
    if appearance is not None and convention.min_reprojection:
        raise ValueError(f"appearance flow needs an occlusion-masked convention, not {convention.name}")
    size = target.shape[-2:]
    photo, smooth, kept, af_constraint, af_smooth = [], [], [], [], []
    registered = masks0 = flows = None
    for s, (disp, depth) in enumerate(zip(disps, full_depths(disps, size, depth_range))):
        pairs = [warp_with_mask(src, depth, T, K) for src, T in zip(sources, poses)]
        warped, masks = [p[0] for p in pairs], [p[1] for p in pairs]
        if convention.min_reprojection:
            loss, mask = min_reprojection(warped, sources, target)
            photo.append(loss.mean())
            kept.append(mask.float().mean())
        else:
            targets = [target] * len(warped)
            if appearance is not None:
                if s == 0:
                    registered, masks0 = [w.detach() for w in warped], masks
                    flows = [appearance(r, target) for r in registered]
                targets, c, sm = _appearance_terms([f[s] for f in flows], target, registered, warped, masks0)
                af_constraint.append(c)
                af_smooth.append(sm)
            photo.append(masked_mean_reprojection(warped, masks, targets))
            kept.append(torch.stack(masks).mean())
        colour = F.interpolate(target, size=disp.shape[-2:], mode="area") if disp.shape[-2:] != size else target
        smooth.append(smoothness(disp, colour) / 2**s)
    terms = {
        "photometric": torch.stack(photo).mean(),
        "smoothness": convention.smoothness * torch.stack(smooth).mean(),
        "kept": torch.stack(kept).mean().detach(),
    }
    if appearance is not None:
        terms["appearance_constraint"] = CONSTRAINT * torch.stack(af_constraint).mean()
        terms["appearance_smoothness"] = AF_SMOOTHNESS * torch.stack(af_smooth).mean()
    return terms


def disparity_pyramid(disp: torch.Tensor, scales: int = 4) -> list[torch.Tensor]:
    """A single-output network's disparity as `scales` levels (average-pooled by 2**s), coarse terms for the loss."""
    return [disp if s == 0 else F.avg_pool2d(disp, 2**s, ceil_mode=True) for s in range(scales)]
