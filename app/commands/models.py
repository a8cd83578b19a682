"""`endodepth models`: the zoo with parameter counts, input sizes, output kinds and weights."""

from __future__ import annotations

import argparse
import json

from endodepth import models


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def describe(name: str) -> dict:
    """Name, parameter count, input size (HxW), output kind and weights status of one model."""
    s = models.spec(name)
    card = s.card
    params = card.parameters
    if params == 0:
        weights = "none needed"
    else:
        weights = "bundled" if s.weights_path else ("missing" if s.bundled_weights else "user-supplied")
    return {
        "name": name,
        "parameters": params,
        "input_size": f"{card.input_size[0]}x{card.input_size[1]}",
        "kind": card.kind,
        "weights": weights,
        "description": s.description,
    }


def run(args: argparse.Namespace) -> int:
    rows = [describe(n) for n in models.available()]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    width = max(len(r["name"]) for r in rows)
    header = f"{'name':{width}} {'params':>12} {'input HxW':>10} {'output':17} {'weights':13} description"
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['name']:{width}} {r['parameters']:>12,} {r['input_size']:>10} {r['kind']:17} "
            f"{r['weights']:13} {r['description']}"
        )
    return 0
