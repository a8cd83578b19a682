"""`endodepth eval`: the SCARED monocular depth protocol for one or more models on the same frames."""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
from tqdm import tqdm

from endodepth import models
from endodepth.analysis.depth import as_depth, valid_mask
from endodepth.analysis.metrics import (
    MAX_DEPTH,
    METRICS,
    MIN_DEPTH,
    evaluate_frame,
    summarize,
)
from endodepth.commands.options import add_device, add_model, language_options
from endodepth.errors import InputError, UsageError
from endodepth.frame import Frame
from endodepth.io.atomic import atomic_write

_KEYFRAME = re.compile(r"dataset_?(\d+)[/\\]keyframe_?(\d+)")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("root", type=Path, help="SCARED dataset root, one keyframe, or a plain layout with ground truth")
    add_model(p, repeat=True, required=True)
    p.add_argument("--split", type=Path, help="split file (datasetN/keyframeM<TAB>index<TAB>l, index 1-based)")
    p.add_argument("--min-depth", type=float, default=MIN_DEPTH, help="valid ground truth is above this (mm)")
    p.add_argument("--max-depth", type=float, default=MAX_DEPTH, help="valid ground truth is below this (mm)")
    p.add_argument("--no-median-scaling", action="store_true", help="compare relative depth without per-frame scaling")
    p.add_argument("--reference", metavar="NAME_OR_CHECKPOINT",
                   help="take this model's depth as the ground truth (e.g. stereo on a stereo clip without it)")
    p.add_argument("--reference-confidence", type=float, default=0.5, metavar="C",
                   help="with --reference: use only pixels where its confidence is at least C (default 0.5)")
    add_device(p)
    p.add_argument("--json", type=Path, metavar="OUT", help="write summary and protocol settings as JSON")
    p.add_argument("--csv", type=Path, metavar="OUT", help="write per-frame errors as CSV")


def frame_id(frame: Frame) -> dict[str, object]:
    """dataset, keyframe, 1-based split index and 0-based ground-truth number of a frame."""
    m = _KEYFRAME.search(frame.source)
    dataset, keyframe = (int(m[1]), int(m[2])) if m else (frame.source, "")
    return {"dataset": dataset, "keyframe": keyframe, "index": frame.index + 1, "frame": frame.index}


def open_frames(root: Path, split: Path | None = None, need_ground_truth: bool = True):
    """The source to evaluate: every frame under `root`, or exactly the frames a split file lists."""
    from endodepth.io.detect import open_source
    from endodepth.io.splits import split_source

    source = open_source(root) if split is None else split_source(root, split)
    if need_ground_truth and not source.has_ground_truth:
        source.close()
        raise InputError(root, f"{source.kind} source has no ground-truth depth to evaluate against")
    return source


def reference_depth(reference: models.DepthEstimator, frame: Frame, min_confidence: float) -> np.ndarray:
    """A reference model's depth on `frame` as ground truth: NaN where its confidence is below `min_confidence`."""
    result = reference.predict_frame(frame)
    depth = np.array(as_depth(result.output, result.kind), np.float32)
    if result.confidence is not None:
        depth[~(np.asarray(result.confidence) >= min_confidence)] = np.nan
    return depth


def evaluate_models(
    estimators: Mapping[str, models.DepthEstimator],
    frames: Iterable[Frame],
    total: int | None = None,
    min_depth: float = MIN_DEPTH,
    max_depth: float = MAX_DEPTH,
    median_scaling: bool = True,
    reference: models.DepthEstimator | None = None,
    min_confidence: float = 0.5,
) -> tuple[dict[str, list[dict]], int]:
    """Per-frame rows for each model over the frames with valid ground truth, and how many had none.

    With `reference`, its confident depth replaces the frame's ground truth (`reference_depth`).
    """
    rows: dict[str, list[dict]] = {name: [] for name in estimators}
    skipped = 0
    for frame in tqdm(frames, total=total, unit="frame", desc="eval"):
        if reference is not None:
            frame = dataclasses.replace(frame, gt_depth=reference_depth(reference, frame, min_confidence))
        if frame.gt_depth is None or not valid_mask(frame.gt_depth, min_depth, max_depth).any():
            skipped += 1
            continue
        ident = frame_id(frame)
        for name, model in estimators.items():
            result = model.predict_frame(frame)
            errors = evaluate_frame(result.output, result.kind, frame.gt_depth, min_depth, max_depth, median_scaling)
            rows[name].append({**ident, **errors})
    return rows, skipped


def table(summaries: Mapping[str, Mapping[str, float]]) -> str:
    """The papers' table: one row per model, mean over frames of each metric."""
    width = max([len(n) for n in summaries] + [5])
    lines = [f"{'model':{width}} " + " ".join(f"{m:>9}" for m in METRICS) + f" {'frames':>7} {'coverage':>8}"]
    for name, s in summaries.items():
        values = " ".join(f"{s.get(m, float('nan')):9.4f}" for m in METRICS)
        lines.append(f"{name:{width}} {values} {s['frames']:7d} {s.get('coverage', float('nan')):8.3f}")
    return "\n".join(lines)


def model_labels(names: list[str]) -> list[str]:
    """Table labels: registered names as they are, checkpoints by file stem, or by the path as
    given where two checkpoints share a stem (so no model's row replaces another's)."""
    short = [name if name in models.available() else Path(name).stem for name in names]
    return [s if short.count(s) == 1 else name for s, name in zip(short, names)]


def run(args: argparse.Namespace) -> int:
    if args.weights is not None and len(args.model) != 1:
        raise UsageError("--weights goes with exactly one --model")
    if not args.root.exists():
        raise InputError(args.root, "no such file or folder")
    if len(set(args.model)) != len(args.model):
        raise UsageError("the same --model is given twice")
    estimators = {
        label: models.create(name, weights=args.weights, device=args.device, **language_options(args, name))
        for label, name in zip(model_labels(args.model), args.model)
    }
    reference = None if args.reference is None else models.create(args.reference, device=args.device)
    source = open_frames(args.root, args.split, need_ground_truth=reference is None)
    median_scaling = not args.no_median_scaling
    try:
        rows, skipped = evaluate_models(estimators, source, len(source), args.min_depth, args.max_depth, median_scaling,
                                        reference, args.reference_confidence)
    finally:
        source.close()
    summaries = {name: summarize(r) for name, r in rows.items()}
    if not any(s["frames"] for s in summaries.values()):
        raise InputError(args.root, "no frame with valid ground truth to evaluate")
    print(table(summaries))
    if args.csv:
        write_csv(args.csv, rows)
    if args.json:
        protocol = {
            "root": str(args.root),
            "split": None if args.split is None else str(args.split),
            "reference": args.reference or "ground truth",
            "reference_confidence": args.reference_confidence if args.reference else None,
            "min_depth": args.min_depth,
            "max_depth": args.max_depth,
            "median_scaling": median_scaling,
            "resize": "prediction bilinear to the ground-truth resolution",
            "clamp": [args.min_depth, args.max_depth],
            "mean": "over frames",
        }
        report = {
            "protocol": protocol,
            "frames": max(s["frames"] for s in summaries.values()),
            "frames_without_ground_truth": skipped,
            "models": {
                name: {"model": m.name, "kind": m.kind, "options": m.options, **summaries[name]}
                for name, m in estimators.items()
            },
        }
        with atomic_write(args.json) as tmp:
            tmp.write_text(json.dumps(report, indent=2, default=str))
    return 0


def write_csv(path: Path, rows: Mapping[str, list[dict]]) -> None:
    """One line per model and frame: dataset, keyframe, index, each metric, the scale ratio."""
    fields = ["model", "dataset", "keyframe", "index", "frame", *METRICS, "ratio", "valid_pixels", "coverage"]
    with atomic_write(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        for name, model_rows in rows.items():
            for r in model_rows:
                writer.writerow({"model": name, **r})
