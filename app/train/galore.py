"""GaLore (Zhao et al. 2024): AdamW whose moments for chosen 2-D weights live in a low-rank projection of the gradient.

Our own ~70 lines instead of `galore-torch`: its 1.0 wheel requires `transformers` and
`bitsandbytes` and imports `bitsandbytes` on `import galore_torch` (its 8-bit optimizer), a
CUDA-oriented package this CPU-tested app does not otherwise need. The algorithm follows
galore-torch's `GaLoreAdamW` with `proj_type="std"`: every `update_proj_gap` steps (step 0
included) the projector is the top-`rank` singular vectors of the current gradient (right ones
when the matrix is at least as tall as wide, else left ones); the moments are kept in the
projected space and, as there, not re-projected when the subspace changes; the Adam direction
is projected back and scaled by `scale`. A parameter group is a GaLore group when it has `rank`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch


def projector(grad: torch.Tensor, rank: int) -> torch.Tensor:
    """The top-`rank` singular vectors of a 2-D gradient: (rank, n) when it is tall or square, else (m, rank)."""
    U, _, Vh = torch.linalg.svd(grad.float(), full_matrices=False)
    return Vh[:rank] if grad.shape[0] >= grad.shape[1] else U[:, :rank]


def project(grad: torch.Tensor, P: torch.Tensor) -> torch.Tensor:
    """The gradient in the projected space: (m, r) or (r, n)."""
    return grad @ P.T if grad.shape[0] >= grad.shape[1] else P.T @ grad


def project_back(low: torch.Tensor, P: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """A projected update back in the weight's (m, n) space."""
    return low @ P if shape[0] >= shape[1] else P @ low


class GaLoreAdamW(torch.optim.Optimizer):
    """AdamW (decoupled weight decay) with GaLore groups: {'params', 'rank', 'update_proj_gap', 'scale'}."""

    def __init__(self, params: Iterable, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-6, weight_decay: float = 0.0) -> None:
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure=None):
        """One AdamW step; GaLore groups update through their projector."""
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad, state = p.grad, self.state[p]
                low_rank = "rank" in group and p.ndim == 2
                step = state.get("step", 0)
                if low_rank:
                    if step % group.get("update_proj_gap", 200) == 0:
                        state["projector"] = projector(grad, group["rank"]).to(grad.dtype)
                    grad = project(grad, state["projector"])
                if "exp_avg" not in state:
                    state["exp_avg"], state["exp_avg_sq"] = torch.zeros_like(grad), torch.zeros_like(grad)
                state["step"] = step = step + 1
                m, v = state["exp_avg"], state["exp_avg_sq"]
                m.mul_(beta1).add_(grad, alpha=1 - beta1)
                v.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                size = group["lr"] * math.sqrt(1 - beta2**step) / (1 - beta1**step)
                update = m / (v.sqrt() + group["eps"])
                if low_rank:
                    update = project_back(update, state["projector"], p.shape) * group.get("scale", 0.25)
                p.add_(update, alpha=-size)
                if group["weight_decay"]:
                    p.add_(p, alpha=-group["lr"] * group["weight_decay"])
        return loss


def state_numel(optimizer: torch.optim.Optimizer) -> int:
    """Numbers the optimizer keeps (moments and projectors; step counters excluded)."""
    return sum(t.numel() for s in optimizer.state.values() for t in s.values() if torch.is_tensor(t) and t.ndim)
