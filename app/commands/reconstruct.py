"""`endodepth reconstruct`: fuse a clip's depth and camera poses into one coloured triangle mesh (PLY/OBJ).

The mesh is in the first fused frame's camera coordinates, millimetres (SCARED's keyframe convention).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from endodepth.errors import EndoDepthError, InputError
from endodepth.geometry.depth_scale import DepthToMM, choose_scaling
from endodepth.geometry.fusion import FUSE_WIDTH, MESH_SUFFIXES, FusionSettings, MeshArrays, write_mesh
from endodepth.geometry.odometry import ESTIMATE, POSE_MODES, resolve_pose_mode
from endodepth.geometry.reconstruction import Reconstruction
from endodepth.io.detect import open_source
from endodepth.io.source import Source
from endodepth.kinds import METRIC_MM, is_metric

GT = "gt"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", type=Path, help="video, image folder, SCARED keyframe or plain layout")
    p.add_argument("--model", default="default",
                   help="depth model (registered name or checkpoint), or 'gt' for the source's ground truth")
    p.add_argument("--weights", type=Path, help="weights for --model")
    p.add_argument("--out", type=Path, required=True, help="mesh file to write: .ply or .obj")
    p.add_argument("--poses", choices=POSE_MODES, default="auto",
                   help="source: the source's camera poses; estimate: RGB-D odometry on the depth; "
                        "auto: source when it has poses (default)")
    p.add_argument("--voxel", type=float, default=1.0, metavar="MM", help="TSDF voxel size in mm (default 1)")
    p.add_argument("--frames", type=_frame_range, default=(0, None), metavar="A:B",
                   help="fuse frames A (inclusive) to B (exclusive), 0-based; either may be left out")
    p.add_argument("--every", type=_positive, default=1, metavar="K", help="fuse every K-th frame (default 1)")
    p.add_argument("--max-depth", type=float, default=300.0, metavar="MM",
                   help="ignore depth beyond this (default 300)")
    p.add_argument("--fuse-width", type=_positive, default=FUSE_WIDTH, metavar="PX",
                   help=f"fuse frames subsampled to about this width (default {FUSE_WIDTH})")
    p.add_argument("--assume-depth", type=float, metavar="MM",
                   help="for relative depth without ground truth: one scale for the clip, setting the median "
                        "depth of its first frames to MM")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _frame_range(text: str) -> tuple[int, int | None]:
    start, sep, stop = text.partition(":")
    try:
        a = int(start) if start else 0
        b = int(stop) if stop else None
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected A:B (0-based frame numbers), not {text!r}") from None
    if not sep or a < 0 or (b is not None and b <= a):
        raise argparse.ArgumentTypeError(f"expected A:B with 0 <= A < B, not {text!r}")
    return a, b


def selected_frames(n: int, frames: tuple[int, int | None], every: int, where: Path) -> list[int]:
    """The 0-based frame numbers to fuse; none in range -> InputError."""
    start, stop = frames
    chosen = list(range(start, n if stop is None else min(stop, n), every))
    if not chosen:
        raise InputError(where, f"--frames {start}:{'' if stop is None else stop} selects none of its {n} frames")
    return chosen


class _Depth:
    """Each frame's depth: the source's ground truth, or a model's prediction (its kind stated)."""

    def __init__(self, args: argparse.Namespace, source: Source):
        self.model = None
        if args.model == GT:
            if not source.has_ground_truth:
                raise InputError(args.source, f"{source.kind} source has no ground-truth depth for --model gt")
            self.kind, self.name = METRIC_MM, "ground truth"
        else:
            from endodepth import models
            from endodepth.models.registry import resolve_device

            self.model = models.create(args.model, weights=args.weights, device=resolve_device(args.device))
            self.kind, self.name = self.model.kind, self.model.name

    def __call__(self, frame) -> np.ndarray | None:
        return frame.gt_depth if self.model is None else self.model.predict_frame(frame).output


def _check(args: argparse.Namespace) -> None:
    if args.out.suffix.lower() not in MESH_SUFFIXES:
        raise InputError(args.out, f"mesh format must be one of {', '.join(MESH_SUFFIXES)} (by the file's suffix)")
    if args.voxel <= 0 or args.max_depth <= 0:
        raise EndoDepthError("--voxel and --max-depth must be positive mm")


def _report(recon: Reconstruction, scaling: DepthToMM, pose_mode: str, mesh: MeshArrays, seconds: float,
            n: int, out: Path) -> None:
    print(f"depth: {scaling.description}")
    failures = f", {recon.poses.odometry_failures} odometry failures" if pose_mode == ESTIMATE else ""
    print(f"poses: {pose_mode}{failures}")
    error = recon.poses.trajectory_error()
    if error is not None:
        print(f"trajectory vs source poses over {error['frames']} frames: ATE RMSE {error['ate_rmse_mm']:.2f} mm, "
              f"final drift {error['final_drift_mm']:.2f} mm over a {error['path_length_mm']:.1f} mm path, "
              f"rotation error {error['rotation_error_deg']:.2f} deg (mean)")
    s = recon.fusion
    print(f"frames: {recon.counts.summary()} of {n} at stride {s.stride} ({s.size[0] // s.stride}px wide), "
          f"{n / max(seconds, 1e-9):.2f} frames/s")
    print(f"wrote {out}: {len(mesh.vertices)} vertices, {len(mesh)} triangles "
          f"(first fused frame's camera coordinates, mm)")


def _stereo_reference():
    """On a stereo source without ground truth, the stereo model's depth (mm) of each frame: what scales
    relative depth, as the issue's order says (ground truth, else stereo, else one clip scale)."""
    from endodepth import models

    stereo = models.create("stereo")
    return lambda frame: stereo.predict_frame(frame).output


def run(args: argparse.Namespace) -> int:
    _check(args)
    with open_source(args.source) as source:
        chosen = selected_frames(len(source), args.frames, args.every, args.source)
        depth = _Depth(args, source)
        first = source.frame(chosen[0])
        needs_scale = not source.has_ground_truth and not is_metric(depth.kind)
        stereo = _stereo_reference() if first.is_stereo and needs_scale else None
        scaling = choose_scaling(depth.kind, source.has_ground_truth, str(args.source), args.assume_depth,
                                 reference=stereo, reference_name="stereo depth" if stereo else "")
        pose_mode = resolve_pose_mode(args.poses, first.pose is not None, str(args.source))
        settings = FusionSettings(voxel_mm=args.voxel, max_depth_mm=args.max_depth, fuse_width=args.fuse_width)
        recon = Reconstruction(source.intrinsics, source.size, scaling, pose_mode, settings)
        started = time.perf_counter()
        for i in tqdm(chosen, unit="frame", desc=f"fusing {depth.name}", file=sys.stderr):
            frame = first if i == chosen[0] else source.frame(i)
            recon.add(frame, depth(frame))
        recon.finish()
        mesh = recon.mesh()
        seconds = time.perf_counter() - started
    if not len(mesh):
        raise EndoDepthError(
            f"{args.source}: empty fusion ({recon.counts.summary()}): no depth within {args.max_depth:g} mm "
            "survived; nothing written"
        )
    write_mesh(args.out, mesh)
    _report(recon, scaling, pose_mode, mesh, seconds, len(chosen), args.out)
    return 0
