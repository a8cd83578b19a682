"""The two fine-tuning stages of a foundation model: adapters only (1), then the merged weights under GaLore (2).

Stage 1 trains the chosen adapter sub-spaces (attention LoRA, MLP DV-LoRA, convolution adapters)
on top of a named base checkpoint; its file holds the adapters only. Stage 2 folds them into the
weights and trains everything but the (now identity) adapters: the attention and MLP linear
weights through GaLore, everything else in plain AdamW.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from torch import nn

from endodepth.errors import UsageError
from endodepth.models.adapters import fold_adapters, is_adapter_key, trainable_parameters
from endodepth.models.registry import available
from endodepth.train.galore import GaLoreAdamW

SUBSPACES = ("attention", "mlp", "conv")
_PROJECTED = re.compile(r"\.(attn\.(qkv|proj)|mlp\.(fc1|fc2))(\.base_layer)?\.weight$")


def parse_adapters(text: str) -> tuple[str, ...]:
    """`attention,mlp,conv` (any non-empty subset) as a tuple; anything else is a UsageError."""
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    unknown = [n for n in names if n not in SUBSPACES]
    if unknown or not names:
        raise UsageError(f"--adapters {text!r}: expected a comma-separated subset of {','.join(SUBSPACES)}")
    return names


def adapted_name(model: str) -> str:
    """The registered adapter variant of a base model name (`depth-anything-v2-vits` -> `...-vits-lora`)."""
    name = model if model.endswith("-lora") else f"{model}-lora"
    if name not in available():
        bases = [n[: -len("-lora")] for n in available() if n.endswith("-lora") and n != "lora-adapted"]
        raise UsageError(f"--adapters: {model} has no adapter variant; use one of {', '.join(bases)}")
    return name


def adapter_options(subspaces: Iterable[str], rank: int, alpha: float,
                    base_weights: str | None = None) -> dict:
    """Factory options of an adapter model with only `subspaces` adapted, at one rank and alpha."""
    chosen = set(subspaces)
    options: dict = {"base_weights": base_weights} if base_weights else {}
    for space, kind in (("attention", "lora"), ("mlp", "dvlora"), ("conv", "lora")):
        options.update({space: kind if space in chosen else "none", f"{space}_rank": rank, f"{space}_alpha": alpha})
    if "conv" not in chosen:
        options["residual_blocks"] = ()
    return options


def stage2_parameters(model: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """Fold the adapters, freeze them, unfreeze the rest: (attention/MLP linear weights, everything else)."""
    fold_adapters(model)
    projected, plain = [], []
    for name, p in model.named_parameters():
        trainable = not (is_adapter_key(name) and "lora_" in name)
        p.requires_grad_(trainable)
        if trainable:
            (projected if _PROJECTED.search(name) and p.ndim == 2 else plain).append(p)
    return projected, plain


def stage2_optimizer(model: nn.Module, lr: float, rank: int = 32, update_proj_gap: int = 200,
                     scale: float = 0.25, weight_decay: float = 0.0) -> GaLoreAdamW:
    """GaLoreAdamW over the folded model: the projected group at `rank`, the rest plain."""
    projected, plain = stage2_parameters(model)
    return GaLoreAdamW([
        {"params": plain},
        {"params": projected, "rank": rank, "update_proj_gap": update_proj_gap, "scale": scale},
    ], lr=lr, weight_decay=weight_decay)


def subspace_counts(model: nn.Module, stage: int) -> dict[str, int]:
    """Trainable parameters per sub-space (stage 1: adapters and head; stage 2: projected and plain groups)."""
    if stage == 1:
        return trainable_parameters(model)
    counts = {"projected": 0, "plain": 0}
    for name, p in model.named_parameters():
        if p.requires_grad:
            counts["projected" if _PROJECTED.search(name) and p.ndim == 2 else "plain"] += p.numel()
    counts["total"] = sum(counts.values())
    return counts
