"""`endodepth` (sub-commands) and `endodepth-gui`: thin wrappers over the Qt-free core."""

from __future__ import annotations

import argparse
import sys
import warnings
from importlib import import_module

from endodepth import __version__
from endodepth.errors import EndoDepthError, InputWarning, UsageError

# name -> one-line help; each lives in endodepth.commands.<name> with add_arguments() and run().
COMMANDS: dict[str, str] = {
    "info": "describe a video, image folder, SCARED keyframe or dataset root",
    "synth": "write a synthetic endoscopy sequence with exact depth (SCARED or plain layout)",
    "models": "list the model zoo: names, parameters, input sizes, output kinds, weights",
    "infer": "run a depth model on an image, an image folder or a video and write depth",
    "eval": "evaluate models against ground-truth depth (SCARED protocol): table, CSV, JSON",
    "train": "train a relative-depth model on rendered synthetic endoscopy (the default model's recipe)",
    "bench": "measure decode, inference, post-processing and end-to-end throughput",
    "selectivity": "dissect a model's layers: neuron depth selectivity per layer",
    "cache": "show (--info) or clear (--clear) the cache of decoded ground truth",
    "reconstruct": "fuse a clip's depth and camera poses into one coloured triangle mesh (PLY/OBJ)",
    "adapt": "fine-tune a model's adapters on a video's own frames (self-learning, no ground truth)",
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser; only the sub-command named by `only` imports its module and arguments.

    Every command module imports torch, so the top-level `--help` imports none of them.
    """
    parser = argparse.ArgumentParser(prog="endodepth", description="Depth for endoscopic video.")
    parser.add_argument("--version", action="version", version=f"endodepth {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_text in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if only == name:
            _module(name).add_arguments(p)
    return parser


def subcommand_parser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    """The parser of sub-command `name` (for its usage line)."""
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[name]


def _module(name: str):
    return import_module(f"endodepth.commands.{name}")


def main(argv: list[str] | None = None) -> int:
    """Entry point of `endodepth`: errors of ours become one line on stderr and exit code 2."""
    argv = sys.argv[1:] if argv is None else argv
    command = next((a for a in argv if a in COMMANDS), None)
    parser = build_parser(command)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 1
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always", InputWarning)
            warnings.showwarning = _one_line_warning(args.command)
            return int(_module(args.command).run(args) or 0)
    except EndoDepthError as exc:
        if isinstance(exc, UsageError):
            subcommand_parser(parser, args.command).print_usage(sys.stderr)
        print(f"endodepth {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"endodepth {args.command}: interrupted", file=sys.stderr)
        return 130


def _one_line_warning(command: str):
    """A `warnings.showwarning` that prints our InputWarnings as one line and others as Python does."""
    default = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        if issubclass(category, InputWarning):
            print(f"endodepth {command}: warning: {message}", file=sys.stderr)
        else:
            default(message, category, filename, lineno, file, line)

    return show


def gui_main(argv: list[str] | None = None) -> int:
    """Entry point of `endodepth-gui`."""
    from endodepth.qt.app import run_app

    return run_app(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
