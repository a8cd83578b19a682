"""Supervised training of a depth network on rendered synthetic frames.

Each step: draw a batch, augment it (flips, colour; optionally the heavy real-footage set of
`train.augment`), feed it through the model's own preprocessing, upsample the predicted log
depth to the ground truth, and minimise the scale-invariant log loss plus multi-scale gradient
matching on log depth (optionally plus the scale-and-shift-invariant loss on inverse depth and
the depth-selectivity "assign" regulariser on chosen layers). A metric model (millimetres) is
compared with the ground truth itself, not its median-normalised log, on the pixels inside its
head's depth range (SILog's 0.15 x squared mean then learns the scale, as ZoeDepth trains); a routed
one gets each sample's labelled domain head and `domain_weight` x the router's cross-entropy. Every
`val_every` steps the model is evaluated on held-back scenes with the SCARED protocol (median
scaling, none for metric models).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from endodepth.analysis.metrics import evaluate_frame, summarize
from endodepth.analysis.selectivity import bin_edges_from_depth
from endodepth.errors import UsageError
from endodepth.kinds import METRIC_MM
from endodepth.models.base import DepthEstimator
from endodepth.models.checkpoint import load_into, read_checkpoint, save_checkpoint
from endodepth.models.metric_router import MetricBinsRouter
from endodepth.models.registry import build, resolve_device, spec
from endodepth.train import distributed
from endodepth.train.augment import augment
from endodepth.train.datasets import FrameSet
from endodepth.train.losses import gradient_matching, normalised_log_depth, silog, ssi_inverse

MAX_SELECTIVITY_BINS = 64


@dataclass
class TrainOptions:
    """Everything that defines a training run besides the data."""

    model: str = "default"
    model_options: dict = field(default_factory=dict)
    weights: str | None = None  # start from this checkpoint (fine-tuning) instead of random weights
    wise_alpha: float = 1.0  # fine-tuning: write start + alpha (tuned - start) at the end (WiSE-FT; 1: tuned)
    steps: int = 3000
    batch_size: int = 12
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup: int = 200
    seed: int = 0
    variance_focus: float = 0.85
    gradient_weight: float = 0.5
    ssi_weight: float = 0.0  # scale-and-shift-invariant loss on inverse depth (MiDaS)
    augment: str = "standard"  # or "heavy", "palette" (train.augment)
    selectivity_layers: tuple[str, ...] = ()
    selectivity_weight: float = 0.1
    domain_weight: float = 1.0  # the router's cross-entropy (metric models with routed heads)
    val_every: int = 250
    val_frames: int = 48
    device: str = "auto"


class Trainer:
    """Owns the model, optimiser, data and log of one run; `train()` runs it and writes the checkpoint."""

    def __init__(self, options: TrainOptions, train_set: FrameSet, val_set: FrameSet | None,
                 log: Callable[[dict], None] = print, world: distributed.World | None = None) -> None:
        self.opt = options
        self.log = log
        self.world = world or distributed.World(0, 1, resolve_device(options.device))
        torch.manual_seed(options.seed)  # the same initial weights on every rank; batches differ per rank
        self.rng = np.random.default_rng(options.seed if self.world.size == 1 else [options.seed, self.world.rank])
        self.device = self.world.device
        self.model: DepthEstimator = initial_model(options).to(self.device)
        self._start = {k: v.detach().clone() for k, v in self.model.state_dict().items()} if options.weights else None
        self.train_set, self.val_set = train_set, val_set
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=options.lr, weight_decay=options.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, self._lr_factor)
        self._features: dict[str, torch.Tensor] = {}
        self._edges: dict[str, torch.Tensor] = {}
        self.net = distributed.wrap(self.model, self.world)
        modules = dict(self.model.named_modules())
        for layer in options.selectivity_layers:
            if layer not in modules:
                raise KeyError(
                    f"{self.model.name} has no layer {layer!r}; try one of {', '.join(self.model.default_layers)}"
                )
            modules[layer].register_forward_hook(self._keep(layer))

    def _lr_factor(self, step: int) -> float:
        return lr_factor(step, self.opt.warmup, self.opt.steps)

    def _keep(self, layer: str):
        def hook(_module, _inputs, output) -> None:
            self._features[layer] = output

        return hook

    @cached_property
    def _depth_sample(self) -> np.ndarray:
        """Training depth of ~64 frames spread over the set (read once, shared by all layers)."""
        return self.train_set.batch(np.arange(0, len(self.train_set), max(1, len(self.train_set) // 64)))[1]

    def selectivity_edges(self, layer: str, units: int) -> torch.Tensor:
        """Depth bin edges of a layer: min(64, units) SID bins by the one bin-range policy over the training depth."""
        if layer not in self._edges:
            edges = bin_edges_from_depth([self._depth_sample], min(MAX_SELECTIVITY_BINS, units), "sid")
            self._edges[layer] = torch.from_numpy(edges)
        return self._edges[layer]

    @property
    def router(self) -> MetricBinsRouter | None:
        """The model's routed metric heads, when it has them."""
        head = getattr(self.model, "bins", None)
        return head if isinstance(head, MetricBinsRouter) else None

    def domain_labels(self, domains: list[str | None]) -> torch.Tensor:
        """The router's head index of each frame's domain; a frame of no or another domain is refused."""
        names = [d.name for d in self.router.domains]
        unknown = sorted({str(d) for d in domains if d not in names})
        if unknown:
            raise UsageError(f"{self.model.name} has heads for {', '.join(names)}; the data has frames of "
                             f"{', '.join(unknown)} (render it with --domains {' '.join(names)})")
        return torch.tensor([names.index(d) for d in domains], device=self.device)

    def _metric_valid(self, gt: torch.Tensor, valid: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """`valid` narrowed to each sample's head range (B, 1, H, W)."""
        if labels is None:
            head = getattr(self.model, "bins", None)
            lo, hi = getattr(head, "min_depth", 0.0), getattr(head, "max_depth", math.inf)
            return valid * ((gt >= lo) & (gt <= hi))
        ranges = torch.tensor([[d.min_depth, d.max_depth] for d in self.router.domains], device=self.device)
        lo, hi = ranges[labels, 0].view(-1, 1, 1, 1), ranges[labels, 1].view(-1, 1, 1, 1)
        return valid * ((gt >= lo) & (gt <= hi))

    def losses(self, rgb: np.ndarray, depth: np.ndarray, domains: list[str | None] | None = None
               ) -> dict[str, torch.Tensor]:
        """The loss terms of one batch (uint8 RGB, depth in mm with NaN unknown, each frame's domain)."""
        from endodepth.train.selectivity import assign_selectivity_loss

        x = self.model.preprocess(rgb)
        # the loss sees every second ground-truth pixel: the prediction is a quarter of the input size anyway
        gt = torch.from_numpy(np.ascontiguousarray(depth[:, ::2, ::2])).to(self.device)[:, None]
        valid = (torch.isfinite(gt) & (gt > 0)).float()
        gt = torch.nan_to_num(gt, nan=0.0)
        labels = None if self.router is None else self.domain_labels(domains or [None] * len(rgb))
        pred = self.net(x) if labels is None else self.net(x, labels)
        log_pred = pred.clamp_min(1e-6).log()
        log_pred = F.interpolate(log_pred, size=gt.shape[-2:], mode="bilinear", align_corners=self.model.align_corners)
        if self.model.kind == METRIC_MM:
            valid = self._metric_valid(gt, valid, labels)
            target = gt.clamp_min(1e-6).log() * valid
        else:
            target = normalised_log_depth(gt, valid)
        out = {
            "silog": silog(log_pred, target, valid, self.opt.variance_focus),
            "gradient": self.opt.gradient_weight * gradient_matching(log_pred, target, valid),
        }
        if self.opt.ssi_weight:
            out["ssi"] = self.opt.ssi_weight * ssi_inverse(log_pred, target, valid)
        if self.opt.selectivity_layers:
            out["selectivity"] = sum(
                assign_selectivity_loss({layer: f}, gt[:, 0], self.selectivity_edges(layer, f.shape[1]),
                                        self.opt.selectivity_weight)
                for layer, f in self._features.items()
            )
        if labels is not None:
            out["domain"] = self.opt.domain_weight * F.cross_entropy(self.router.last_routing.logits, labels)
        return out

    def step(self) -> dict[str, float]:
        """One optimisation step on a fresh augmented batch."""
        self.model.train()
        picks = self.rng.choice(len(self.train_set), self.opt.batch_size, replace=False)
        rgb, depth = augment(*self.train_set.batch(picks), self.rng, self.opt.augment)
        domains_of = getattr(self.train_set, "domains_of", None)  # sets without domain labels have none
        terms = self.losses(rgb, depth, None if domains_of is None else domains_of(picks))
        loss = sum(terms.values())
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.scheduler.step()
        self._features.clear()
        return {k: float(v.detach()) for k, v in terms.items()}

    @torch.no_grad()
    def validate(self, model: DepthEstimator | None = None) -> dict[str, float]:
        """SCARED-protocol errors on the validation frames (median scaling), through `predict_batch`."""
        return validate(model or self.model, self.val_set, self.opt.val_frames)

    def train(self, out: str | Path) -> Path:
        """Run all steps, logging losses and validation; write the checkpoint (ours, with name and options)."""
        out = Path(out)
        t0 = time.perf_counter()
        running: list[dict[str, float]] = []
        for step in range(1, self.opt.steps + 1):
            running.append(self.step())
            if step % self.opt.val_every == 0 or step == self.opt.steps:
                record = {"step": step, "seconds": round(time.perf_counter() - t0, 1),
                          "lr": self.scheduler.get_last_lr()[0]}
                record.update({k: float(np.mean([r[k] for r in running])) for k in running[0]})
                running = []
                if self.world.main:
                    if self.val_set is not None:
                        record.update({f"val_{k}": v for k, v in self.validate().items()
                                       if k in ("abs_rel", "rmse", "a1", "domain_accuracy")})
                    self.log(record)
                    save_checkpoint(self.model.state_dict(), out, self.model.name, self.model.options)
                distributed.barrier(self.world)
        if self._start is not None and self.opt.wise_alpha != 1.0:
            self.model.load_state_dict(interpolate(self._start, self.model.state_dict(), self.opt.wise_alpha))
            if self.world.main:
                record = {"step": self.opt.steps, "wise_alpha": self.opt.wise_alpha}
                if self.val_set is not None:
                    record.update({f"val_{k}": v for k, v in self.validate().items() if k in ("abs_rel", "rmse", "a1")})
                self.log(record)
                save_checkpoint(self.model.state_dict(), out, self.model.name, self.model.options)
        return out

    def describe(self) -> dict:
        """The run's options as JSON-ready data (written beside the checkpoint)."""
        return {**asdict(self.opt), "parameters": self.model.num_parameters(), "world_size": self.world.size}


def initial_model(options: TrainOptions) -> DepthEstimator:
    """The network to train: `options.model` with its random initial weights, or with `options.weights`
    loaded through the model's checkpoint filter (so, e.g., a relative model's file starts a metric head)."""
    model = build(options.model, **options.model_options)
    if options.weights is not None:
        tensors, _ = read_checkpoint(options.weights)
        load_into(model, options.weights, tensors, spec(options.model).checkpoint_filter)
    return model


def interpolate(start: dict[str, torch.Tensor], tuned: dict[str, torch.Tensor],
                alpha: float) -> dict[str, torch.Tensor]:
    """Weight-space ensembling of a fine-tuned model with its start (WiSE-FT, Wortsman et al. 2022):
    start + alpha (tuned - start) for floating-point tensors; counters keep the tuned value."""
    return {k: start[k] + alpha * (v - start[k]) if v.is_floating_point() else v for k, v in tuned.items()}


def lr_factor(step: int, warmup: int, steps: int) -> float:
    """Linear warm-up, then cosine decay to 5% of the peak rate."""
    if step < warmup:
        return (step + 1) / warmup
    t = (step - warmup) / max(1, steps - warmup)
    return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, t)))


@torch.no_grad()
def validate(model: DepthEstimator, val_set, frames: int) -> dict[str, float]:
    """SCARED-protocol errors on up to `frames` validation frames (median scaling), through `predict_batch`.

    `val_set.batch(picks)` gives uint8 RGB and depth in mm of those positions (`FrameSet`, `FrameTriples`).
    A routed model's share of frames sent to their own domain's head is `domain_accuracy`.
    """
    rows, hits = [], []
    n = len(val_set)
    picks = np.linspace(0, n - 1, min(n, frames)).round().astype(int)
    for chunk in np.array_split(picks, max(1, len(picks) // 8)):
        rgb, depth = val_set.batch(chunk)
        domains = val_set.domains_of(chunk) if hasattr(val_set, "domains_of") else [None] * len(chunk)
        for result, gt, domain in zip(model.predict_batch(list(rgb)), depth, domains):
            errors = evaluate_frame(result.output, result.kind, gt)
            if errors is not None:
                rows.append(errors)
            if result.route is not None and domain is not None:
                hits.append(result.route.head == domain)
    return {**summarize(rows), **({"domain_accuracy": float(np.mean(hits))} if hits else {})}


def write_log(path: Path) -> Callable[[dict], None]:
    """A logger that prints each record and appends it as a JSON line to `path`."""

    def log(record: dict) -> None:
        print(json.dumps(record), flush=True)
        with open(path, "a") as f:
            f.write(json.dumps(record) + "\n")

    return log
