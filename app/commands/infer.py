"""`endodepth infer`: run a depth model on an image, an image folder or a video and write depth.

Each frame's raw network output (its `kind` stated) is written at the frame's resolution:
`<stem>.npy` for an image, one file per frame for a video or a folder.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
from tqdm import tqdm

from endodepth import models
from endodepth.commands.options import add_device, add_model, language_options
from endodepth.errors import InputError, InputWarning
from endodepth.frame import Frame
from endodepth.io.detect import open_source
from endodepth.io.export import atomic_write, write_depth_npz, write_depth_png16
from endodepth.io.source import Source
from endodepth.io.stereo import LAYOUTS, require_stereo
from endodepth.models.base import DepthResult
from endodepth.models.registry import resolve_device

FORMATS = ("npy", "npz", "png16")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", help="image, image folder, video, SCARED keyframe or dataset root")
    add_model(p)
    p.add_argument("--out", type=Path, help="output folder (default: <input>_depth beside the input)")
    p.add_argument("--format", choices=FORMATS, default="npy", help="npy (raw float32), npz (+K, kind), png16")
    add_device(p)
    p.add_argument("--half", action="store_true", help="float16 inference (CUDA only)")
    p.add_argument("--video", type=Path, metavar="OUT.mp4",
                   help="also render the frames beside their colorized depth into this video (as the viewer's export)")
    add_stereo_arguments(p)


def add_stereo_arguments(p: argparse.ArgumentParser) -> None:
    """--stereo (layout of a stereo video) and --stereo-scale (matching resolution of the stereo model)."""
    p.add_argument("--stereo", choices=LAYOUTS, help="the video holds a stereo pair: sbs (side by side) or "
                   "stacked (left over right); needs a calibration beside it (default: detected from it)")
    p.add_argument("--stereo-scale", type=float, metavar="F",
                   help="stereo model: match at this fraction of the resolution (default 0.5)")


def create_model(args: argparse.Namespace, name: str, device) -> models.DepthEstimator:
    """`models.create` with the command's weights, half precision and stereo options."""
    model = models.create(name, weights=args.weights, device=device, half=getattr(args, "half", False),
                          **language_options(args, name))
    if args.stereo_scale is not None and model.needs_stereo:  # monocular models have no matching scale
        model = models.create(name, device=device, scale=args.stereo_scale)
    return model


def write_result(path: Path, depth: np.ndarray, kind: str, K: np.ndarray, fmt: str) -> Path:
    """One frame's output as `path` + the format's suffix (dots in the stem kept), written atomically."""
    if fmt == "npz":
        return write_depth_npz(path.with_name(path.name + ".npz"), depth, K, kind)
    if fmt == "png16":
        return write_depth_png16(path.with_name(path.name + ".png"), depth, kind)
    target = path.with_name(path.name + ".npy")
    with atomic_write(target) as tmp, open(tmp, "wb") as f:
        np.save(f, np.asarray(depth, np.float32))
    return target


def frame_stem(source: Source, position: int, frame: Frame) -> str:
    """Output name of a frame: the image's stem in a folder, `keyframe/index` in a SCARED
    dataset, else the frame's position."""
    files = getattr(source, "files", None)
    if files:
        return files[position].stem
    if getattr(source, "parts", None):
        return f"{frame.source}/{frame.index:06d}"
    return f"{position:06d}"


def untrained_warning(requested: str, weights: str | None) -> str | None:
    """A warning when a learned model runs with its random initialisation (no --weights, none bundled)."""
    if weights is not None or requested not in models.available() or models.spec(requested).trained:
        return None
    bundled = models.spec(requested).bundled_weights
    where = f"models/weights/{bundled} is missing" if bundled else "pass --weights FILE"
    return f"{requested} has no trained weights ({where}): its output is from random initialisation"


def run(args: argparse.Namespace) -> int:
    path = Path(args.path)
    with open_source(path, args.stereo) as source:
        model = create_model(args, args.model, resolve_device(args.device))
        require_stereo(source, model.name, model.needs_stereo)
        warning = untrained_warning(args.model, args.weights)
        if warning:
            print(f"endodepth infer: warning: {warning}", file=sys.stderr)
        out = args.out or path.parent / f"{path.stem}_depth"
        if out.exists() and not out.is_dir():
            raise InputError(out, "exists and is not a folder (--out names the output folder)")
        out.mkdir(parents=True, exist_ok=True)
        written, skipped, heads = [], 0, Counter()

        def write(position: int, frame: Frame, result: DepthResult) -> None:
            target = out / frame_stem(source, position, frame)
            target.parent.mkdir(parents=True, exist_ok=True)
            if result.route is not None:
                heads[result.route.head] += 1
            written.append(write_result(target, result.output, result.kind, frame.K, args.format))

        if args.video:  # one pass: the export runs the model and hands each answer to `write` too
            from endodepth.pipeline.view_export import RangeExport, export_range

            job = RangeExport(out, path.stem, 0, len(source) - 1, depth_format="none", video=args.video)
            positions = itertools.count()
            video = export_range(source, model, job,
                                 on_result=lambda r: write(next(positions), r.frame, r.results[model.name]))[-1]
            print(f"{model.name}: wrote the video {video}")
        else:
            for i in tqdm(range(len(source)), unit="frame", disable=len(source) == 1):
                try:
                    frame = source.frame(i)
                except InputError as exc:  # one unreadable image does not cost the others
                    warnings.warn(InputWarning(f"{exc}; skipped"), stacklevel=1)
                    skipped += 1
                    continue
                write(i, frame, model.predict_frame(frame))
    print(f"{model.name}: wrote {len(written)} {args.format} file(s) of {model.kind} to {out}")
    if heads:
        print(f"{model.name}: metric head chosen per frame: "
              + ", ".join(f"{head} {count}" for head, count in heads.most_common()))
    if skipped:
        print(f"endodepth infer: {skipped} of {len(source)} frame(s) could not be read and were skipped",
              file=sys.stderr)
        return 1
    return 0
