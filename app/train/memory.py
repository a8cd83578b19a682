"""Optimizer-state memory of the fine-tuning stages, counted on CPU: trainable parameters and the numbers AdamW keeps.

Each row takes one real step (forward, backward, optimizer) on a tiny input so that every state
tensor exists, then counts them (fp32: 4 bytes each). Stage 1 trains the adapters, stage 2 the
folded weights under GaLore, `full` all weights of the plain base in AdamW.
"""

from __future__ import annotations

import torch

from endodepth.models.registry import build
from endodepth.train.galore import state_numel
from endodepth.train.stages import SUBSPACES, adapter_options, stage2_optimizer, subspace_counts


def _row(model: torch.nn.Module, optimizer: torch.optim.Optimizer, size: int) -> dict:
    torch.manual_seed(0)
    model.train()
    optimizer.zero_grad(set_to_none=True)
    model(torch.rand(1, 3, size, size)).mean().backward()
    optimizer.step()
    params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    state = state_numel(optimizer)
    return {"trainable": params, "optimizer_state": state, "state_mb_fp32": round(state * 4 / 2**20, 1)}


def memory_report(encoder: str = "vits", rank: int = 4, galore_rank: int = 32, size: int = 28) -> dict:
    """Rows `stage1`, `stage2` and `full` for Depth Anything V2 `encoder` (seeded random weights)."""
    torch.manual_seed(0)
    options = {"short_side": size, "metric": True}
    adapted = build(f"depth-anything-v2-{encoder}-lora", **adapter_options(SUBSPACES, rank, float(rank)), **options)
    stage1 = torch.optim.AdamW([p for p in adapted.parameters() if p.requires_grad], lr=1e-4)
    rows = {"stage1": {**_row(adapted, stage1, size), "subspaces": subspace_counts(adapted, 1)}}
    stage2 = stage2_optimizer(adapted, lr=1e-5, rank=galore_rank)
    rows["stage2"] = {**_row(adapted, stage2, size), "subspaces": subspace_counts(adapted, 2)}
    base = build(f"depth-anything-v2-{encoder}", **options)
    rows["full"] = _row(base, torch.optim.AdamW(base.parameters(), lr=1e-5), size)
    return {"encoder": encoder, "adapter_rank": rank, "galore_rank": galore_rank, **rows}
