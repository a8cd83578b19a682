"""Self-learning on the video being watched: `AdaptJob` fine-tunes LoRA adapters of a model on a source's frames.

Objectives (none reads ground truth; held-out frames are never trained on):
- `pseudo`: a teacher's depth (another model) as confidence-weighted, scale-invariant labels;
- `stereo`: the same with the stereo depth of the left/right views as the teacher (metric), plus the
  left-right photometric loss of the right view warped into the left by the student's depth (`train.stereo_term`);
- `mono`: monodepth2's photometric loss on frame triples (t-1, t, t+1) with a pose network trained
  alongside, through the source's intrinsics (learnt with them when the source has no calibration).
The job is Qt-free: a progress callback reports each step and `cancel()` stops it before any
file is written. When the source has ground truth, abs_rel before and after is measured on the
frames outside the training range (or on the training frames, labelled so, when none are held out).
"""

from __future__ import annotations

import json
import math
import resource
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from endodepth import models
from endodepth.analysis.metrics import evaluate_frame, summarize
from endodepth.errors import EndoDepthError, InputError
from endodepth.frame import Frame
from endodepth.io.atomic import atomic_write
from endodepth.io.source import Source
from endodepth.kinds import RELATIVE_INVERSE
from endodepth.models.adapted import NAME as ADAPTED
from endodepth.models.adapters import save_adapters
from endodepth.models.checkpoint import save_checkpoint
from endodepth.train.adapt_files import card_path, check_output, thinned
from endodepth.train.augment import augment
from endodepth.train.losses import silog
from endodepth.train.photometric import self_supervised_loss
from endodepth.train.pose_net import LearnedIntrinsics, PoseNet
from endodepth.train.pseudo_labels import (
    Teacher,
    model_teacher,
    pseudo_label_loss,
    pseudo_labels,
)
from endodepth.train.stages import stage2_optimizer, subspace_counts
from endodepth.train.stereo_term import WEIGHT as STEREO_WEIGHT
from endodepth.train.stereo_term import StereoViews, small_pair
from endodepth.vis.masks import specular_mask

OBJECTIVES = ("auto", "stereo", "mono", "pseudo")
INTRINSICS_LR = 2e-3  # mono: of the learnt K's four numbers (log focal scales, bounded principal point)
STEREO_TEACHER = "stereo"  # the registered stereo model, the teacher of objective stereo
# The anchor's default weight; off for mono, where (SILog's square root does not fade) 0.1 held the base's depth.
ANCHOR = {"mono": 0.0, "pseudo": 0.1, "stereo": 0.1}
# Defaults sized for <= 5 min on 2 CPU cores with the bundled model on a 10-300 frame clip (README, "Adapt").
DEFAULT_STEPS = {"mono": 200, "pseudo": 200, "stereo": 200}
DEFAULT_BATCH = {"mono": 4, "pseudo": 6, "stereo": 6}
Progress = Callable[[int, int, dict], None]
Stage = Callable[[str], None]


class AdaptCancelled(EndoDepthError):
    """The job was cancelled; nothing was written."""


@dataclass
class AdaptOptions:
    """What defines an adaptation run besides the source and the output file."""

    model: str = "default"
    objective: str = "auto"
    teacher: str | None = None
    steps: int | None = None  # None: DEFAULT_STEPS of the objective
    frames: tuple[int, int] | None = None  # training range [A, B) of the source; None: all frames
    max_frames: int = 150  # frames trained on, spread evenly over the range (the teacher labels each once)
    batch_size: int | None = None
    lr: float = 2e-3
    pose_lr: float = 5e-4
    pose_warmup: float = 0.2  # mono: fraction of the steps that train only the pose network
    frame_step: int = 1  # mono: distance between the frames of a triple
    stereo_photometric: float = STEREO_WEIGHT  # stereo: weight of the left-right photometric term
    anchor: float | None = None  # weight of the pull toward the base model's depth (scale-free); None: ANCHOR
    mask_specular: bool = True  # leave specular highlights out of the labels and the photometric terms
    learn_intrinsics: bool | None = None  # mono: learn the clip's K (None: when the source has no calibration)
    rank: int = 4
    alpha: float = 4.0
    stage: int = 1  # 2: then fold the adapters and train all weights (train.stages' GaLoreAdamW stage)
    stage2_steps: int | None = None  # None: half the adapter steps
    stage2_lr: float = 2e-4
    eval_frames: int = 40
    seed: int = 0
    device: str = "cpu"


@dataclass
class AdaptResult:
    """The checkpoint and card written, and the card's content."""

    checkpoint: Path
    card_path: Path
    card: dict = field(default_factory=dict)


def resolve_objective(objective: str, source: Source) -> str:
    """`auto` -> `stereo` when the source's frames carry a right view, else `mono`."""
    if objective not in OBJECTIVES:
        raise EndoDepthError(f"unknown objective {objective!r}; choose from {', '.join(OBJECTIVES)}")
    if objective != "auto":
        return objective
    return "stereo" if getattr(source[0], "right", None) is not None else "mono"


def stereo_teacher(device: str = "cpu") -> Teacher:
    """The stereo model as a teacher: metric depth of the left view, its confidence and holes."""
    return model_teacher(models.create(STEREO_TEACHER, device=device))


def _rgb_small(frame: Frame, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The frame's RGB area-shrunk to `size` (h, w) and its K scaled to match."""
    h, w = size
    H, W = frame.rgb.shape[:2]
    rgb = cv2.resize(frame.rgb, (w, h), interpolation=cv2.INTER_AREA)
    K = np.diag([w / W, h / H, 1.0]) @ np.asarray(frame.K, np.float64)
    return rgb, K


def _peak_memory_mb() -> float:
    """Peak resident memory of this process so far (MB)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


class AdaptJob:
    """One adaptation run: `run()` trains and writes the checkpoint and its card; `cancel()` stops it."""

    def __init__(self, source: Source, out: str | Path, options: AdaptOptions | None = None,
                 teacher: Teacher | None = None, progress: Progress | None = None,
                 stage: Stage | None = None) -> None:
        self.source, self.out = source, Path(out)
        self.opt = options or AdaptOptions()
        self.progress, self.stage = progress, stage
        self.learned_K: np.ndarray | None = None  # mono: the K learnt for a source without calibration
        self._cancel = threading.Event()
        check_output(self.out)
        self.objective = resolve_objective(self.opt.objective, source)
        n = len(source)
        self.train_range = self.opt.frames or (0, n)
        self.train_indices = self._training_indices()
        self.teacher = teacher if teacher is not None else self._teacher()
        self.model = models.create(ADAPTED, base=self.opt.model, rank=self.opt.rank, alpha=self.opt.alpha,
                                   device=self.opt.device)
        self.adapter_parameters = self.model.num_parameters(trainable_only=True)
        self.steps = self.opt.steps or DEFAULT_STEPS[self.objective]
        self.batch_size = self.opt.batch_size or DEFAULT_BATCH[self.objective]
        self.anchor = ANCHOR[self.objective] if self.opt.anchor is None else self.opt.anchor

    def cancel(self) -> None:
        """Ask the running job to stop at the next step (it raises AdaptCancelled, writing nothing)."""
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        """Whether `cancel()` was called."""
        return self._cancel.is_set()

    def _training_indices(self) -> list[int]:
        """The source positions trained on: the range, thinned evenly to `max_frames`; checked per objective."""
        start, stop = self.train_range
        if self.objective == "stereo" and getattr(self.source[start], "right", None) is None:
            raise InputError(self.source.path, "objective stereo needs a stereo source (left and right views); "
                             "this one is mono: use --objective mono or pseudo")
        if self.objective != "mono":
            return thinned(range(start, stop), self.opt.max_frames)
        k = self.opt.frame_step
        if stop - start < 2 * k + 1:
            raise InputError(self.source.path, f"objective mono needs at least {2 * k + 1} frames in the "
                             f"training range (frame step {k}), it has {stop - start}")
        centres = thinned(range(start + k, stop - k), max(1, self.opt.max_frames // 3))
        return sorted({c + d for c in centres for d in (-k, 0, k)})

    def _teacher(self) -> Teacher | None:
        if self.objective == "stereo":
            return stereo_teacher(self.opt.device)
        if self.objective == "pseudo":
            if not self.opt.teacher:
                raise EndoDepthError("objective pseudo needs a teacher: --teacher NAME_OR_CHECKPOINT")
            return model_teacher(models.create(self.opt.teacher, device=self.opt.device))
        return None

    def _eval_indices(self) -> tuple[list[int], str]:
        """Frames to measure abs_rel on, and what they are: held out when a range leaves some, else training frames."""
        start, stop = self.train_range
        held = [i for i in range(len(self.source)) if not start <= i < stop]
        label = "held-out frames (outside the training range)"
        if not held:
            held, label = list(range(start, stop)), "training frames (no frame was held out)"
        picks = np.linspace(0, len(held) - 1, min(len(held), self.opt.eval_frames)).round().astype(int)
        return [held[i] for i in picks], label

    def evaluate(self) -> dict:
        """SCARED-protocol errors of the current model on the evaluation frames (median scaling), or {}."""
        if not self.source.has_ground_truth:
            return {}
        indices, label = self._eval_indices()
        rows = []
        for i in indices:
            frame = self.source[i]
            if frame.gt_depth is None:
                continue
            result = self.model.predict(frame.rgb)
            errors = evaluate_frame(result.output, result.kind, frame.gt_depth)
            if errors is not None:
                rows.append(errors)
        summary = summarize(rows)
        return {"frames": label, "indices": indices,
                **{k: summary[k] for k in ("abs_rel", "rmse", "a1") if k in summary},
                "evaluated": summary["frames"]}

    def _depth(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """The student's positive depth at `size` (inverse-depth outputs inverted), mean-normalised per image."""
        out = self.model(x)
        depth = 1.0 / out.clamp_min(1e-6) if self.model.kind == RELATIVE_INVERSE else out
        depth = F.interpolate(depth, size=size, mode="bilinear", align_corners=False)
        return (depth / depth.mean((2, 3), keepdim=True)).clamp(1e-2, 1e2)

    @torch.no_grad()
    def _base_depth(self, rgb: np.ndarray, size: tuple[int, int], batch: int = 16) -> torch.Tensor:
        """The depth before adapting (N, 1, h, w) at `size` of uint8 frames (N, h, w, 3): the anchor's target."""
        return torch.cat([self._depth(self._tensor(rgb[i:i + batch]), size) for i in range(0, len(rgb), batch)]).cpu()

    def _anchor(self, depth: torch.Tensor, base: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """`anchor` x the scale-free (SILog, variance focus 1) log distance to the base's depth, weighted per pixel."""
        return self.anchor * silog(depth.clamp_min(1e-6).log(), base.clamp_min(1e-6).log(), weight, 1.0)

    def _load(self) -> tuple[np.ndarray, np.ndarray]:
        """Training frames at the model's input size (N, h, w, 3) uint8, and their K (N, 3, 3)."""
        rgbs, Ks = zip(*(_rgb_small(self.source[i], self.model.input_size) for i in self.train_indices))
        return np.stack(rgbs), np.stack(Ks).astype(np.float32)

    def run(self) -> AdaptResult:
        """Measure, adapt, measure again, write the checkpoint and its card (atomically)."""
        t0 = time.perf_counter()
        torch.manual_seed(self.opt.seed)
        rng = np.random.default_rng(self.opt.seed)
        self._stage("measuring the model before adapting" if self.source.has_ground_truth else "starting")
        before = self.evaluate()
        self._check_cancel()
        curve = self._train_mono(rng) if self.objective == "mono" else self._train_pseudo(rng)
        self.model.eval()
        self._stage("measuring the adapted model" if before else "writing the checkpoint")
        after = self.evaluate()
        seconds = time.perf_counter() - t0
        card = self._card(curve, before, after, seconds)
        self._check_cancel()
        if self.stage2_steps:
            save_checkpoint(self.model.state_dict(), self.out, self.model.name, self.model.options)
        else:
            save_adapters(self.model, self.out)
        path = card_path(self.out)
        with atomic_write(path) as tmp:
            tmp.write_text(json.dumps(card, indent=2, default=str))
        return AdaptResult(self.out, path, card)

    def _check_cancel(self) -> None:
        if self.cancelled:
            raise AdaptCancelled(f"adapting to {self.source.path} was cancelled; nothing was written")

    def _stage(self, text: str) -> None:
        """Tell the caller what the job does now (between the steps' progress reports)."""
        self._check_cancel()
        if self.stage is not None:
            self.stage(text)

    def _report(self, step: int, terms: dict) -> None:
        self._check_cancel()
        if self.progress is not None:
            self.progress(step, self.steps + self.stage2_steps, terms)

    def _train_pseudo(self, rng: np.random.Generator) -> list[dict]:
        """Distil the teacher's labels (computed once at half the input size) into the adapters; objective
        stereo adds the left-right photometric term (no flips then: they would mirror the pair's geometry)."""
        h, w = self.model.input_size
        size = (h // 2, w // 2)
        stereo = self.objective == "stereo"
        rgbs, pairs, first = [], [], self.source[self.train_indices[0]]

        def frames():  # one pass over the source: the teacher reads each frame, the student's views are kept
            for i in self.train_indices:
                frame = self.source[i]
                rgbs.append(_rgb_small(frame, self.model.input_size)[0])
                if stereo:
                    pairs.append(small_pair(frame, size))
                yield frame

        count = len(self.train_indices)
        labels, weights = pseudo_labels(frames(), self.teacher, size,
                                        lambda i: self._stage(f"teacher labels {i}/{count}"), self.opt.mask_specular)
        self._stage("training")
        rgb = np.stack(rgbs)
        views = (StereoViews.build(pairs, first.stereo, first.size, self.opt.stereo_photometric, self.opt.mask_specular)
                 if stereo else None)
        maps = torch.cat([labels, weights, self._base_depth(rgb, size)], 1).permute(0, 2, 3, 1).numpy()

        def losses(train_depth: bool) -> dict[str, torch.Tensor]:
            picks = rng.choice(len(rgb), min(self.batch_size, len(rgb)), replace=False)
            x, target = augment(rgb[picks], maps[picks], rng, flips=not stereo)
            target = torch.from_numpy(np.ascontiguousarray(target)).permute(0, 3, 1, 2).to(self.model.device)
            depth = self._depth(self._tensor(x), size)
            terms = pseudo_label_loss(depth, target[:, :1], target[:, 1:2])
            if self.anchor > 0:  # where the teacher is unsure or silent, stay near the base's shape
                terms["anchor"] = self._anchor(depth, target[:, 2:], 1.0 - target[:, 1:2])
            if views is not None and views.weight > 0:
                terms["stereo_photometric"] = views.loss(depth, target[:, :1], target[:, 1:2], picks)
            return terms

        return self._optimise(losses)

    def _train_mono(self, rng: np.random.Generator) -> list[dict]:
        """Photometric self-supervision on triples; the first `pose_warmup` of the steps train only the pose network."""
        self._stage("loading frames")
        rgb, K = self._load()
        spec = torch.from_numpy(np.stack([specular_mask(im, dilate=1) for im in rgb]))[:, None].float()
        keep = F.max_pool2d(spec, 2) == 0 if self.opt.mask_specular else None  # off any highlight at the loss size
        h, w = self.model.input_size
        size = (h // 2, w // 2)  # the loss works at half the input size (the depth is a quarter)
        base = self._base_depth(rgb, size) if self.anchor > 0 else None
        self._stage("training")
        k = self.opt.frame_step
        positions = {idx: p for p, idx in enumerate(self.train_indices)}
        centres = [i for i in self.train_indices if i - k in positions and i + k in positions]
        pose_net = PoseNet().to(self.model.device)
        K = K * np.array([[0.5], [0.5], [1.0]], np.float32)
        learn = self.opt.learn_intrinsics
        learn = bool(getattr(self.source, "intrinsics_assumed", True)) if learn is None else learn
        intrinsics = LearnedIntrinsics(torch.from_numpy(K[0]), size).to(self.model.device) if learn else None
        pose_opt = torch.optim.AdamW([{"params": pose_net.parameters()}] + (
            [{"params": intrinsics.parameters(), "lr": INTRINSICS_LR}] if intrinsics is not None else []),
            lr=self.opt.pose_lr)

        def losses(train_depth: bool) -> dict[str, torch.Tensor]:
            picks = [centres[i] for i in rng.choice(len(centres), min(self.batch_size, len(centres)), replace=False)]
            target, prev, nxt = (self._tensor(rgb[[positions[i + d] for i in picks]]) for d in (0, -k, k))
            Ks = (intrinsics()[None].expand(len(picks), 3, 3) if intrinsics is not None
                  else torch.from_numpy(K[[positions[i] for i in picks]]).to(self.model.device))
            with torch.set_grad_enabled(train_depth):
                depth = self._depth(target, size)
            poses = [pose_net.transform(s, target) for s in (prev, nxt)]
            small = [F.interpolate(im, size=size, mode="area").contiguous() for im in (target, prev, nxt)]
            mask = None if keep is None else keep[[positions[i] for i in picks]].to(self.model.device)
            terms = self_supervised_loss(depth, small[0], small[1:], poses, Ks, mask=mask)
            terms["_kept"] = terms.pop("kept")
            if base is not None:
                prior = base[[positions[i] for i in picks]].to(self.model.device)
                terms["anchor"] = self._anchor(depth, prior, torch.ones_like(prior))
            return terms

        curve = self._optimise(losses, pose_opt, warmup=int(self.opt.pose_warmup * self.steps))
        self.pose_parameters = sum(p.numel() for p in pose_net.parameters())
        if intrinsics is not None:  # the learnt K at the source's resolution
            W, H = self.source[self.train_indices[0]].size
            self.learned_K = np.diag([W / size[1], H / size[0], 1.0]) @ intrinsics().detach().cpu().numpy()
        return curve

    def _tensor(self, rgb: np.ndarray) -> torch.Tensor:
        """A uint8 (B, h, w, 3) batch as the network's float input (RGB in [0, 1], channels-last)."""
        x = torch.from_numpy(np.ascontiguousarray(rgb)).to(self.model.device).permute(0, 3, 1, 2).float() / 255.0
        return x.contiguous(memory_format=torch.channels_last)

    @property
    def stage2_steps(self) -> int:
        """Steps of the full-weight stage: 0 unless `stage` is 2 (then `stage2_steps`, default half of `steps`)."""
        if self.opt.stage != 2:
            return 0
        return self.opt.stage2_steps or max(1, self.steps // 2)

    def _optimise(self, losses: Callable[[bool], dict[str, torch.Tensor]], side: torch.optim.Optimizer | None = None,
                  warmup: int = 0) -> list[dict]:
        """Stage 1: AdamW on the adapters (the first `warmup` steps move only `side`, e.g. the pose network);
        with stage 2, then the folded weights under `train.stages.stage2_optimizer` (GaLoreAdamW). Terms
        named `_x` are diagnostics, reported as `x` but not optimised. Returns the loss curve."""
        curve = []
        adapters = torch.optim.AdamW([p for p in self.model.parameters() if p.requires_grad], lr=self.opt.lr)
        plan = [(adapters, self.opt.lr, range(1, self.steps + 1), warmup)]
        for number, (optimizer, lr, steps, wait) in enumerate(plan, 1):
            for step in steps:
                terms = losses(step > wait)
                loss = sum(v for name, v in terms.items() if not name.startswith("_"))
                if side is not None:
                    side.zero_grad(set_to_none=True)
                factor = self._scheduler_factor(step - wait, len(steps) - wait) if step > wait else 0.0
                self._step(optimizer, loss, lr * factor)
                if side is not None:
                    side.step()
                curve.append({name.lstrip("_"): float(v.detach()) for name, v in terms.items()})
                self._report(len(curve), curve[-1])
            if number == 1 and self.stage2_steps:
                self._stage("stage 2: all weights (GaLore)")
                optimizer = stage2_optimizer(self.model, self.opt.stage2_lr)
                plan.append((optimizer, self.opt.stage2_lr, range(1, self.stage2_steps + 1), 0))
        return curve

    @staticmethod
    def _scheduler_factor(step: int, total: int) -> float:
        """Cosine decay of a stage's rate from 1 to 0.1 over the `total` steps that train it."""
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, step / max(1, total))))

    def _step(self, optimizer: torch.optim.Optimizer, loss: torch.Tensor, lr: float) -> None:
        """Backward and one step at rate `lr` (0: gradients computed, the weights unmoved)."""
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if lr > 0:
            for group in optimizer.param_groups:
                group["lr"] = lr
            optimizer.step()

    def _card(self, curve: list[dict], before: dict, after: dict, seconds: float) -> dict:
        """What the JSON card beside the checkpoint says."""
        every = max(1, len(curve) // 50)
        loss_curve = [{"step": i + 1, **{k: round(float(np.mean([c[k] for c in curve[max(0, i + 1 - every):i + 1]])), 5)
                                         for k in curve[0]}} for i in range(every - 1, len(curve), every)]
        trainable = self.adapter_parameters
        card = {
            "model": ADAPTED, "base_model": self.opt.model, "source": str(self.source.path),
            "objective": self.objective,
            "teacher": {"pseudo": self.opt.teacher, "stereo": STEREO_TEACHER}.get(self.objective),
            "frames": {"range": list(self.train_range), "used": len(self.train_indices),
                       "first": self.train_indices[0], "last": self.train_indices[-1]},
            "intrinsics_assumed": bool(getattr(self.source, "intrinsics_assumed", True)),
            "learned_intrinsics": None if self.learned_K is None else np.round(self.learned_K, 3).tolist(),
            "steps": self.steps, "stage": 2 if self.stage2_steps else 1, "stage2_steps": self.stage2_steps,
            "checkpoint": ("all weights (adapters folded, then trained under GaLoreAdamW)" if self.stage2_steps
                           else f"adapters only, over {self.opt.model}"),
            "batch_size": self.batch_size, "seconds": round(seconds, 1),
            "threads": torch.get_num_threads(), "peak_memory_mb": round(_peak_memory_mb()),
            "parameters": {"base": self.model.num_parameters() - trainable, "adapters": trainable,
                           "pose_network": getattr(self, "pose_parameters", 0),
                           **({"stage2": subspace_counts(self.model, 2)} if self.stage2_steps else {})},
            "options": asdict(self.opt), "loss_curve": loss_curve,
        }
        if before:
            card["ground_truth_check"] = {"note": "ground truth is used only to measure, never to train",
                                          "before": before, "after": after}
        return card
