"""`endodepth info PATH`: what a video, image folder, SCARED keyframe or dataset root holds."""

from __future__ import annotations

import argparse
import json

from endodepth.io.detect import open_source


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "path", help="video file, image folder or image, SCARED keyframe or dataset root, plain folder"
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of text")


def format_info(d: dict) -> str:
    """The describe() dict as aligned `key: value` lines, K summarised as fx fy cx cy."""
    (fx, _, cx), (_, fy, cy), _ = d["K"]
    origin = "assumed: default fx=0.82W fy=1.02H, centred" if d["intrinsics_assumed"] else "from calibration"
    rows = [
        ("path", d["path"]),
        ("kind", d["kind"]),
        ("name", d["name"]),
        ("frames", d["frames"]),
        ("size", d["size"]),
        ("fps", d["fps"]),
        ("intrinsics", f"fx={fx:.2f} fy={fy:.2f} cx={cx:.2f} cy={cy:.2f} ({origin})"),
        ("ground truth", "yes" if d["ground_truth"] else "no"),
    ]
    rows += [("part", p) for p in d.get("parts", [])]
    return "\n".join(f"{k + ':':14}{v}" for k, v in rows)


def run(args: argparse.Namespace) -> int:
    with open_source(args.path) as source:
        d = source.describe()
    print(json.dumps(d, indent=2) if args.json else format_info(d))
    return 0
