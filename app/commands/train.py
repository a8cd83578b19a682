"""`endodepth train`: supervised on rendered synthetic endoscopy, or self-supervised / distilled on any video source.

`--objective supervised` (the default model's recipe) renders the synthetic set once and trains on
it. `self-supervised` and `distill` read frame triples from `--source` (SCARED, AF-SfMLearner,
plain layouts, image folders, videos; with `--split-dir` the standard train/val split files, the
test split is never read) and can train adapters (`--adapters`, stage 1) or the merged weights
under GaLore (`--stage 2`). Runs the same under `torchrun -m endodepth train ...`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from endodepth.commands.options import add_device, size_type
from endodepth.commands.train_video import OBJECTIVES, SUPERVISED, add_video_arguments, model_options, run_video
from endodepth.errors import UsageError
from endodepth.models.registry import resolve_device, spec
from endodepth.synth.domains import DOMAINS
from endodepth.synth.settings import GENERATOR_VERSIONS
from endodepth.train import distributed
from endodepth.train.augment import AUGMENTATIONS
from endodepth.train.datasets import (
    FrameSet,
    FrameSets,
    SynthRecipe,
    default_workers,
    render_training_set,
    split_by_sequence,
)
from endodepth.train.trainer import Trainer, TrainOptions, write_log
from endodepth.train.video_trainer import VideoOptions

_DEFAULTS = TrainOptions()
_VIDEO = VideoOptions()
_RECIPE = SynthRecipe()


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("out", type=Path, help="checkpoint to write (.safetensors or .pth); a .log.jsonl goes beside it")
    p.add_argument("--objective", choices=OBJECTIVES, default=SUPERVISED,
                   help="supervised on rendered synthetic frames (default), self-supervised photometric on "
                        "video triples, or distill a teacher's labels")
    p.add_argument("--model", default=_DEFAULTS.model,
                   help=f"architecture to train (supervised: from scratch; default {_DEFAULTS.model})")
    p.add_argument("--data", type=Path, nargs="+", default=[Path("data/synth-train")],
                   help="folder of the rendered training set, rendered there when missing (default "
                        "data/synth-train); several folders are mixed, each with the --sequences, "
                        "--first-seed and --generator-version at its position")
    p.add_argument("--sequences", type=int, nargs="+", default=[_RECIPE.sequences], help="synthetic scenes to render")
    p.add_argument("--frames", type=int, default=_RECIPE.frames, help="frames per scene")
    p.add_argument("--first-seed", type=int, nargs="+", default=[_RECIPE.first_seed],
                   help="seed of the first scene (training seeds < 1000000)")
    p.add_argument("--spread", type=float, default=_RECIPE.spread, help="camera speed factor between kept frames")
    p.add_argument("--render-size", type=size_type(minimum=8), default=(_RECIPE.width, _RECIPE.height), metavar="WxH",
                   help=f"rendered frame size (default {_RECIPE.width}x{_RECIPE.height})")
    p.add_argument("--generator-version", type=int, nargs="+", choices=GENERATOR_VERSIONS, default=[_RECIPE.version],
                   help="random_settings version: 1 the original sampler, 2 with domain randomisation "
                        f"(instruments, light model, camera, texture scales; default {_RECIPE.version})")
    p.add_argument("--domains", nargs="+", choices=DOMAINS, metavar="DOMAIN",
                   help=f"render scenes of these domains in turn ({', '.join(DOMAINS)}; default: a routed "
                        "model's head domains, else random_settings' scenes)")
    p.add_argument("--domain-weight", type=float, default=_DEFAULTS.domain_weight,
                   help="weight of the router's domain cross-entropy (routed metric models)")
    p.add_argument("--variance-focus", type=float, default=_DEFAULTS.variance_focus,
                   help="SILog's lambda: 1 ignores the scale; a metric model learns it from 1 - lambda of the "
                        f"squared mean log error (default {_DEFAULTS.variance_focus}, ZoeDepth's 0.15 share)")
    p.add_argument("--val-sequences", type=int, default=8, help="last scenes held back for validation")
    p.add_argument("--steps", type=int, help=f"optimisation steps (default {_DEFAULTS.steps}; video {_VIDEO.steps})")
    p.add_argument("--batch-size", type=int,
                   help=f"batch size per process (default {_DEFAULTS.batch_size}; video {_VIDEO.batch_size})")
    p.add_argument("--lr", type=float, help=f"peak learning rate (default {_DEFAULTS.lr}; video {_VIDEO.lr})")
    p.add_argument("--warmup", type=int, default=_DEFAULTS.warmup,
                   help=f"steps of linear learning-rate warm-up (default {_DEFAULTS.warmup})")
    p.add_argument("--wise-alpha", type=float, default=_DEFAULTS.wise_alpha,
                   help="with --weights: write start + A x (tuned - start) at the end (WiSE-FT weight-space "
                        "ensembling; default 1: the tuned weights)")
    p.add_argument("--seed", type=int, default=_DEFAULTS.seed, help="seed of initialisation, batches and augmentation")
    p.add_argument("--gradient-weight", type=float, default=_DEFAULTS.gradient_weight,
                   help="weight of gradient matching")
    p.add_argument("--ssi-weight", type=float, default=_DEFAULTS.ssi_weight,
                   help="weight of the scale-and-shift-invariant loss on inverse depth (MiDaS; default 0: off)")
    p.add_argument("--augment", choices=AUGMENTATIONS, default=_DEFAULTS.augment,
                   help="standard: flips and colour jitter; heavy: plus casts, blur, smoke, blood, noise, JPEG")
    p.add_argument("--selectivity-layers", nargs="+", default=[], metavar="LAYER",
                   help="layers that get the depth-selectivity assign regulariser (You et al. 2021)")
    p.add_argument("--selectivity-weight", type=float, default=_DEFAULTS.selectivity_weight,
                   help="weight of the selectivity term (loss - weight * mean DS per layer)")
    p.add_argument("--val-every", type=int,
                   help=f"steps between validations (default {_DEFAULTS.val_every}; video {_VIDEO.val_every})")
    p.add_argument("--threads", type=int, default=0, help="CPU threads for torch (0: all cores)")
    p.add_argument("--workers", type=int, default=0, help="rendering processes (0: all cores)")
    add_device(p)
    add_video_arguments(p)


def recipes_of(args: argparse.Namespace) -> list[SynthRecipe]:
    """One rendering recipe per --data folder: --sequences, --first-seed and --generator-version by position
    (a single value serves every folder)."""
    width, height = args.render_size
    routed = [d[0] for d in spec(args.model).defaults.get("domains", [])]
    domains = tuple(args.domains if args.domains is not None else routed)
    n = len(args.data)
    per_set = {"--sequences": args.sequences, "--first-seed": args.first_seed,
               "--generator-version": args.generator_version}
    for flag, values in per_set.items():
        if len(values) not in (1, n):
            raise UsageError(f"{flag} needs one value or one per --data folder ({n}), got {len(values)}")
    recipes = []
    for k in range(n):
        sequences, first, version = (v[k] if len(v) == n else v[0] for v in per_set.values())
        if not 0 <= args.val_sequences < sequences:
            raise UsageError(f"--val-sequences must be in [0, {sequences}), got {args.val_sequences}")
        recipes.append(SynthRecipe(sequences, args.frames, width, height, first, args.spread, version, domains))
    return recipes


def run(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    defaults = _DEFAULTS if args.objective == SUPERVISED else _VIDEO
    for name in ("steps", "batch_size", "lr", "val_every"):
        if getattr(args, name) is None:
            setattr(args, name, getattr(defaults, name))
    if args.objective != SUPERVISED:
        return run_video(args)
    if args.resume or args.adapters or args.stage != 1:
        raise UsageError("--resume, --adapters and --stage go with --objective self-supervised or distill")
    if args.wise_alpha != 1.0 and args.weights is None:
        raise UsageError("--wise-alpha interpolates towards the starting weights: it needs --weights")
    recipes = recipes_of(args)
    world = distributed.join(resolve_device(args.device))
    if world.main:  # one renderer; the other ranks wait for the sets
        for folder, recipe in zip(args.data, recipes):
            render_training_set(folder, recipe, args.workers or default_workers())
    distributed.barrier(world)
    splits = [split_by_sequence(r.sequences * r.frames, r.frames, args.val_sequences) for r in recipes]
    train_set = FrameSets([FrameSet(folder, t) for folder, (t, _) in zip(args.data, splits)])
    val_set = FrameSets([FrameSet(folder, v) for folder, (_, v) in zip(args.data, splits) if len(v)])
    options = TrainOptions(
        model=args.model, weights=None if args.weights is None else str(args.weights), steps=args.steps,
        batch_size=args.batch_size, lr=args.lr, warmup=args.warmup, wise_alpha=args.wise_alpha, seed=args.seed,
        gradient_weight=args.gradient_weight, ssi_weight=args.ssi_weight, augment=args.augment,
        selectivity_layers=tuple(args.selectivity_layers), selectivity_weight=args.selectivity_weight,
        domain_weight=args.domain_weight, variance_focus=args.variance_focus, val_every=args.val_every,
        device=args.device, model_options=model_options(args),
    )
    log_path = args.out.with_name(args.out.name + ".log.jsonl")
    if world.main:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log_path.unlink(missing_ok=True)
    log = write_log(log_path) if world.main else (lambda _record: None)
    trainer = Trainer(options, train_set, val_set if len(val_set) else None, log, world)
    log({"options": trainer.describe(), "recipes": [r.__dict__ for r in recipes], "train_frames": len(train_set),
         "val_frames": len(val_set), "threads": torch.get_num_threads()})
    trainer.train(args.out)
    distributed.leave(world)
    if world.main:
        print(json.dumps({"checkpoint": str(args.out), "log": str(log_path)}))
    return 0
