"""Measure `endodepth reconstruct` against the synthetic generator's true surface (the issue-14 evidence).

Renders a SCARED-format clip with `endodepth synth`, fuses it with each model and pose mode through the
CLI, and prints the median / 90th-percentile vertex-to-true-surface distance and the share of the seen
true surface within 2 mm of the mesh. Usage:
    python scripts/reconstruction_evidence.py OUT_DIR [--frames 40] [--seed 3] [--scene tube] [--model gt ...]
"""

from __future__ import annotations

import argparse
import contextlib
import io
from pathlib import Path

import numpy as np
import open3d as o3d

from endodepth.cli import main as endodepth
from endodepth.geometry.fusion import MeshArrays
from endodepth.geometry.surface_metrics import compare, transform
from endodepth.io.detect import open_source
from endodepth.synth import sequence_scene


def true_surface(frames: int, seed: int, scene: str) -> tuple[np.ndarray, np.ndarray]:
    """The generator's mesh of that clip in its first camera's coordinates (mm)."""
    _, built = sequence_scene(frames, seed, scene)
    to_first = np.linalg.inv(built.camera_to_world[0])
    return transform(built.mesh.vertices, to_first), built.mesh.triangles


def read_mesh(path: Path) -> MeshArrays:
    m = o3d.io.read_triangle_mesh(str(path))
    return MeshArrays(np.asarray(m.vertices, np.float32), np.asarray(m.triangles, np.int32),
                      np.asarray(m.vertex_colors, np.float32))


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
    vertices, triangles = true_surface(a.frames, a.seed, a.scene)
    with open_source(keyframe) as source:
        poses = np.array([source.frame(i).pose for i in range(len(source))])
        K, size = source.intrinsics, source.size
    print("| model | poses | vertices | median mm | p90 mm | coverage <=2 mm | log |")
    print("|---|---|---|---|---|---|---|")
    for model in a.model or ["gt", "default"]:
        for pose_mode in a.poses or ["source", "estimate"]:
            out = a.out / f"{model}_{pose_mode}.ply"
            log = io.StringIO()
            with contextlib.redirect_stdout(log):
                rc = endodepth(["reconstruct", str(keyframe), "--model", model, "--poses", pose_mode,
                                "--voxel", a.voxel, "--out", str(out)])
            lines = [ln for ln in log.getvalue().splitlines() if ln.startswith(("depth", "trajectory", "frames"))]
            if rc:
                print(f"| {model} | {pose_mode} | failed (exit {rc}) | | | | |")
                continue
            r = compare(read_mesh(out), vertices, triangles, poses, K, size)
            print(f"| {model} | {pose_mode} | {r['vertices']} | {r['median_mm']:.3f} | {r['p90_mm']:.3f} | "
                  f"{100 * r['coverage']:.1f}% | {'; '.join(lines)} |")


if __name__ == "__main__":
    main()
