"""DINOv2 ViT backbones (timm modules) run the way DINOv2/Depth Anything run them.

timm's own dynamic-size path resamples the position embedding differently (size-based,
no offset, antialiased), so the token preparation is done here, as in DINOv2's
`interpolate_pos_encoding`, to match Depth Anything's outputs.
"""

from __future__ import annotations

import math

import timm
import torch
import torch.nn.functional as F
from timm.models.vision_transformer import VisionTransformer
from torch import nn

PATCH = 14
# size -> (timm architecture, blocks Depth Anything V2 reads its four feature maps from)
BACKBONES: dict[str, tuple[str, tuple[int, ...]]] = {
    "vits": ("vit_small_patch14_dinov2", (2, 5, 8, 11)),
    "vitb": ("vit_base_patch14_dinov2", (2, 5, 8, 11)),
    "vitl": ("vit_large_patch14_dinov2", (4, 11, 17, 23)),
}


def create_dinov2(size: str) -> VisionTransformer:
    """A DINOv2 ViT/14 ("vits", "vitb", "vitl") that accepts any size, for loading weights into.

    timm's per-layer ViT initialisation is skipped (PyTorch's default layer init remains, the
    tokens get DINOv2's init): it costs seconds per model and real use loads a checkpoint.
    """
    arch = BACKBONES[size][0]
    vit = timm.create_model(
        arch, pretrained=False, dynamic_img_size=True, num_classes=0, init_values=1.0, weight_init="skip"
    )
    nn.init.trunc_normal_(vit.pos_embed, std=0.02)
    nn.init.normal_(vit.cls_token, std=1e-6)
    return vit


def dinov2_pos_embed(pos_embed: torch.Tensor, grid_h: int, grid_w: int, offset: float = 0.1) -> torch.Tensor:
    """DINOv2's position-embedding interpolation (bicubic by scale factor, +offset, no antialias).

    The trained grid is returned unchanged for its own square size, as DINOv2 does.
    """
    n = pos_embed.shape[1] - 1
    side = int(math.sqrt(n))
    if grid_h * grid_w == n and grid_h == grid_w:
        return pos_embed
    dtype = pos_embed.dtype
    pos = pos_embed.float()
    patch = pos[:, 1:].reshape(1, side, side, -1).permute(0, 3, 1, 2)
    scale = ((grid_h + offset) / math.sqrt(n), (grid_w + offset) / math.sqrt(n))
    patch = F.interpolate(patch, scale_factor=scale, mode="bicubic", antialias=False)
    if patch.shape[-2:] != (grid_h, grid_w):
        raise ValueError(f"position grid {tuple(patch.shape[-2:])} does not match {(grid_h, grid_w)}")
    patch = patch.permute(0, 2, 3, 1).reshape(1, grid_h * grid_w, -1)
    return torch.cat((pos[:, :1], patch), dim=1).to(dtype)


def intermediate_tokens(
    vit: VisionTransformer, x: torch.Tensor, indices: tuple[int, ...]
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(patch tokens (B, h*w, C), class token (B, C)) after the final norm, for each block in `indices`.

    A block carrying a `residual_` module (EndoDAC's convolution neck) adds its output to the
    patch tokens, seen as a (B, C, h, w) map, after the block.
    """
    grid_h, grid_w = x.shape[-2] // PATCH, x.shape[-1] // PATCH
    tokens = vit.patch_embed(x).flatten(1, 2)
    tokens = torch.cat((vit.cls_token.expand(tokens.shape[0], -1, -1), tokens), dim=1)
    tokens = tokens + dinov2_pos_embed(vit.pos_embed, grid_h, grid_w)
    out = []
    for i, block in enumerate(vit.blocks[: max(indices) + 1]):
        tokens = block(tokens)
        neck = getattr(block, "residual_", None)
        if neck is not None:
            patches = tokens[:, 1:].transpose(1, 2).reshape(tokens.shape[0], -1, grid_h, grid_w)
            extra = neck(patches).flatten(2).transpose(1, 2)
            tokens = torch.cat((tokens[:, :1], tokens[:, 1:] + extra), dim=1)
        if i in indices:
            normed = vit.norm(tokens)
            out.append((normed[:, 1:], normed[:, 0]))
    return out
