"""The project's error types: one line each, naming the file and what is wrong with it."""

from __future__ import annotations

from pathlib import Path


class EndoDepthError(Exception):
    """An error the CLI and the GUI show as a one-line message instead of a traceback."""


class UsageError(EndoDepthError):
    """Options that do not go together or a value out of range: the CLI shows the usage, as argparse does."""


class InputError(EndoDepthError):
    """A file or folder the user gave cannot be used; the message names it and the problem."""

    def __init__(self, path: str | Path, problem: str):
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class CheckpointError(InputError):
    """A checkpoint that cannot be loaded: unsafe, unreadable, or for another architecture."""


class InputWarning(UserWarning):
    """Part of an input is unusable but the rest goes on (e.g. a skipped image); shown as one line."""
