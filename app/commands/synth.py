"""`endodepth synth`: write a synthetic endoscopy sequence with exact depth (SCARED, plain or video)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tqdm import tqdm

from endodepth.errors import EndoDepthError
from endodepth.synth import SCENES, SynthSettings, render_sequence

LAYOUTS = ("scared", "plain", "video")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("out", type=Path, help="output folder (scared, plain) or .mp4 file (video)")
    p.add_argument("--frames", type=_positive, default=100, help="number of frames (default 100)")
    p.add_argument("--size", type=_size, default=(320, 256), metavar="WxH", help="frame size (default 320x256)")
    p.add_argument("--seed", type=int, default=0,
                   help="random seed: same seed, same output; seeds >= 1000000 are held out from training")
    p.add_argument("--layout", choices=LAYOUTS, default="scared",
                   help="scared: OUT/dataset_D/keyframe_K (stereo, xyz, poses); plain: frames/, depth/, "
                        "meta.json; video: an mp4 with endoscope_calibration.yaml beside it (default scared)")
    p.add_argument("--scene", choices=(*SCENES, "random"), default="tube",
                   help="tube: colon-like lumen; surface: folded tissue from above; random: "
                        "random scene and settings drawn from the seed (default tube)")
    p.add_argument("--fov-mask", action=argparse.BooleanOptionalAction, default=None,
                   help="black out everything outside a circular field of view (depth NaN there)")
    p.add_argument("--fps", type=float, default=None, help="frame rate written to the output (default 25)")
    p.add_argument("--dataset", type=int, default=1, help="SCARED dataset number (default 1)")
    p.add_argument("--keyframe", type=int, default=1, help="SCARED keyframe number (default 1)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="NAME=VALUE",
                   help="change one generator setting, e.g. --set speed=0.5 (see endodepth.synth.SynthSettings)")


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must be WxH, e.g. 320x256, not {text!r}") from None
    if w < 8 or h < 8:
        raise argparse.ArgumentTypeError(f"size {text} is too small")
    return w, h


def _overrides(items: list[str]) -> dict:
    """--set NAME=VALUE pairs as settings changes (values parsed as JSON where they are JSON)."""
    known = SynthSettings().as_dict()
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or name not in known:
            raise EndoDepthError(f"--set {item!r}: expected NAME=VALUE with NAME one of {', '.join(known)}")
        try:
            out[name] = json.loads(value)
        except json.JSONDecodeError:
            out[name] = value
        if isinstance(out[name], list):
            out[name] = tuple(out[name])
    return out


def run(args: argparse.Namespace) -> int:
    overrides = _overrides(args.overrides)
    if args.fov_mask is not None:
        overrides["fov_mask"] = args.fov_mask
    if args.fps is not None:
        overrides["fps"] = args.fps
    width, height = args.size
    with tqdm(total=args.frames, desc="rendering", unit="frame") as bar:
        seq = render_sequence(args.frames, width, height, args.seed, scene=args.scene,
                              stereo=args.layout == "scared", progress=bar.update, **overrides)
    meta = {"generator": "endodepth.synth", "seed": args.seed, "settings": seq.settings.as_dict()}
    if args.layout == "scared":
        from endodepth.io.scared import write_keyframe

        out = args.out / f"dataset_{args.dataset}" / f"keyframe_{args.keyframe}"
        write_keyframe(out, seq.rgb, seq.right_rgb, seq.xyz, seq.right_xyz, seq.poses, seq.calibration(), seq.fps)
    elif args.layout == "plain":
        from endodepth.io.plain import write_plain

        out = write_plain(args.out, seq.rgb, seq.depth, seq.K, seq.poses, seq.fps, meta)
    else:
        from endodepth.io.calibration import write_calibration
        from endodepth.io.scared import write_video

        out = args.out if args.out.suffix else args.out.with_suffix(".mp4")
        write_video(out, seq.rgb, seq.fps)
        write_calibration(out.parent / "endoscope_calibration.yaml", seq.calibration())
    print(f"wrote {len(seq)} frames {width}x{height} ({seq.settings.scene}, seed {args.seed}) to {out}")
    return 0
