"""`endodepth adapt`: fine-tune a model's LoRA adapters on a video's own frames (no ground truth);
write a checkpoint and its card."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from tqdm import tqdm

from endodepth.errors import UsageError
from endodepth.io.detect import open_source
from endodepth.train.adapt import (
    ANCHOR,
    DEFAULT_BATCH,
    DEFAULT_STEPS,
    OBJECTIVES,
    AdaptJob,
    AdaptOptions,
)
from endodepth.train.adapt_files import check_output, parse_range

_DEFAULTS = AdaptOptions()


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", type=Path, help="video, image folder, SCARED keyframe or plain layout to adapt to")
    p.add_argument("--model", default=_DEFAULTS.model, help="model name or checkpoint to adapt (default: default)")
    p.add_argument("--out", type=Path, required=True,
                   help="adapted checkpoint to write (.safetensors or .pth); its JSON card goes beside it")
    p.add_argument("--objective", choices=OBJECTIVES, default="auto",
                   help="stereo: stereo depth as labels; mono: photometric self-supervision with a pose "
                        "network; pseudo: distil --teacher; auto: stereo for stereo sources, else mono")
    p.add_argument("--teacher", help="model name or checkpoint whose depth is the label (objective pseudo)")
    p.add_argument("--steps", type=int, help=f"optimisation steps (default: {_per_objective(DEFAULT_STEPS)})")
    p.add_argument("--frames", metavar="A:B",
                   help="train on frames A..B-1 only; the others are held out (and measured on when the "
                        "source has ground truth)")
    p.add_argument("--max-frames", type=int, default=_DEFAULTS.max_frames,
                   help="most frames trained on (spread evenly)")
    p.add_argument("--frame-step", type=int, default=_DEFAULTS.frame_step, help="mono: frames between t and t±1")
    p.add_argument("--batch-size", type=int, help=f"frames per step (default: {_per_objective(DEFAULT_BATCH)})")
    p.add_argument("--lr", type=float, default=_DEFAULTS.lr, help="adapters' learning rate")
    p.add_argument("--anchor", type=float,
                   help="weight of the pull toward the base model's own depth where no label vouches for a pixel "
                        f"(mono: everywhere; default: {_per_objective(ANCHOR)})")
    p.add_argument("--rank", type=int, default=_DEFAULTS.rank, help="LoRA rank")
    p.add_argument("--stage", type=int, choices=(1, 2), default=_DEFAULTS.stage,
                   help="2: after the adapters, fold them and train all weights for --stage2-steps more steps "
                        "(the memory-efficient GaLoreAdamW stage of `endodepth train --stage 2`); the "
                        "checkpoint then holds all weights")
    p.add_argument("--stage2-steps", type=int, help="steps of stage 2 (default: half of --steps)")
    p.add_argument("--stage2-lr", type=float, default=_DEFAULTS.stage2_lr, help="learning rate of stage 2")
    p.add_argument("--seed", type=int, default=_DEFAULTS.seed)
    p.add_argument("--threads", type=int, default=0, help="CPU threads for torch (0: all cores)")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda or auto")


def _per_objective(values: dict[str, float]) -> str:
    """`200 mono, 200 pseudo, 200 stereo` for a dict of per-objective defaults."""
    return ", ".join(f"{v} {k}" for k, v in sorted(values.items()))


def run(args: argparse.Namespace) -> int:
    check_output(args.out)
    if args.stage2_steps is not None and args.stage != 2:
        raise UsageError("--stage2-steps goes with --stage 2")
    if args.threads:
        torch.set_num_threads(args.threads)
    with open_source(args.source) as source:
        options = AdaptOptions(
            model=args.model, objective=args.objective, teacher=args.teacher, steps=args.steps,
            frames=parse_range(args.frames, len(source)) if args.frames else None, max_frames=args.max_frames,
            frame_step=args.frame_step, batch_size=args.batch_size, lr=args.lr, rank=args.rank, seed=args.seed,
            anchor=args.anchor, stage=args.stage, stage2_steps=args.stage2_steps, stage2_lr=args.stage2_lr,
            device=args.device,
        )
        job = AdaptJob(source, args.out, options)
        with tqdm(total=job.steps + job.stage2_steps, unit="step", desc=f"adapt ({job.objective})") as bar:
            def progress(step: int, total: int, terms: dict) -> None:
                bar.set_postfix({k: f"{v:.4f}" for k, v in terms.items()}, refresh=False)
                bar.update(step - bar.n)

            job.progress = progress
            result = job.run()
    card = result.card
    stage2 = f" + {card['stage2_steps']} stage-2 steps on all weights" if card["stage"] == 2 else ""
    print(f"wrote {result.checkpoint} ({card['parameters']['adapters']:,} adapter parameters, "
          f"{card['objective']}, {card['steps']} steps{stage2}, {card['seconds']:.0f} s) and {result.card_path}")
    check = card.get("ground_truth_check")
    if check:
        print(f"ground-truth check on {check['before']['evaluated']} {check['before']['frames']}: abs_rel "
              f"{check['before']['abs_rel']:.4f} before, {check['after']['abs_rel']:.4f} after")
    print(json.dumps({"checkpoint": str(result.checkpoint), "card": str(result.card_path)}))
    return 0
