"""`endodepth selectivity`: dissect a model's layers -- how sharply each unit prefers one depth range.

Neuron depth selectivity as in You et al. (ICCV 2021); the definitions live in
`endodepth.analysis.selectivity`. The depth is the source's ground truth when it has one,
otherwise the model's own prediction (inverse depth turned into depth) inside the field of view.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from endodepth import models
from endodepth.analysis.depth import as_depth
from endodepth.analysis.selectivity import RANGE_PERCENTILES, SPACINGS, SelectivityAccumulator, bin_edges_from_depth
from endodepth.commands.infer import untrained_warning
from endodepth.commands.options import add_device, add_model, language_options, parse_size
from endodepth.errors import EndoDepthError, InputError, UsageError
from endodepth.frame import Frame
from endodepth.io.atomic import atomic_write
from endodepth.kinds import RELATIVE_INVERSE, unit_of
from endodepth.models import DepthResult
from endodepth.vis.masks import fov_mask

MAX_PLOTTED_UNITS = 64


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", type=Path, help="video, image folder, SCARED keyframe or dataset, or plain layout")
    add_model(p)
    p.add_argument("--layers", nargs="+", metavar="LAYER", help="module names (default: the model's default layers)")
    p.add_argument("--bins", type=int, default=64, help="number of depth bins K (default 64)")
    p.add_argument("--spacing", choices=SPACINGS, default="sid",
                   help="sid: spacing-increasing as in the reference (default); uniform")
    p.add_argument("--frames", type=int, metavar="N", help="use N frames spread evenly over the source (default: all)")
    p.add_argument("--min-depth", type=float, metavar="ALPHA",
                   help="upper edge of bin 0 (default: 1st percentile of the first batch's depth)")
    p.add_argument("--max-depth", type=float, metavar="BETA",
                   help="far edge of the last bin, deeper pixels are ignored "
                   "(default: 99th percentile of the first batch's depth)")
    p.add_argument("--depth", choices=("auto", "gt", "prediction"), default="auto",
                   help="depth that defines the bins: auto = ground truth when the source has it, else the prediction")
    p.add_argument("--analysis-size", type=parse_size, metavar="WxH",
                   help="bring depth (nearest) and features (bilinear) to this size (default: the frame's size)")
    p.add_argument("--batch", type=int, default=4, help="frames per forward pass (default 4)")
    add_device(p)
    p.add_argument("--json", type=Path, metavar="OUT", help="write R, bin edges, DS and preferred bins per layer")
    p.add_argument("--plots", type=Path, metavar="DIR", help="write per-layer figures (unit bar charts, sorted R)")


def frame_indices(total: int, wanted: int | None) -> list[int]:
    """All frame numbers, or `wanted` of them spread evenly from first to last."""
    if wanted is None or wanted >= total:
        return list(range(total))
    if wanted < 1:
        raise UsageError(f"--frames must be at least 1, got {wanted}")
    return sorted({round(i) for i in np.linspace(0, total - 1, wanted)})


def batches(frames: Iterator[Frame], size: int) -> Iterator[list[Frame]]:
    """Runs of up to `size` frames of one resolution (a model's batch needs equal sizes)."""
    batch: list[Frame] = []
    for frame in frames:
        if batch and (len(batch) == size or frame.rgb.shape != batch[0].rgb.shape):
            yield batch
            batch = []
        batch.append(frame)
    if batch:
        yield batch



def check_spatial(features: dict[str, np.ndarray]) -> None:
    """Refuse transformer tokens (C, N, 1): selectivity needs a spatial map to match to depth."""
    for layer, f in features.items():
        if f.ndim != 3 or (f.shape[2] == 1 and f.shape[1] > 1):
            raise EndoDepthError(
                f"layer {layer!r} gives {tuple(f.shape)}, not a (C, h, w) spatial map; choose another layer"
            )


def predicted_depth(frame: Frame, result: DepthResult) -> np.ndarray:
    """The model's depth (inverse depth inverted), NaN outside the field of view and the frame's mask."""
    valid = fov_mask(frame.rgb)
    if frame.mask is not None:
        valid &= frame.mask.astype(bool)
    return np.where(valid, as_depth(result.output, result.kind), np.nan).astype(np.float32)


def dissect(
    model: models.DepthEstimator,
    frames: Iterator[Frame],
    layers: Sequence[str],
    use_gt: bool,
    args: argparse.Namespace,
    total: int | None = None,
) -> tuple[SelectivityAccumulator, dict]:
    """Feed every frame's features and depth to an accumulator; returns it and what was used."""
    acc: SelectivityAccumulator | None = None
    info = {"frames_without_depth": 0, "feature_sizes": {}}
    progress = tqdm(total=total, unit="frame", desc="selectivity")
    for batch in batches(frames, args.batch):
        results = model.predict_batch([f.rgb for f in batch], layers)
        depths = [f.gt_depth if use_gt else predicted_depth(f, r) for f, r in zip(batch, results)]
        if acc is None:
            check_spatial(results[0].features)
            edges = bin_edges_from_depth([d for d in depths if d is not None], args.bins, args.spacing,
                                         args.min_depth, args.max_depth)
            acc = SelectivityAccumulator(edges, None if args.analysis_size is None else args.analysis_size[::-1])
            info["feature_sizes"] = {k: list(v.shape[1:]) for k, v in results[0].features.items()}
        for depth, result in zip(depths, results):
            if depth is None:
                info["frames_without_depth"] += 1
            else:
                acc.update(result.features, depth)
        progress.update(len(batch))
    progress.close()
    if acc is None or acc.frames == 0:
        raise EndoDepthError("no frame with depth to dissect")
    return acc, info


def table(acc: SelectivityAccumulator) -> str:
    """One row per layer: units and mean depth selectivity, then the average over layers."""
    width = max([len(layer) for layer in acc.layers] + [7])
    lines = [f"{'layer':{width}} {'units':>6} {'selectivity':>11}"]
    means = []
    for layer in acc.layers:
        ds, _, mean = acc.selectivity(layer)
        means.append(mean)
        lines.append(f"{layer:{width}} {len(ds):6d} {mean:11.3f}")
    lines.append(f"{'average':{width}} {'':6} {float(np.mean(means)):11.3f}")
    return "\n".join(lines)


def report(acc: SelectivityAccumulator, header: dict) -> dict:
    """Everything needed to recompute the numbers: edges, per layer R (null = bin never seen), counts, DS."""
    layers = {}
    for layer in acc.layers:
        ds, preferred, mean = acc.selectivity(layer)
        r = acc.responses(layer)
        layers[layer] = {
            "units": int(r.shape[0]),
            "mean_selectivity": mean,
            "selectivity": ds.tolist(),
            "preferred_bin": preferred.tolist(),
            "pixel_counts": acc.counts(layer).tolist(),
            "responses": [[None if math.isnan(v) else v for v in row] for row in r.tolist()],
        }
    means = [v["mean_selectivity"] for v in layers.values()]
    return {
        **header,
        "bins": acc.bins,
        "bin_edges": acc.bin_edges.tolist(),
        "analysis_size": None if acc.analysis_size is None else list(acc.analysis_size),
        "frames_used": acc.frames,
        "definition": (
            "bin d holds t_d < z <= t_{d+1}; z NaN, <= 0 or > t_K ignored; features upsampled bilinearly "
            "(align_corners=False) to the depth; R = |mean response| per bin (null: bin never seen); "
            "DS = (R_max - mean R of the other seen bins) / (R_max + that mean + 1e-15); preferred bin = argmax R"
        ),
        "average_selectivity": float(np.mean(means)),
        "layers": layers,
    }


def _file_name(layer: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", layer)


def _depth_ticks(ax, edges: np.ndarray, unit: str) -> None:
    """Depth-bin axis ticked at a few bins, labelled with each bin's far edge."""
    k = len(edges) - 1
    ticks = sorted({0, k // 4, k // 2, 3 * k // 4, k - 1})
    ax.set_xticks(ticks)
    ax.set_xticklabels([f"{edges[t + 1]:.3g}" for t in ticks])
    ax.set_xlabel(f"depth bin, far edge ({unit})")


def plot_layer(acc: SelectivityAccumulator, layer: str, folder: Path, title: str, unit: str) -> list[Path]:
    """Bar charts of R against depth bin for the first units ("Unit i  DS=..."), and the sorted, row-normalised R."""
    from matplotlib.figure import Figure

    r = np.nan_to_num(acc.responses(layer), nan=0.0)
    ds, _, mean = acc.selectivity(layer)
    shown = min(len(r), MAX_PLOTTED_UNITS)
    cols = math.ceil(math.sqrt(shown))
    rows = math.ceil(shown / cols)
    fig = Figure(figsize=(2.2 * cols, 1.6 * rows + 0.9))
    axes = fig.subplots(rows, cols, squeeze=False, sharex=True)
    fig.subplots_adjust(left=0.04, right=0.99, bottom=0.03, top=1 - 0.9 / (1.6 * rows + 0.9), hspace=0.45, wspace=0.3)
    for i, ax in enumerate(axes.flat):
        if i >= shown:
            ax.axis("off")
            continue
        ax.stairs(r[i], np.arange(acc.bins + 1), fill=True, color="tab:blue")
        ax.set_title(f"Unit {i}  DS={ds[i]:.2f}", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
        peak = r[i].max()
        ax.set_ylim(0, 1.3 * peak if peak > 0 else 1.0)  # headroom for the label
        ax.text(0.02, 0.97, f"max {peak:.2g}" if peak > 0 else "no response", transform=ax.transAxes,
                fontsize=6, va="top", color="0.3")
    more = f", units 0-{shown - 1} of {len(r)}" if shown < len(r) else ""
    fig.suptitle(
        f"{title} {layer}: mean DS {mean:.3f}{more}\n"
        f"x: depth bin 0 (near) .. {acc.bins - 1} (far); y: |mean response|, from 0 to the unit's max",
        fontsize=10,
    )
    units_png = folder / f"{_file_name(layer)}_units.png"
    _save(fig, units_png)

    matrix, _ = acc.sorted_matrix(layer)
    fig = Figure(figsize=(7, 5), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(
        np.ma.masked_invalid(matrix), aspect="auto", interpolation="nearest", cmap="viridis", vmin=0, vmax=1
    )
    _depth_ticks(ax, acc.bin_edges, unit)
    ax.set_ylabel("unit, sorted by preferred bin (silent units last)")
    ax.set_title(f"{title} {layer}: response per depth bin (row / row max; white: bin never seen), "
                 f"mean DS {mean:.3f}", fontsize=9)
    fig.colorbar(image, ax=ax, label="response / unit's maximum")
    matrix_png = folder / f"{_file_name(layer)}_matrix.png"
    _save(fig, matrix_png)
    return [units_png, matrix_png]


def _save(fig, path: Path) -> None:
    with atomic_write(path) as tmp:
        fig.savefig(tmp, dpi=110)


def run(args: argparse.Namespace) -> int:
    if args.bins < 2:
        raise UsageError(f"--bins must be at least 2, got {args.bins}")
    if args.batch < 1:
        raise UsageError(f"--batch must be at least 1, got {args.batch}")
    from endodepth.io.detect import open_source

    source = open_source(args.path)
    use_gt = args.depth == "gt" or (args.depth == "auto" and source.has_ground_truth)
    if use_gt and not source.has_ground_truth:
        raise InputError(args.path, f"{source.kind} source has no ground-truth depth; use --depth prediction")
    model = models.create(args.model, weights=args.weights, device=args.device, **language_options(args, args.model))
    untrained = untrained_warning(args.model, args.weights)
    if untrained:
        print(f"endodepth selectivity: warning: {untrained}", file=sys.stderr)
    known = set(model.layer_names())
    if not known:
        source.close()
        raise EndoDepthError(
            f"{model.name} has no layers to dissect: it is not a network (stereo matching is geometry)"
        )
    layers = list(args.layers or model.default_layers)
    if not layers or set(layers) - known:
        missing = ", ".join(sorted(set(layers) - known)) or "(none given)"
        raise EndoDepthError(
            f"{model.name} has no layer {missing}; its default layers are {', '.join(model.default_layers) or 'none'}"
        )
    indices = frame_indices(len(source), args.frames)
    with source:
        acc, info = dissect(model, (source.frame(i) for i in indices), layers, use_gt, args, len(indices))
    print(table(acc))
    depth_source = "gt" if use_gt else "prediction"
    unit = unit_of(model.kind, scaled=use_gt)
    print(f"depth: {depth_source} ({unit}), {acc.frames} frames, {acc.bins} {args.spacing} bins "
          f"from {acc.bin_edges[1]:.4g} to {acc.bin_edges[-1]:.4g}")
    if args.json:
        header = {
            "source": {"path": str(args.path), "kind": source.kind, "frames": len(source)},
            "model": {
                "name": model.name,
                "kind": model.kind,
                "weights": None if args.weights is None else str(args.weights),
                "random_initialisation": untrained is not None,
            },
            "depth_source": depth_source,
            "depth_unit": unit,
            "prediction_to_depth": None if use_gt else ("1/x" if model.kind == RELATIVE_INVERSE else "as is"),
            "spacing": args.spacing,
            "range_from": "arguments" if args.min_depth is not None and args.max_depth is not None
            else f"percentiles {RANGE_PERCENTILES} of the first batch's valid depth (missing limits only)",
            "frames_without_depth": info["frames_without_depth"],
            "feature_sizes": info["feature_sizes"],
        }
        with atomic_write(args.json) as tmp:
            tmp.write_text(json.dumps(report(acc, header), indent=1))
    if args.plots:
        for layer in acc.layers:
            plot_layer(acc, layer, args.plots, model.name, unit)
    return 0
