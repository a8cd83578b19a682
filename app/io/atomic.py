"""Write a file under a temporary name in its own folder and rename it on success."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from endodepth.errors import InputError


@contextmanager
def atomic_write(path: str | Path) -> Iterator[Path]:
    """Yield a temp path (same folder, same suffix) that replaces `path` when the block succeeds.

    Readers never see a half-written file; on error the temp file is removed. A folder that
    cannot be made or a target that cannot be replaced (a folder, no permission) -> InputError.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    except OSError as exc:
        raise _unwritable(path, exc) from None
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        try:
            os.replace(tmp_path, path)
        except OSError as exc:
            raise _unwritable(path, exc) from None
    finally:
        tmp_path.unlink(missing_ok=True)


def _unwritable(path: Path, exc: OSError) -> InputError:
    """The InputError for a target that cannot be written, naming a file that stands where a folder should."""
    blocking = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        return InputError(path, f"cannot be written: {blocking} is a file, not a folder")
    return InputError(path, f"cannot be written ({exc.strerror or exc})")
