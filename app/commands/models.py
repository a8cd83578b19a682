"""`endodepth models`: the zoo with parameter counts, input sizes, output kinds and weights."""

from __future__ import annotations

import argparse
import json

from endodepth import models


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def describe(name: str) -> dict:
    """Name, parameter count, input size (HxW), output kind, weights status and whether it is trained as built.

    A learned model without its weights is "untrained": it runs from its random initialisation unless
    the user passes --weights (or, for a bundled one, the file is restored).
    """
    s = models.spec(name)
    card = s.card
    params = card.parameters
    if params == 0:
        weights = "none needed"
    elif s.weights_path:
        weights = "bundled"
    else:
        weights = "untrained (bundled file missing)" if s.bundled_weights else "untrained (--weights FILE)"
    return {
        "name": name,
        "parameters": params,
        "input_size": f"{card.input_size[0]}x{card.input_size[1]}",
        "kind": card.kind,
        "weights": weights,
        "trained": s.trained,
        "description": s.description,
    }


def run(args: argparse.Namespace) -> int:
    rows = [describe(n) for n in models.available()]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    width = max(len(r["name"]) for r in rows)
    weights = max(len(r["weights"]) for r in rows)
    header = f"{'name':{width}} {'params':>12} {'input HxW':>10} {'output':17} {'weights':{weights}} description"
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['name']:{width}} {r['parameters']:>12,} {r['input_size']:>10} {r['kind']:17} "
            f"{r['weights']:{weights}} {r['description']}"
        )
    return 0
