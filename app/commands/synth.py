"""`endodepth synth`: write a synthetic endoscopy sequence with exact depth (SCARED, plain or video)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tqdm import tqdm

from endodepth.commands.options import size_type
from endodepth.errors import InputError, UsageError
from endodepth.synth import SCENES, SynthSettings, render_sequence
from endodepth.synth.tissues import PRESETS

LAYOUTS = ("scared", "plain", "video")
_TYPE_NAMES = {bool: "true or false", int: "an integer", float: "a number", tuple: "a JSON list", str: "a word"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("out", type=Path, help="output folder (scared, plain) or .mp4 file (video)")
    p.add_argument("--frames", type=_positive, default=100, help="number of frames (default 100)")
    p.add_argument("--size", type=size_type(minimum=8), default=(320, 256), metavar="WxH",
                   help="frame size (default 320x256)")
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


def _overrides(items: list[str]) -> dict:
    """--set NAME=VALUE pairs as settings changes, each value parsed (JSON where it is JSON) and
    checked against the type of the setting's default."""
    known = {k: v for k, v in SynthSettings().as_dict().items() if k != "scene"}  # --scene sets that
    out = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or name not in known:
            raise UsageError(f"--set {item!r}: expected NAME=VALUE with NAME one of {', '.join(known)}")
        out[name] = _setting_value(item, text, known[name])
        unknown = [t for t in out[name] if t not in PRESETS] if name == "tissues" else []
        if unknown:
            raise UsageError(f"--set {item!r}: unknown tissue {unknown[0]!r}; known: {', '.join(PRESETS)}")
    return out


def _setting_value(item: str, text: str, default):
    """`text` as a value of the same type as `default` (ints are accepted as floats); else EndoDepthError."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        value = text
    if isinstance(value, list):
        value = tuple(value)
    expected = type(default)
    if expected is float and type(value) is int:
        value = float(value)
    if type(value) is not expected:
        kind = _TYPE_NAMES.get(expected, expected.__name__)
        raise UsageError(f"--set {item!r}: expected {kind}, e.g. the default {json.dumps(default)}")
    return value


def run(args: argparse.Namespace) -> int:
    overrides = _overrides(args.overrides)
    if args.fov_mask is not None:
        overrides["fov_mask"] = args.fov_mask
    if args.fps is not None:
        overrides["fps"] = args.fps
    width, height = args.size
    if args.layout != "video" and args.out.exists() and not args.out.is_dir():
        raise InputError(args.out, "exists and is not a folder (the output of the scared and plain layouts)")
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
        from endodepth.io.video import write_video

        out = args.out if args.out.suffix else args.out.with_suffix(".mp4")
        write_video(out, seq.rgb, seq.fps)
        write_calibration(out.parent / "endoscope_calibration.yaml", seq.calibration())
    print(f"wrote {len(seq)} frames {width}x{height} ({seq.settings.scene}, seed {args.seed}) to {out}")
    return 0
