"""Measure the viewer's real-time cases of the README's benchmark table (issue 11) in one repeatable run.

Renders the synthetic clips once (`endodepth synth`), then plays each case in a scripted window
(`endodepth-gui CLIP --play --quit-after N --views V --stats-out`), each with a private settings folder
and an empty ground-truth cache, under `xvfb-run` when there is no display, and prints one table row a
run: frames shown per second, the longest GUI-thread stall, GUI CPU per frame, inference, load average.
With `--previous DIR` (another checkout with its own `.venv`) every case runs A (previous) and B (this
checkout) alternately, so both see the same machine. Usage:
    python scripts/window_bench.py CLIPS_DIR [--runs 2] [--previous DIR] [--case NAME ...] [--stereo-video FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent

CLIPS = {  # name: the `endodepth synth` arguments, and the video it writes or the keyframe to open in it
    "clip1280": (["--layout", "video", "--frames", "100", "--size", "1280x1024", "--seed", "1000020"], "clip1280.mp4"),
    "scared1280": (["--frames", "40", "--size", "1280x1024", "--seed", "1000021"], "dataset_1/keyframe_1"),
    "stereo1280": (["--frames", "30", "--size", "1280x1024", "--scene", "surface", "--seed", "7"],
                   "dataset_1/keyframe_1"),
}
FOUR = "image,cloud,selectivity,comparison"
CASES = {  # name: clip, frames shown, docks, extra viewer arguments
    "video": ("clip1280", 80, "image,cloud", []),
    "scared": ("scared1280", 40, "image,cloud", []),
    "scared-four": ("scared1280", 40, FOUR, []),
    "stereo-keyframe": ("stereo1280", 30, "image,cloud", ["--model", "stereo"]),
    "stereo-video": ("", 30, "image,cloud", ["--model", "stereo"]),
}


def clip_path(clips: Path, name: str) -> Path:
    """The clip `name` under `clips`, rendered by this checkout's `endodepth synth` if missing."""
    args, inner = CLIPS[name]
    out = clips / (inner if inner.endswith(".mp4") else name)
    if not out.exists():
        subprocess.run([str(HERE / ".venv/bin/endodepth"), "synth", str(out), *args], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return out if inner.endswith(".mp4") else out / inner


def play(checkout: Path, clip: Path, frames: int, views: str, extra: list[str]) -> dict:
    """One scripted run of `checkout`'s viewer; its --stats-out numbers."""
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, XDG_CONFIG_HOME=f"{tmp}/config", ENDODEPTH_CACHE=f"{tmp}/cache",
                   QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "xcb"))
        stats = Path(tmp) / "stats.json"
        cmd = [str(checkout / ".venv/bin/endodepth-gui"), str(clip), "--play", "--quit-after", str(frames),
               "--views", views, "--stats-out", str(stats), "--size", "1600x1000", *extra]
        if not os.environ.get("DISPLAY") and shutil.which("xvfb-run"):
            cmd = ["xvfb-run", "-a", "-s", "-screen 0 1920x1080x24", *cmd]
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if done.returncode != 0 or not stats.is_file():
            raise SystemExit(f"window_bench: {' '.join(cmd)} failed ({done.returncode}): {done.stderr[-400:]}")
        return json.loads(stats.read_text())


def row(case: str, label: str, s: dict) -> str:
    """A markdown table row of one run."""
    def num(key: str, fmt: str = "{:.1f}") -> str:
        return "" if s.get(key) is None else fmt.format(s[key])

    return (f"| {case} | {label} | {num('display_fps')} | {num('gui_longest_stall_ms', '{:.0f}')} | "
            f"{s['gui_stalls_over_50ms']} | {num('gui_cpu_ms_per_frame')} | {num('inference_ms_mean')} | "
            f"{num('load_average_1min', '{:.2f}')} |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("clips", type=Path, help="folder for the rendered clips (kept for later runs)")
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--previous", type=Path, help="a checkout of the previous code, with its .venv, run alternately")
    p.add_argument("--case", action="append", choices=sorted(CASES), help="cases to run (default: all that can)")
    p.add_argument("--stereo-video", type=Path, help="a side-by-side stereo video for the stereo-video case")
    args = p.parse_args()
    args.clips.mkdir(parents=True, exist_ok=True)
    cases = args.case or [c for c in CASES if c != "stereo-video" or args.stereo_video]
    checkouts = ([("A", args.previous)] if args.previous else []) + [("B", HERE)]
    print("| case | code | fps shown | longest stall ms | stalls > 50 ms | GUI CPU ms/frame | inference ms | load |")
    print("|---|---|---|---|---|---|---|---|")
    for case in cases:
        clip_name, frames, views, extra = CASES[case]
        clip = args.stereo_video if case == "stereo-video" else clip_path(args.clips, clip_name)
        if case == "stereo-video":
            extra = [*extra, "--stereo", "sbs"]
        for _ in range(args.runs):
            for label, checkout in checkouts:
                print(row(case, label, play(checkout, clip, frames, views, extra)), flush=True)


if __name__ == "__main__":
    sys.exit(main())
