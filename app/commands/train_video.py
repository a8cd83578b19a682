"""The options and the run of `endodepth train --objective self-supervised|distill` (frame triples from a source)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from endodepth.errors import UsageError
from endodepth.frame import Frame
from endodepth.io.detect import open_source
from endodepth.io.source import Source
from endodepth.io.splits import split_source
from endodepth.models.registry import create, resolve_device
from endodepth.train import distributed
from endodepth.train.distill import teacher_labels
from endodepth.train.selfsup import CONVENTIONS, SCARED_DEPTH_MM
from endodepth.train.stages import parse_adapters
from endodepth.train.trainer import write_log
from endodepth.train.video_data import FrameTriples, load_triples
from endodepth.train.video_trainer import DISTILL, SELF_SUPERVISED, VideoOptions, VideoTrainer, resume_path

SUPERVISED = "supervised"
OBJECTIVES = (SUPERVISED, SELF_SUPERVISED, DISTILL)
TRAIN_SPLIT, VAL_SPLIT = "train_files.txt", "val_files.txt"
_V = VideoOptions()


def add_video_arguments(p: argparse.ArgumentParser) -> None:
    """The options of the video objectives (ignored by --objective supervised)."""
    g = p.add_argument_group("self-supervised and distill (--short-side and --model-option: every objective)")
    g.add_argument("--source", type=Path, help="training frames: SCARED, AF-SfMLearner tree, plain layout, "
                   "image folder or video (with --split-dir: the dataset root)")
    g.add_argument("--split-dir", type=Path, help="folder with train_files.txt and val_files.txt (as in "
                   "AF-SfMLearner's splits/endovis); test_files.txt is never read")
    g.add_argument("--val-source", type=Path, help="validation frames with ground truth (checkpoint selection)")
    g.add_argument("--size", type=_size, default=(256, 320), metavar="WxH",
                   help="frame size of the losses (default 320x256, AF-SfMLearner's)")
    g.add_argument("--frame-step", type=int, default=1, help="frames between the members of a triple")
    g.add_argument("--max-triples", type=int, default=2000, help="triples read into memory (evenly spread)")
    g.add_argument("--convention", choices=sorted(CONVENTIONS), default=_V.convention,
                   help="monodepth2: min-reprojection + auto-mask, pose x0.01, smoothness 1e-3; af-sfmlearner: "
                        "occlusion-masked mean, pose x0.001, smoothness 1e-4; endodac: the same, smoothness 1e-3")
    g.add_argument("--appearance-flow", action="store_true",
                   help="AF-SfMLearner's brightness calibration of the target for the moving light "
                        "(with --convention af-sfmlearner or endodac)")
    g.add_argument("--learn-intrinsics", action="store_true",
                   help="EndoDAC's intrinsics head: learn fx, fy, cx, cy with the pose (videos without calibration)")
    g.add_argument("--stereo-weight", type=float, default=_V.stereo_weight,
                   help="weight of the left-right photometric term on stereo sources (the baseline fixes the "
                        "metric scale; 0: off)")
    g.add_argument("--depth-range", type=float, nargs=2, default=SCARED_DEPTH_MM, metavar=("MIN", "MAX"),
                   help="disp_to_depth range in mm (default 0.1 150, SCARED)")
    g.add_argument("--teacher", help="distill: teacher model name or checkpoint")
    g.add_argument("--teacher-samples", type=int, default=8, help="distill: MC-dropout passes of the teacher")
    g.add_argument("--weights", type=Path,
                   help="start from this checkpoint (supervised: fine-tune it; stage 1: the base, "
                        "official or ours; stage 2: the stage-1 adapters file)")
    g.add_argument("--from-scratch", action="store_true", help="random initial weights instead of bundled ones")
    g.add_argument("--adapters", type=parse_adapters, default=(), metavar="attention,mlp,conv",
                   help="stage 1: train only these adapter sub-spaces (Depth Anything V2 models)")
    g.add_argument("--rank", type=int, default=_V.rank, help="adapter rank")
    g.add_argument("--alpha", type=float, default=_V.alpha, help="adapter alpha")
    g.add_argument("--stage", type=int, choices=(1, 2), default=1,
                   help="2: fold the stage-1 adapters (--weights) and train the weights through GaLore")
    g.add_argument("--galore-rank", type=int, default=_V.galore_rank)
    g.add_argument("--update-proj-gap", type=int, default=_V.update_proj_gap)
    g.add_argument("--galore-scale", type=float, default=_V.galore_scale)
    g.add_argument("--pose-lr", type=float, default=_V.pose_lr)
    g.add_argument("--short-side", type=int, help="Depth Anything network input side (default the model's)")
    g.add_argument("--model-option", dest="model_option", action="append", default=[], type=_option,
                   metavar="NAME=VALUE", help="a model factory option, e.g. metric=true (JSON values)")
    g.add_argument("--resume", action="store_true", help="continue from OUT.resume.pt (optimizer state included)")


def _size(text: str) -> tuple[int, int]:
    from endodepth.commands.options import size_type

    width, height = size_type(minimum=16)(text)
    return height, width


def _option(text: str) -> tuple[str, object]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    try:
        return name, json.loads(value)
    except ValueError:
        return name, value


def model_options(args: argparse.Namespace) -> dict:
    """The model factory options of `--short-side` and `--model-option` (every objective)."""
    return {**({"short_side": args.short_side} if args.short_side else {}), **dict(args.model_option)}


def _check_not_test(path: Path | None) -> None:
    if path is not None and "test" in path.name.lower():
        raise UsageError(f"{path}: checkpoints are never selected on a test split; validate on the val split")


def _sources(args: argparse.Namespace) -> tuple[Source, Source | None]:
    """The training source and the validation one (from the split files or --val-source)."""
    if args.source is None:
        raise UsageError(f"--objective {args.objective} needs --source (frames to train on)")
    _check_not_test(args.val_source)
    if args.split_dir is not None:
        train = split_source(args.source, args.split_dir / TRAIN_SPLIT)
        val = split_source(args.source, args.split_dir / VAL_SPLIT) if (args.split_dir / VAL_SPLIT).is_file() else None
    else:
        train, val = open_source(args.source), None
    if args.val_source is not None:
        val = open_source(args.val_source)
    return train, val if val is not None and val.has_ground_truth else None


def _options(args: argparse.Namespace) -> VideoOptions:
    if args.stage == 2 and args.weights is None:
        raise UsageError("--stage 2 needs --weights STAGE1_ADAPTERS (the checkpoint stage 1 wrote)")
    if args.appearance_flow and CONVENTIONS[args.convention].min_reprojection:
        raise UsageError(f"--appearance-flow needs --convention af-sfmlearner or endodac, not {args.convention}")
    if args.objective == DISTILL and not args.teacher:
        raise UsageError("--objective distill needs --teacher NAME_OR_CHECKPOINT")
    return VideoOptions(
        objective=args.objective, model=args.model,
        weights=None if args.weights is None else str(args.weights.resolve()),  # adapter files name their base
        from_scratch=args.from_scratch, adapters=args.adapters, rank=args.rank, alpha=args.alpha, stage=args.stage,
        galore_rank=args.galore_rank, update_proj_gap=args.update_proj_gap, galore_scale=args.galore_scale,
        convention=args.convention, appearance_flow=args.appearance_flow, learn_intrinsics=args.learn_intrinsics,
        stereo_weight=args.stereo_weight, depth_range=tuple(args.depth_range), model_options=model_options(args),
        steps=args.steps, batch_size=args.batch_size, lr=args.lr, pose_lr=args.pose_lr, seed=args.seed,
        val_every=args.val_every, device=args.device,
    )


def _labels(args: argparse.Namespace, data: FrameTriples, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """The teacher's depth and confidence for every training frame (the same on every rank: seeded)."""
    torch.manual_seed(args.seed)
    teacher = create(args.teacher, device=device)
    frames = [Frame(i, 0.0, rgb, K) for i, (rgb, K) in enumerate(zip(data.rgb, data.K))]
    return teacher_labels(teacher, frames, data.rgb.shape[1:3], args.teacher_samples)


def run_video(args: argparse.Namespace) -> int:
    """Train on frame triples as the options say; rank 0 writes the checkpoint, its card and the log."""
    options = _options(args)
    world = distributed.join(resolve_device(args.device))
    train_source, val_source = _sources(args)
    stereo = options.objective == SELF_SUPERVISED and options.stereo_weight > 0
    data = load_triples(train_source, args.size, args.frame_step, args.max_triples, stereo=stereo)
    val = None if val_source is None else load_triples(val_source, args.size, args.frame_step, 64, with_depth=True)
    labels = _labels(args, data, world.device) if options.objective == DISTILL else None
    log_path = args.out.with_name(args.out.name + ".log.jsonl")
    if world.main:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        if not args.resume:
            log_path.unlink(missing_ok=True)
    log = write_log(log_path) if world.main else (lambda _record: None)
    trainer = VideoTrainer(options, data, val, log, labels, world)
    if args.resume:
        if not resume_path(args.out).is_file():
            raise UsageError(f"--resume: {resume_path(args.out)} does not exist (no run to continue)")
        trainer.resume(resume_path(args.out))
    log({"options": trainer.describe(), "source": str(args.source), "train_triples": len(data),
         "stereo_term": data.stereo is not None,
         "val_frames": 0 if val is None else len(val), "threads": torch.get_num_threads(),
         "resumed_at": trainer.step_count})
    trainer.train(args.out)
    distributed.leave(world)
    if world.main:
        print(json.dumps({"checkpoint": str(args.out), "log": str(log_path)}))
    return 0
