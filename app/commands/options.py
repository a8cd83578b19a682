"""The command-line options several commands share, defined once: --model, --weights, --device and WxH sizes.

Bad values are usage errors (argparse prints the usage and exits 2), never blamed on an input file.
Imports nothing heavy, so `endodepth-gui` and `--help` stay fast.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from pathlib import Path

from endodepth.errors import UsageError

DEFAULT_MODEL = "default"  # the bundled model, always registered
LANGUAGE_MODELS = ("llm-mde", "llm-mde-base")  # the models --llm-weights / --vision-weights go with
_DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")


def size_type(minimum: int = 1) -> Callable[[str], tuple[int, int]]:
    """An argparse `type` turning "WxH" into (width, height), each at least `minimum`."""

    def parse(text: str) -> tuple[int, int]:
        m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
        if m is None:
            raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, e.g. 320x256, got {text!r}")
        w, h = int(m[1]), int(m[2])
        if w < minimum or h < minimum:
            raise argparse.ArgumentTypeError(f"size {w}x{h} is too small: both sides must be at least {minimum}")
        return w, h

    return parse


parse_size = size_type()


def device_name(text: str) -> str:
    """An argparse `type` for a device: auto, cpu, mps, cuda or cuda:N (whether it is there is checked later)."""
    if _DEVICE.fullmatch(text) is None:
        raise argparse.ArgumentTypeError(f"expected auto, cpu, cuda or cuda:N, got {text!r}")
    return text


def add_device(p: argparse.ArgumentParser, default: str | None = "auto") -> None:
    """--device, the one definition every command and the viewer use."""
    p.add_argument("--device", type=device_name, default=default, metavar="DEVICE",
                   help="where the models run: auto (CUDA when present), cpu, cuda or cuda:N"
                   + ("" if default is None else f" (default {default})"))


def add_model(p: argparse.ArgumentParser, *, repeat: bool = False, required: bool = False,
              weights: bool = True) -> None:
    """--model (once, or repeated to compare models) and --weights for a single model."""
    if repeat:
        p.add_argument("--model", action="append", required=required, metavar="NAME_OR_CHECKPOINT",
                       help="registered name or one of our checkpoints; repeat to compare models"
                       + ("" if required else f" (default: {DEFAULT_MODEL})"))
    else:
        p.add_argument("--model", default=DEFAULT_MODEL, metavar="NAME_OR_CHECKPOINT",
                       help=f"registered name or one of our checkpoints (default: {DEFAULT_MODEL})")
    if weights:
        p.add_argument("--weights", type=Path, metavar="FILE",
                       help="checkpoint to load into --model (official layouts are adapted)"
                       + ("; only with a single --model" if repeat else ""))
        p.add_argument("--llm-weights", type=Path, metavar="DIR",
                       help="LLM-MDE: a local BERT or GPT-2 folder (config, weights, tokenizer files)")
        p.add_argument("--vision-weights", type=Path, metavar="FILE",
                       help="LLM-MDE: a local timm ViT checkpoint for its vision encoder")


def language_options(args: argparse.Namespace, name: str) -> dict[str, str]:
    """The LLM-MDE options --llm-weights and --vision-weights give `name`; any other model refuses them."""
    options = {key: str(value) for key in ("llm_weights", "vision_weights")
               if (value := getattr(args, key, None)) is not None}
    if options and name not in LANGUAGE_MODELS:
        raise UsageError(f"--llm-weights and --vision-weights go with --model {' or '.join(LANGUAGE_MODELS)}, "
                         f"not {name}")
    return options


def check_single_weights(names: list[str], weights: Path | None) -> None:
    """Refuse --weights with several --model (which model would it load into?)."""
    if weights is not None and len(names) > 1:
        raise UsageError(f"--weights goes with a single --model, got {len(names)}: {', '.join(names)}")
