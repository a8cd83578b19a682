"""Evaluate the metric heads per domain on held-out synthetic scenes (the metric-bins card's tables).

Renders sequences of each `synth.domains` domain from held-out seeds (1_100_000 + 1000 x domain + j, never
trained on), runs each model, and prints the router's confusion matrix (true domain x chosen head) and
per-domain errors: metric (the millimetres as predicted, no scaling) and median-scaled, both against the
ground truth inside the domain's range (1 mm to the domain head's maximum). Usage:
    python scripts/metric_router_evaluation.py [--sequences 8] [--frames 4] [--size 240x192]
        [--model metric-bins-router --model metric-bins --model default] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from endodepth import models
from endodepth.analysis.metrics import evaluate_frame, summarize
from endodepth.io.atomic import atomic_write
from endodepth.kinds import RELATIVE
from endodepth.models.metric_router import ENDOSCOPY_DOMAINS
from endodepth.synth.domains import DOMAINS
from endodepth.train.datasets import render_domain_sequence

FIRST_SEED = 1_100_000
RANGES = {d.name: (d.min_depth, d.max_depth) for d in ENDOSCOPY_DOMAINS}


def heldout_frames(domain: str, sequences: int, frames: int, width: int, height: int):
    """(rgb, depth) of every frame of the domain's held-out sequences."""
    for j in range(sequences):
        seed = FIRST_SEED + 1000 * DOMAINS.index(domain) + j
        rgb, depth, _ = render_domain_sequence(seed, frames, width, height, domain, spread=2.5)
        yield from zip(rgb, depth)


def evaluate(model, data: dict[str, list]) -> dict:
    """Per domain: metric and median-scaled errors, and the heads the router chose."""
    out = {}
    for domain, frames in data.items():
        lo, hi = RANGES[domain]
        metric, scaled, chosen = [], [], []
        for rgb, gt in frames:
            result = model.predict(rgb)
            for rows, kind in ((metric, result.kind), (scaled, RELATIVE)):
                errors = evaluate_frame(result.output, kind, gt, min_depth=lo, max_depth=hi)
                if errors is not None:
                    rows.append(errors)
            if result.route is not None:
                chosen.append(result.route.head)
        out[domain] = {"metric": summarize(metric), "median_scaled": summarize(scaled),
                       "chosen": {h: chosen.count(h) for h in DOMAINS} if chosen else None}
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sequences", type=int, default=8, help="held-out sequences per domain")
    p.add_argument("--frames", type=int, default=4, help="frames per sequence")
    p.add_argument("--size", default="240x192", help="WxH of the rendered frames")
    p.add_argument("--model", action="append", help="model names or checkpoints (default: both metric models)")
    p.add_argument("--json", type=Path, help="write the numbers here too")
    a = p.parse_args()
    width, height = (int(v) for v in a.size.split("x"))
    names = a.model or ["metric-bins-router", "metric-bins"]
    data = {d: list(heldout_frames(d, a.sequences, a.frames, width, height)) for d in DOMAINS}
    report = {name: evaluate(models.create(name), data) for name in names}
    for name, per_domain in report.items():
        print(f"\n### {name}\n")
        print("| domain | frames | abs_rel (metric) | rmse mm (metric) | a1 (metric) | abs_rel (median-scaled) |")
        print("|---|---|---|---|---|---|")
        for domain, r in per_domain.items():
            m, s = r["metric"], r["median_scaled"]
            print(f"| {domain} | {m['frames']} | {m['abs_rel']:.4f} | {m['rmse']:.2f} | {m['a1']:.4f} "
                  f"| {s['abs_rel']:.4f} |")
        if all(r["chosen"] for r in per_domain.values()):
            print("\nconfusion (rows: true domain, columns: chosen head)\n")
            print("| true \\ chosen | " + " | ".join(DOMAINS) + " |")
            print("|---" * (len(DOMAINS) + 1) + "|")
            for domain, r in per_domain.items():
                print(f"| {domain} | " + " | ".join(str(r["chosen"][h]) for h in DOMAINS) + " |")
    if a.json:
        with atomic_write(a.json) as tmp:
            tmp.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
