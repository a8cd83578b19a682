"""Endoscopy adapters for DINOv2 + DPT models, in three sub-spaces that can be switched separately.

- attention: `attn.qkv`, `attn.proj` of every block; MLP: `mlp.fc1`, `mlp.fc2` -- plain LoRA
  (peft) or DV-LoRA (EndoDAC's vector-scaled LoRA, below);
- convolution: EndoDAC's bottleneck conv blocks (`residual_`) after chosen transformer blocks
  and plain LoRA (peft) on the DPT decoder's convolutions.

Adapters start as the identity (LoRA B = 0, last norm of `residual_` = 0), so an adapted
model reproduces its base checkpoint until trained. `merge_adapters` folds the linear ones
into their weights for inference; `fold_adapters` folds them for good (stage 2 of the two-stage
recipe trains the merged weights). Registers `depth-anything-v2-vits-lora` and `-vitb-lora`; with
`base_weights=FILE` the base loads that checkpoint first, so an adapters-only file (which names
its base in its options) rebuilds the whole model through `create(FILE)`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

import torch
import torch.nn.functional as F
from timm.layers import LayerNorm2d
from torch import nn

from endodepth.errors import CheckpointError
from endodepth.models.checkpoint import load_into, read_checkpoint, save_checkpoint
from endodepth.models.depth_anything import DepthAnythingV2, da2_checkpoint_filter
from endodepth.models.registry import register

SUBSPACES = ("attention", "mlp", "conv", "head")
_LINEAR_TARGETS = {"attention": ("attn.qkv", "attn.proj"), "mlp": ("mlp.fc1", "mlp.fc2")}
_HEAD_CONVS = (
    r"depth_head\.scratch\.(layer\d_rn|refinenet\d\.(out_conv|resConfUnit\d\.conv\d)|output_conv1|output_conv2\.0)"
)
_ADAPTER_MARKS = ("lora_", ".residual_.")


class DVLinear(nn.Linear):
    """Linear layer with DV-LoRA: y = W x + b + (alpha / r) diag(v) B diag(u) A x.

    `lora_A` (r, in) and `lora_U`, `lora_V` start kaiming-uniform (a = sqrt 5), `lora_B`
    (out, r) at zero, as in EndoDAC; the base weight is frozen.
    """

    def __init__(self, in_features: int, out_features: int, r: int = 4, alpha: float = 4.0, bias: bool = True) -> None:
        super().__init__(in_features, out_features, bias=bias)
        self.lora_A = nn.Parameter(torch.empty(r, in_features))
        self.lora_B = nn.Parameter(torch.zeros(out_features, r))
        self.lora_U = nn.Parameter(torch.empty(r, 1))
        self.lora_V = nn.Parameter(torch.empty(out_features, 1))
        for p in (self.lora_A, self.lora_U, self.lora_V):
            nn.init.kaiming_uniform_(p, a=math.sqrt(5))
        self.weight.requires_grad_(False)
        self.scaling = alpha / r
        self.merged = False

    @classmethod
    def from_linear(cls, linear: nn.Linear, r: int, alpha: float) -> DVLinear:
        """A DV-LoRA layer carrying `linear`'s weight and bias."""
        with torch.device(linear.weight.device):
            layer = cls(linear.in_features, linear.out_features, r, alpha, bias=linear.bias is not None)
        layer.weight.data.copy_(linear.weight.data)
        if linear.bias is not None:
            layer.bias.data.copy_(linear.bias.data)
        return layer

    def delta_weight(self) -> torch.Tensor:
        """The low-rank update (out, in) that merging adds to the weight."""
        return (self.lora_V * self.lora_B) @ (self.lora_U * self.lora_A) * self.scaling

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.linear(x, self.weight, self.bias)
        if self.merged:
            return y
        return y + (x @ (self.lora_A * self.lora_U).T) @ (self.lora_B * self.lora_V).T * self.scaling

    def merge(self) -> None:
        """Fold the update into the weight (inference only)."""
        if not self.merged:
            self.weight.data += self.delta_weight().detach()
            self.merged = True

    def unmerge(self) -> None:
        """Take the update out of the weight again."""
        if self.merged:
            self.weight.data -= self.delta_weight().detach()
            self.merged = False


class ConvBottleneck(nn.Module):
    """EndoDAC's `residual_` block: 1x1 -> 3x3 -> 1x1 convs (dim/8 bottleneck), LayerNorm2d + GELU
    between them; the last norm starts at zero so the block adds nothing until trained."""

    def __init__(self, dim: int, bottleneck: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(dim, bottleneck, 1, bias=False)
        self.norm1 = LayerNorm2d(bottleneck, eps=1e-6)
        self.act1 = nn.GELU()
        self.conv2 = nn.Conv2d(bottleneck, bottleneck, 3, padding=1, bias=False)
        self.norm2 = LayerNorm2d(bottleneck, eps=1e-6)
        self.act2 = nn.GELU()
        self.conv3 = nn.Conv2d(bottleneck, dim, 1, bias=False)
        self.norm3 = LayerNorm2d(dim, eps=1e-6)
        for conv in (self.conv1, self.conv2, self.conv3):
            nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
        nn.init.zeros_(self.norm3.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act1(self.norm1(self.conv1(x)))
        x = self.act2(self.norm2(self.conv2(x)))
        return self.norm3(self.conv3(x))


def add_residual_blocks(vit: nn.Module, indices: Iterable[int], ratio: int = 8) -> None:
    """Attach a `residual_` conv bottleneck to each block in `indices` (run by `intermediate_tokens`)."""
    dim = vit.embed_dim
    for i in indices:
        with torch.device(vit.cls_token.device):
            vit.blocks[i].residual_ = ConvBottleneck(dim, dim // ratio)


def add_dvlora(root: nn.Module, suffixes: Iterable[str], r: int, alpha: float) -> int:
    """Replace every nn.Linear under `root` whose name ends with one of `suffixes`; returns how many."""
    suffixes = tuple(suffixes)
    targets = [n for n, m in root.named_modules() if type(m) is nn.Linear and n.endswith(suffixes)]
    for name in targets:
        parent, _, leaf = name.rpartition(".")
        owner = root.get_submodule(parent)
        setattr(owner, leaf, DVLinear.from_linear(getattr(owner, leaf), r, alpha))
    return len(targets)


def apply_adapters(
    model: nn.Module,
    backbone: str = "backbone",
    attention: tuple[str, int, float] = ("lora", 4, 4.0),
    mlp: tuple[str, int, float] = ("dvlora", 4, 4.0),
    conv: tuple[str, int, float] = ("lora", 4, 4.0),
    residual_blocks: Iterable[int] = (2, 5, 8, 11),
) -> nn.Module:
    """Add adapters per sub-space; each is (kind "lora" | "dvlora" | "none", rank, alpha).

    Convolution LoRA is plain LoRA on the DPT decoder's convs; `residual_blocks` lists the
    transformer blocks that get a conv bottleneck (empty for none).
    """
    lora_patterns: dict[str, tuple[int, float]] = {}
    for space, (kind, rank, alpha) in (("attention", attention), ("mlp", mlp)):
        if kind == "dvlora":
            add_dvlora(model.get_submodule(backbone), _LINEAR_TARGETS[space], rank, alpha)
        elif kind == "lora":
            names = "|".join(re.escape(t) for t in _LINEAR_TARGETS[space])
            lora_patterns[rf"{re.escape(backbone)}\.blocks\.\d+\.({names})"] = (rank, alpha)
        elif kind != "none":
            raise ValueError(f"unknown {space} adapter {kind!r} (lora, dvlora or none)")
    if conv[0] == "lora":
        lora_patterns[_HEAD_CONVS] = (conv[1], conv[2])
    elif conv[0] != "none":
        raise ValueError(f"unknown conv adapter {conv[0]!r} (lora or none)")
    if lora_patterns:
        from peft import (  # imported on use: slow to import
            LoraConfig,
            inject_adapter_in_model,
        )

        config = LoraConfig(
            r=4,
            target_modules="(" + "|".join(lora_patterns) + ")",
            rank_pattern={p: r for p, (r, _) in lora_patterns.items()},
            alpha_pattern={p: a for p, (_, a) in lora_patterns.items()},
        )
        inject_adapter_in_model(config, model)
    add_residual_blocks(model.get_submodule(backbone), residual_blocks)
    return model


def is_adapter_key(name: str) -> bool:
    """Whether a parameter name belongs to an adapter (LoRA/DV-LoRA tensors, conv bottlenecks)."""
    return any(mark in name for mark in _ADAPTER_MARKS)


def mark_trainable(model: nn.Module, head: Iterable[str] = ()) -> None:
    """Freeze everything except the adapters and the parameters under the `head` prefixes
    (remembered as `model.adapter_head`: they go into adapter files)."""
    model.adapter_head = tuple(head)
    for name, p in model.named_parameters():
        p.requires_grad_(is_adapter_key(name) or name.startswith(model.adapter_head))


def trainable_parameters(model: nn.Module) -> dict[str, int]:
    """Trainable parameter counts per sub-space: attention, mlp, conv, head, and the total."""
    counts = dict.fromkeys(SUBSPACES, 0)
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if ".attn." in name and "lora_" in name:
            space = "attention"
        elif ".mlp." in name and "lora_" in name:
            space = "mlp"
        elif is_adapter_key(name):
            space = "conv"
        else:
            space = "head"
        counts[space] += p.numel()
    counts["total"] = sum(counts.values())
    return counts


def _adapted_layers(model: nn.Module) -> list[nn.Module]:
    from peft.tuners.tuners_utils import BaseTunerLayer

    return [m for m in model.modules() if isinstance(m, (BaseTunerLayer, DVLinear))]


def merge_adapters(model: nn.Module) -> None:
    """Fold every LoRA / DV-LoRA update into its base weight (conv bottlenecks stay)."""
    for layer in _adapted_layers(model):
        layer.merge()


def unmerge_adapters(model: nn.Module) -> None:
    """Undo `merge_adapters`."""
    for layer in _adapted_layers(model):
        if layer.merged:
            layer.unmerge()


def fold_adapters(model: nn.Module) -> None:
    """Add every LoRA / DV-LoRA update to its base weight and reset the adapter to the identity (B = 0)."""
    unmerge_adapters(model)
    with torch.no_grad():
        for layer in _adapted_layers(model):
            if isinstance(layer, DVLinear):
                layer.weight += layer.delta_weight()
                layer.lora_B.zero_()
                continue
            for name in layer.active_adapters:
                layer.get_base_layer().weight += layer.get_delta_weight(name)
                layer.lora_B[name].weight.zero_()


def adapter_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The adapter and trainable-head tensors (whatever their requires_grad now): an adapter file's content."""
    head = getattr(model, "adapter_head", ())
    return {name: p for name, p in model.named_parameters() if is_adapter_key(name) or name.startswith(head)}


def save_adapters(model: nn.Module, path: str | Path) -> Path:
    """Write the adapter tensors (a few MB) with the model's name and options."""
    return save_checkpoint(adapter_state_dict(model), path, model.name, model.options)


def load_adapters(model: nn.Module, path: str | Path) -> None:
    """Load an adapter file on top of the model's current (base) weights; all adapters must be there."""
    tensors, info = read_checkpoint(path)
    if info.get("model", model.name) != model.name:
        raise CheckpointError(path, f"holds adapters for {info['model']}, not {model.name}")
    missing = sorted(set(adapter_state_dict(model)) - set(tensors))
    if missing:
        raise CheckpointError(
            path, f"is not a complete adapter file for {model.name}; missing: {', '.join(missing[:12])}"
        )
    load_into(model, path, tensors, lambda sd, m: {**m.state_dict(), **sd})


def adapted_checkpoint_filter(state_dict: Mapping[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """A base checkpoint (official or ours) for an adapted model: base weights go under peft's
    `base_layer` names, adapters missing from the file keep their (identity) initialisation."""
    sd = da2_checkpoint_filter(state_dict, model)
    own = model.state_dict()
    if not any(k.startswith("backbone.") and not is_adapter_key(k) for k in sd):
        return {**own, **sd}  # an adapters-only file: over the base the model was built on (base_weights)
    wrapped = {k.replace(".base_layer.", "."): k for k in own if ".base_layer." in k}
    out = {wrapped.get(k, k): v for k, v in sd.items()}
    out.update({k: v for k, v in own.items() if k not in out and is_adapter_key(k)})
    return out


def _adapted_da2(
    encoder: str,
    attention: str = "lora", attention_rank: int = 4, attention_alpha: float = 4.0,
    mlp: str = "dvlora", mlp_rank: int = 4, mlp_alpha: float = 4.0,
    conv: str = "lora", conv_rank: int = 4, conv_alpha: float = 4.0,
    residual_blocks: Iterable[int] = (2, 5, 8, 11),
    trainable_head: Iterable[str] = ("depth_head.scratch.output_conv2",),
    base_weights: str | None = None,
    **options,
) -> DepthAnythingV2:
    """Depth Anything V2 (`base_weights` loaded when given) plus adapters; only adapters and `trainable_head` train."""
    model = DepthAnythingV2(encoder, **options)
    if base_weights and model.backbone.cls_token.device.type != "meta":
        tensors, _ = read_checkpoint(base_weights)
        load_into(model, base_weights, tensors, da2_checkpoint_filter)
    apply_adapters(
        model, "backbone", (attention, attention_rank, attention_alpha), (mlp, mlp_rank, mlp_alpha),
        (conv, conv_rank, conv_alpha), residual_blocks,
    )
    mark_trainable(model, trainable_head)
    return model


def _register_adapted(encoder: str, size_name: str) -> None:
    @register(
        f"depth-anything-v2-{encoder}-lora",
        description=f"Depth Anything V2 {size_name} + endoscopy adapters (attention LoRA, MLP DV-LoRA, "
        "conv neck + decoder LoRA); base_weights=FILE names the base checkpoint",
        checkpoint_filter=adapted_checkpoint_filter,
    )
    def factory(**options) -> DepthAnythingV2:
        return _adapted_da2(encoder, **options)


for _encoder, _size_name in (("vits", "Small"), ("vitb", "Base")):
    _register_adapted(_encoder, _size_name)
