"""Plot the learning curves of `endodepth train` runs (photometric loss and validation abs_rel against the step)
from their `.log.jsonl` files into one small PNG: `python scripts/training_curves.py OUT.png LABEL=LOG ...`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from endodepth.io.atomic import atomic_write


def read_curve(log: Path) -> list[dict]:
    """The records of a training log that carry a step."""
    return [r for r in (json.loads(line) for line in log.read_text().splitlines() if line.strip()) if "step" in r]


def plot(runs: dict[str, list[dict]], out: Path, loss: str = "photometric") -> None:
    """Two panels, the training loss and the validation abs_rel, one line per run."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(8, 3), dpi=90)
    for label, curve in runs.items():
        with_loss = [r for r in curve if loss in r]
        left.plot([r["step"] for r in with_loss], [r[loss] for r in with_loss], marker=".", label=label)
        with_val = [r for r in curve if "val_abs_rel" in r]
        right.plot([r["step"] for r in with_val], [r["val_abs_rel"] for r in with_val], marker=".", label=label)
    left.set(xlabel="step", ylabel=f"{loss} loss (window mean)", title="training")
    right.set(xlabel="step", ylabel="abs_rel (median-scaled)", title="validation (held-out seed)")
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    with atomic_write(out) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("out", type=Path)
    p.add_argument("runs", nargs="+", metavar="LABEL=LOG")
    p.add_argument("--loss", default="photometric", help="the log key plotted in the left panel")
    args = p.parse_args()
    runs = {label: read_curve(Path(log)) for label, log in (r.split("=", 1) for r in args.runs)}
    plot(runs, args.out, args.loss)


if __name__ == "__main__":
    main()
