"""`lora-adapted`: any learned model of the zoo (or checkpoint of ours) with LoRA adapters on its
convolutions and linears.

`endodepth adapt` writes these checkpoints: adapter tensors only, with the base named in the
options, so `create(FILE)` rebuilds the base with its own weights and lays the adapters over it
(after `--stage 2` the file holds every weight, adapters folded, and overlays all of them).
Adapters start as the identity (LoRA B = 0), so a fresh adapted model predicts what its base does.
Depthwise (grouped) and transposed convolutions keep their weights: peft's LoRA does not wrap them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch
from torch import nn

from endodepth.errors import EndoDepthError
from endodepth.models.adapters import is_adapter_key, mark_trainable
from endodepth.models.base import DepthEstimator
from endodepth.models.registry import build as build_registered
from endodepth.models.registry import create, register

NAME = "lora-adapted"


def lora_targets(model: nn.Module) -> list[str]:
    """Names of the layers conv LoRA adapts: ungrouped nn.Conv2d and nn.Linear."""
    return [
        n for n, m in model.named_modules()
        if (type(m) is nn.Conv2d and m.groups == 1) or type(m) is nn.Linear
    ]


def check_adaptable(model: nn.Module, label: str) -> None:
    """EndoDepthError when `model` has no learned layer that adapters could change (e.g. a baseline)."""
    if not any(True for _ in model.parameters()) or not lora_targets(model):
        raise EndoDepthError(f"{label} cannot be adapted: it has no learned convolution or linear layer")


def add_lora(model: nn.Module, rank: int, alpha: float, targets: list[str] | None = None) -> nn.Module:
    """Inject peft LoRA (rank, alpha) into `targets` (default: every `lora_targets` layer), in place."""
    from peft import (  # imported on use: slow to import
        LoraConfig,
        inject_adapter_in_model,
    )

    names = targets if targets is not None else lora_targets(model)
    pattern = "(" + "|".join(re.escape(n) for n in names) + ")"
    inject_adapter_in_model(LoraConfig(r=rank, lora_alpha=alpha, target_modules=pattern), model)
    model.to(memory_format=torch.channels_last)
    return model


def adapter_overlay(state_dict: Mapping[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """Checkpoint filter: the file's adapter tensors over the model's base weights; every adapter must be there."""
    base = {k: v for k, v in model.state_dict().items() if not is_adapter_key(k)}
    return {**base, **state_dict}  # an adapter missing from the file is named by load_into


@register(
    NAME,
    description="a base model (option base=NAME or checkpoint) with LoRA on its convolutions and linears; "
    "written by `endodepth adapt`",
    checkpoint_filter=adapter_overlay,
)
def build(base: str = "default", rank: int = 4, alpha: float = 4.0) -> DepthEstimator:
    """The base with its own weights (bundled or from its checkpoint) and identity LoRA adapters; only they train."""
    on_meta = torch.empty(0).device.type == "meta"  # `endodepth models` counts parameters on the meta device
    model = build_registered(base) if on_meta else create(base)
    check_adaptable(model, base)
    add_lora(model, rank, alpha)
    mark_trainable(model)
    model.base_name = base
    return model
