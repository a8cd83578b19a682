"""Training on video frame triples: the self-supervised photometric objective or distillation from a teacher.

The student is a model of the zoo (its bundled or given weights, or from scratch), optionally with
adapters: stage 1 trains only the adapter sub-spaces and writes adapters only, stage 2 folds them
and trains the weights through GaLore. Runs alone or under torchrun (`distributed`): every rank
starts from the same seed, draws its own batches, and rank 0 logs and writes. The checkpoint is
chosen on the validation frames (never the test split); `<out>.resume.pt` holds the model, pose
network, optimizers and random states so that `resume=True` continues a run.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from endodepth.io.atomic import atomic_write
from endodepth.kinds import RELATIVE_INVERSE
from endodepth.models.adapters import save_adapters
from endodepth.models.base import DepthEstimator
from endodepth.models.checkpoint import save_checkpoint
from endodepth.models.registry import build, create, resolve_device
from endodepth.train import distributed
from endodepth.train.adapt_files import card_path
from endodepth.train.appearance_flow import AppearanceFlowNet
from endodepth.train.distill import distillation_loss
from endodepth.train.photometric import pose_matrix
from endodepth.train.pose_net import PoseNet
from endodepth.train.selfsup import CONVENTIONS, SCARED_DEPTH_MM, disparity_pyramid, full_depths, photometric_objective
from endodepth.train.stages import adapted_name, adapter_options, stage2_optimizer, subspace_counts
from endodepth.train.stereo_term import DepthScale, best_scale
from endodepth.train.trainer import lr_factor, validate
from endodepth.train.video_data import FrameTriples, augment_triples, colour_jitter, flip_batch, flips

SELF_SUPERVISED, DISTILL = "self-supervised", "distill"


@dataclass
class VideoOptions:
    """Everything that defines a video training run besides the frames."""

    objective: str = SELF_SUPERVISED
    model: str = "default"
    weights: str | None = None  # start from: a base checkpoint (stage 1, full), the stage-1 file (stage 2)
    from_scratch: bool = False
    adapters: tuple[str, ...] = ()
    rank: int = 4
    alpha: float = 4.0
    stage: int = 1
    galore_rank: int = 32
    update_proj_gap: int = 200
    galore_scale: float = 0.25
    convention: str = "monodepth2"
    appearance_flow: bool = False  # AF-SfMLearner's brightness calibration (occlusion-masked conventions)
    learn_intrinsics: bool = False  # EndoDAC's intrinsics head instead of the source's K
    stereo_weight: float = 1.0  # the left-right photometric term on stereo sources (0: off)
    depth_range: tuple[float, float] = SCARED_DEPTH_MM
    scales: int = 4
    model_options: dict = field(default_factory=dict)
    steps: int = 1000
    batch_size: int = 8
    lr: float = 1e-4
    pose_lr: float = 1e-4
    warmup: int = 50
    seed: int = 0
    val_every: int = 100
    val_frames: int = 48
    device: str = "auto"


def output_disparity(out: torch.Tensor, kind: str, depth_range: tuple[float, float],
                     mm_per_unit: torch.Tensor | float = 1.0) -> torch.Tensor:
    """The network's map read as monodepth2's sigmoid disparity: inverse depth mapped onto [1/max, 1/min], clamped.

    Then `disp_to_depth` gives back 1 / inverse depth inside the range: the depth `predict` reports
    (up to the median scaling of evaluation) times `mm_per_unit`.
    """
    inv = (out if kind == RELATIVE_INVERSE else 1.0 / out.clamp_min(1e-6)) / mm_per_unit
    lo, hi = 1.0 / depth_range[1], 1.0 / depth_range[0]
    return ((inv - lo) / (hi - lo)).clamp(0.0, 1.0)


def student(opt: VideoOptions) -> DepthEstimator:
    """The model to train, with its starting weights and adapters as the options say."""
    if opt.adapters and opt.stage == 1:
        return create(adapted_name(opt.model), **adapter_options(opt.adapters, opt.rank, opt.alpha, opt.weights),
                      **opt.model_options)
    if opt.stage == 2:
        return create(opt.weights, **opt.model_options)  # the stage-1 adapters file names its base
    if opt.from_scratch:
        return build(opt.model, **opt.model_options)
    return create(opt.model, weights=opt.weights, **opt.model_options)


class VideoTrainer:
    """Owns the model, pose network, optimizers, data and log of one run; `train(out)` runs it."""

    def __init__(self, options: VideoOptions, train_set: FrameTriples, val_set: FrameTriples | None,
                 log: Callable[[dict], None] = print, labels: tuple[torch.Tensor, torch.Tensor] | None = None,
                 world: distributed.World | None = None) -> None:
        self.opt, self.log = options, log
        self.world = world or distributed.World(0, 1, resolve_device(options.device))
        torch.manual_seed(options.seed)  # the same initial weights on every rank
        self.model = student(options).to(self.world.device)
        self.model.train()
        self.train_set, self.val_set, self.labels = train_set, val_set, labels
        self.convention = CONVENTIONS[options.convention]
        if options.stage == 2:
            self.optimizer = stage2_optimizer(self.model, options.lr, options.galore_rank, options.update_proj_gap,
                                              options.galore_scale)
        else:
            self.optimizer = torch.optim.AdamW([p for p in self.model.parameters() if p.requires_grad], lr=options.lr)
        self.net = distributed.wrap(self.model, self.world)
        self.nets = nn.ModuleDict()  # what trains beside the depth: pose (+ intrinsics head), appearance flow
        self.optimizers = [self.optimizer]
        if options.objective == SELF_SUPERVISED:
            size = tuple(train_set.rgb.shape[1:3]) if options.learn_intrinsics else None
            self.nets["pose"] = PoseNet(scale=self.convention.pose_scale, intrinsics_size=size)
            if options.appearance_flow:
                self.nets["appearance"] = AppearanceFlowNet()
            if train_set.stereo is not None and options.stereo_weight > 0:
                self.nets["scale"] = DepthScale(self._initial_scale())
            self.nets.to(self.world.device)
            self.optimizers.append(torch.optim.AdamW(self.nets.parameters(), lr=options.pose_lr))
        self.wrapped = {k: distributed.wrap(v, self.world) for k, v in self.nets.items()}
        self.rng = np.random.default_rng([options.seed, self.world.rank])  # augmentation differs per rank
        self.step_count = 0
        self.best = float("inf")
        self._batches = distributed.batches(len(train_set), options.batch_size, self.world, options.seed)

    def _frames(self, picks: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """The triples of `picks` as (B, 3, 3, h, w) floats in [0, 1] and the centre frames' K (B, 3, 3)."""
        idx = self.train_set.triples[picks]
        rgb = torch.from_numpy(np.ascontiguousarray(self.train_set.rgb[idx]))
        K = torch.from_numpy(self.train_set.K[idx[:, 1]])
        return rgb.permute(0, 1, 4, 2, 3).float().div(255.0).to(self.world.device), K.to(self.world.device)

    def _forward(self, images: torch.Tensor) -> torch.Tensor:
        """The network's output for float images (B, 3, h, w) through the model's own preprocessing."""
        rgb = (images.detach() * 255).round().byte().permute(0, 2, 3, 1).cpu().numpy()
        amp = self.world.device.type == "cuda"
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
            return self.net(self.model.preprocess(rgb)).float()

    def losses(self, picks: list[int]) -> dict[str, torch.Tensor]:
        """The loss terms of one batch of triples (plus detached diagnostics, prefixed `_`)."""
        frames, K = self._frames(picks)
        if self.opt.objective == DISTILL:
            return self._distill_losses(picks, frames[:, 1])
        inp, img, K, flip = augment_triples(frames, K, self.rng)
        out = self._forward(inp[:, 1])
        scale = self.wrapped["scale"]() if "scale" in self.wrapped else 1.0
        disps = disparity_pyramid(output_disparity(out, self.model.kind, self.opt.depth_range, scale), self.opt.scales)
        pairs = [self.wrapped["pose"](inp[:, f], inp[:, 1]) for f in (0, 2)]
        poses = [pose_matrix(*p[:2]) for p in pairs]
        diagnostics = {}
        if self.opt.learn_intrinsics:  # EndoDAC: K per pair (here the mean of the two pairs' K)
            K = (pairs[0][2] + pairs[1][2]) / 2
            h, w = img.shape[-2:]
            diagnostics = {f"_{k}": v for k, v in zip(("fx", "fy", "cx", "cy"), (
                K[:, 0, 0] / w, K[:, 1, 1] / h, K[:, 0, 2] / w, K[:, 1, 2] / h))}
            diagnostics = {k: v.mean().detach() for k, v in diagnostics.items()}
        terms = photometric_objective(disps, img[:, 1], [img[:, 0], img[:, 2]], poses, K, self.convention,
                                      self.opt.depth_range, self.wrapped.get("appearance"))
        kept = terms.pop("kept")
        if "scale" in self.wrapped:
            terms["stereo_photometric"] = self.opt.stereo_weight * self._stereo_term(disps, flip, picks)
            diagnostics["_mm_per_unit"] = scale.detach()
        return {**terms, "_kept": kept, **diagnostics}

    def _initial_scale(self) -> float:
        """Where the learnt mm-per-unit starts: the best of a log grid (0.01 to 10^4) for the left-right term on up
        to 8 training frames, un-augmented."""
        picks = list(range(min(8, len(self.train_set))))
        centres = self.train_set.triples[picks, 1]
        frames, _ = self._frames(picks)
        with torch.no_grad():
            out = self._forward(frames[:, 1])

        def loss(mm_per_unit: float) -> tuple[torch.Tensor, torch.Tensor]:
            disp = output_disparity(out, self.model.kind, self.opt.depth_range, mm_per_unit)
            depth = full_depths([disp], self.train_set.rgb.shape[1:3], self.opt.depth_range)[0]
            return self.train_set.stereo.photometric(depth, centres), self.train_set.stereo.coverage(depth, centres)

        return best_scale(loss, np.geomspace(1e-2, 1e4, 61))

    def _stereo_term(self, disps: list[torch.Tensor], flip: torch.Tensor, picks: list[int]) -> torch.Tensor:
        """The left-right photometric error of the centre frames, each scale's depth (mm) un-flipped onto the
        stored views, averaged over the scales."""
        size = self.train_set.rgb.shape[1:3]
        centres = self.train_set.triples[picks, 1]
        views = self.train_set.stereo
        return torch.stack([views.photometric(flip_batch(d, flip.to(d.device)), centres)
                            for d in full_depths(disps, size, self.opt.depth_range)]).mean()

    def _distill_losses(self, picks: list[int], images: torch.Tensor) -> dict[str, torch.Tensor]:
        centres = torch.as_tensor(self.train_set.triples[picks, 1])
        label, weight = (t[centres].to(self.world.device) for t in self.labels)
        flip = flips(len(picks), self.rng)
        images, label, weight = (flip_batch(t, flip) for t in (images, label, weight))
        out = self._forward(colour_jitter(images[:, None], self.rng)[:, 0])
        depth = 1.0 / out.clamp_min(1e-6) if self.model.kind == RELATIVE_INVERSE else out
        depth = F.interpolate(depth, size=label.shape[-2:], mode="bilinear", align_corners=False)
        return distillation_loss(depth, label, weight)

    def step(self) -> dict[str, float]:
        """One optimisation step on this rank's next batch."""
        self.model.train()
        terms = self.losses(next(self._batches))
        loss = sum(v for k, v in terms.items() if not k.startswith("_"))
        factor = lr_factor(self.step_count, self.opt.warmup, self.opt.steps)
        for optimizer, base in zip(self.optimizers, (self.opt.lr, self.opt.pose_lr)):
            optimizer.zero_grad(set_to_none=True)
            for group in optimizer.param_groups:
                group["lr"] = base * factor
        loss.backward()
        for optimizer in self.optimizers:
            optimizer.step()
        self.step_count += 1
        return {k.lstrip("_"): float(v.detach()) for k, v in terms.items()}

    def counts(self) -> dict:
        """Trainable parameters: per sub-space with adapters (stage 1) or GaLore groups (stage 2), else the total."""
        counts = {"model": self.model.num_parameters(trainable_only=True)}
        if self.opt.adapters or self.opt.stage == 2:
            counts["subspaces"] = subspace_counts(self.model, self.opt.stage)
        for name, net in self.nets.items():
            counts[f"{name}_network"] = sum(p.numel() for p in net.parameters())
        return counts

    def describe(self) -> dict:
        """The run's options, world size and parameter counts, as JSON-ready data."""
        return {**asdict(self.opt), "world_size": self.world.size, "trainable": self.counts()}

    def save(self, out: Path) -> None:
        """The checkpoint: adapters only (stage 1 with adapters, on the base named in its options), else all weights."""
        self.model.eval()
        if self.opt.adapters and self.opt.stage == 1:
            save_adapters(self.model, out)
        else:
            save_checkpoint(self.model.state_dict(), out, self.model.name, self.model.options)

    def resume_state(self) -> dict:
        """Everything `resume` needs to continue exactly."""
        return {"step": self.step_count, "best": self.best, "model": self.model.state_dict(),
                "nets": self.nets.state_dict(),
                "optimizers": [o.state_dict() for o in self.optimizers], "rng": self.rng.bit_generator.state,
                "torch_rng": torch.get_rng_state()}

    def resume(self, path: Path) -> None:
        """Continue from a resume file: weights, optimizer states, step, random states, batch order."""
        state = torch.load(path, map_location=self.world.device, weights_only=False)
        self.model.load_state_dict(state["model"])
        self.nets.load_state_dict(state["nets"])
        for optimizer, saved in zip(self.optimizers, state["optimizers"]):
            optimizer.load_state_dict(saved)
        self.rng.bit_generator.state = state["rng"]
        torch.set_rng_state(state["torch_rng"])
        self.step_count, self.best = state["step"], state["best"]
        for _ in range(self.step_count):
            next(self._batches)

    def train(self, out: str | Path) -> Path:
        """Run to `steps`; rank 0 logs, keeps the checkpoint that is best on validation (the start included)
        and the resume file."""
        out = Path(out)
        t0 = time.perf_counter()
        running: list[dict[str, float]] = []
        curve = []
        if self.world.main and self.val_set is not None and self.step_count == 0:
            curve.append({"step": 0})  # where the run starts, the checkpoint to beat
            self._checkpoint(out, curve[-1])
            self.log(curve[-1])
        while self.step_count < self.opt.steps:
            running.append(self.step())
            step = self.step_count
            if step % self.opt.val_every and step != self.opt.steps:
                continue
            record = {"step": step, "seconds": round(time.perf_counter() - t0, 1),
                      **{k: float(np.mean([r[k] for r in running])) for k in running[0]}}
            running = []
            if self.world.main:
                self._checkpoint(out, record)
                curve.append(record)
                self.log(record)
            distributed.barrier(self.world)
        if self.world.main:
            self._card(out, curve)
        return out

    def _checkpoint(self, out: Path, record: dict) -> None:
        """Validate (rank 0), write the checkpoint when it is the best so far on validation (or always without)."""
        if self.val_set is not None:
            record.update(self._scores())
        score = record.get("val_abs_rel", -self.step_count)
        if score <= self.best or not out.exists():
            self.best = min(self.best, score)
            self.save(out)
            record["saved"] = True
        with atomic_write(resume_path(out)) as tmp:
            torch.save(self.resume_state(), tmp)

    def _scores(self) -> dict[str, float]:
        """abs_rel, rmse and a1 on the validation frames, prefixed `val_`."""
        scores = validate(self.model, self.val_set, self.opt.val_frames)
        return {f"val_{k}": scores[k] for k in ("abs_rel", "rmse", "a1") if k in scores}

    def _card(self, out: Path, curve: list[dict]) -> None:
        card = {**self.describe(), "model_name": self.model.name, "curve": curve,
                "checkpoint_chosen_on": "validation frames" if self.val_set is not None else "last step"}
        with atomic_write(card_path(out)) as tmp:
            tmp.write_text(json.dumps(card, indent=2, default=str))


def resume_path(out: str | Path) -> Path:
    """Where a run keeps what `--resume` reads: `<out>.resume.pt`."""
    out = Path(out)
    return out.with_name(out.name + ".resume.pt")

