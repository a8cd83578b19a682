"""Measure `endodepth reconstruct` against the synthetic generator's true surface (the issue-14 evidence).

Renders a SCARED-format clip with `endodepth synth`, fuses it with each model and pose mode through the
CLI, and prints the median / 90th-percentile vertex-to-true-surface distance and the share of the seen
true surface within 2 mm of the mesh (seen: through the field of view of a frame; see surface_metrics), the
estimated trajectory's error against the source poses, and the fusion rate. Usage:
    python scripts/reconstruction_evidence.py OUT_DIR [--frames 40] [--seed 3] [--scene tube]
        [--model gt ...] [--poses source ...]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
from pathlib import Path

import numpy as np

from endodepth.cli import main as endodepth
from endodepth.geometry.fusion import read_mesh
from endodepth.geometry.surface_metrics import compare
from endodepth.io.detect import open_source
from endodepth.synth import true_surface


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("out", type=Path)
    p.add_argument("--frames", type=int, default=40)
    p.add_argument("--size", default="320x256")
    p.add_argument("--seed", type=int, default=3)
    p.add_argument("--scene", default="tube")
    p.add_argument("--model", action="append", default=None)
    p.add_argument("--poses", action="append", default=None)
    p.add_argument("--voxel", default="1.0")
    a = p.parse_args()
    clip = a.out / "clip"
    keyframe = clip / "dataset_1" / "keyframe_1"
    if not keyframe.is_dir():
        endodepth(["synth", str(clip), "--frames", str(a.frames), "--size", a.size, "--seed", str(a.seed),
                   "--scene", a.scene])
    with open_source(keyframe) as source:
        poses = np.array([source.frame(i).pose for i in range(len(source))])
        K, size = source.intrinsics, source.size
    truth = true_surface(a.frames, a.seed, a.scene, size)
    print(f"true surface: the generator's triangles first hit by a ray through a pixel inside the field of view "
          f"({100 * truth.fov_mask.mean():.1f}% of the image) of any of the {len(poses)} frames")
    print("| model | poses | vertices | median mm | p90 mm | coverage <=2 mm | trajectory vs source | fused frames/s |")
    print("|---|---|---|---|---|---|---|---|")
    for model in a.model or ["gt", "stereo", "default"]:
        for pose_mode in a.poses or ["source", "estimate"]:
            out = a.out / f"{model}_{pose_mode}.ply"
            log = io.StringIO()
            with contextlib.redirect_stdout(log):
                rc = endodepth(["reconstruct", str(keyframe), "--model", model, "--poses", pose_mode,
                                "--voxel", a.voxel, "--out", str(out)])
            text = log.getvalue()
            if rc:
                print(f"| {model} | {pose_mode} | failed (exit {rc}) | | | | | |")
                continue
            r = compare(read_mesh(out), truth.vertices, truth.triangles, poses, K, size, mask=truth.fov_mask)
            print(f"| {model} | {pose_mode} | {r['vertices']} | {r['median_mm']:.3f} | {r['p90_mm']:.3f} | "
                  f"{100 * r['coverage']:.1f}% | {trajectory(text)} | {found(r'([0-9.]+) frames/s', text)} |")
            print(f"<!-- {model}/{pose_mode}: {found(r'depth: (.*)', text)} -->")


def found(pattern: str, text: str) -> str:
    """The first group of `pattern` in the command's output ('' when absent)."""
    match = re.search(pattern, text)
    return match.group(1) if match else ""


def trajectory(text: str) -> str:
    """ATE RMSE, final drift and mean rotation error from the command's trajectory line ('-': source poses)."""
    match = re.search(r"ATE RMSE ([0-9.]+) mm, final drift ([0-9.]+) mm over a ([0-9.]+) mm path, "
                      r"rotation error ([0-9.]+) deg", text)
    if not match:
        return "-"
    ate, drift, path, rot = match.groups()
    return f"ATE {ate} mm, drift {drift} mm / {path} mm, {rot} deg"

if __name__ == "__main__":
    main()
