"""Where `endodepth adapt` writes (the checkpoint, its card, the default beside the video) and which frames
`--frames A:B` names, thinned to the most frames trained on."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from endodepth.errors import EndoDepthError, InputError

CHECKPOINT_SUFFIXES = (".safetensors", ".pth", ".pt")


def card_path(checkpoint: str | Path) -> Path:
    """Where the JSON card of an adapted checkpoint lives: `<checkpoint>.card.json`."""
    checkpoint = Path(checkpoint)
    return checkpoint.with_name(checkpoint.name + ".card.json")


def check_output(out: Path) -> None:
    """InputError unless `out` can be a checkpoint file: not a folder, a known suffix."""
    if out.is_dir():
        raise InputError(out, "is a folder; --out names the checkpoint file to write (e.g. adapted.safetensors)")
    if out.suffix not in CHECKPOINT_SUFFIXES:
        raise InputError(out, f"checkpoint must end in {', '.join(CHECKPOINT_SUFFIXES)}")


def default_output(source_path: str | Path, fallback: Path | None = None) -> Path:
    """Where an adapted checkpoint goes by default: beside the video (or folder), named after it,
    `<name>.adapted.safetensors` (`-2`, `-3`... when taken); in `fallback` when that folder is read-only."""
    source_path = Path(source_path).resolve()
    folder = source_path.parent
    if not os.access(folder, os.W_OK):
        folder = fallback or Path.home() / "endodepth-models"
    stem = source_path.stem if source_path.is_file() else source_path.name
    candidates = (folder / f"{stem}.adapted{'' if n == 1 else f'-{n}'}.safetensors" for n in range(1, 1000))
    return next(p for p in candidates if not p.exists())


def parse_range(text: str, count: int) -> tuple[int, int]:
    """`A:B` (either side may be empty) as a clipped [A, B) range of `count` frames; bad text -> EndoDepthError."""
    a, sep, b = text.partition(":")
    try:
        start = int(a) if a else 0
        stop = int(b) if b else count
    except ValueError:
        raise EndoDepthError(f"--frames {text!r}: expected A:B with frame numbers, e.g. 0:100") from None
    start, stop = max(0, start), min(count, stop)
    if not sep or stop <= start:
        raise EndoDepthError(f"--frames {text!r}: expected A:B with A < B inside the source's {count} frames")
    return start, stop


def thinned(indices: range, limit: int) -> list[int]:
    """`indices`, or `limit` of them evenly spread when there are more."""
    if len(indices) <= limit:
        return list(indices)
    return [indices[i] for i in np.linspace(0, len(indices) - 1, limit).round().astype(int)]
