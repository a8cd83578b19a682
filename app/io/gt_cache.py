"""A disk cache of decoded ground truth: one view's Z per frame, so a second pass or a scrub back
does not decode SCARED's scene_points.tar.gz again (about 0.2 s of CPU a 1280x1024 frame).

Entries live in the user cache folder (`ENDODEPTH_CACHE`, else `$XDG_CACHE_HOME/endodepth`, else
`~/.cache/endodepth`), under `gt/<key>/`, the key naming the archive's path, size and mtime and the
view, so an archive that changes is never answered from stale entries. Z is stored as float32 .npy:
lossless, so a cached pass returns exactly what a cold pass decodes (float16 would shift metrics
with the cache state), and still a sixth of the stacked XYZ the archive holds. The folder is kept
under a size limit by evicting the least recently read entries.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from endodepth.errors import InputError
from endodepth.io.atomic import atomic_write

CACHE_ENV = "ENDODEPTH_CACHE"
LIMIT_ENV = "ENDODEPTH_CACHE_LIMIT_MB"
DEFAULT_LIMIT_MB = 4096  # about 800 cached 1280x1024 frames
_GT = "gt"


def cache_root() -> Path:
    """The user cache folder of EndoDepth (ENDODEPTH_CACHE overrides, e.g. for tests)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "endodepth"


def cache_limit_bytes() -> int:
    """The size limit of the ground-truth cache (ENDODEPTH_CACHE_LIMIT_MB, default 4096 MB)."""
    try:
        mb = float(os.environ.get(LIMIT_ENV, DEFAULT_LIMIT_MB))
    except ValueError:
        mb = DEFAULT_LIMIT_MB
    return int(max(mb, 0) * 2**20)


def archive_key(archive: Path, view: str) -> str:
    """The cache key of one view of an archive: its resolved path, size and mtime."""
    st = archive.stat()
    text = f"{archive.resolve()}|{st.st_size}|{st.st_mtime_ns}|{view}"
    return hashlib.sha1(text.encode()).hexdigest()[:20]


@dataclass(frozen=True)
class CacheInfo:
    """What the ground-truth cache holds: its folder, entries, bytes, archives and limit."""

    root: Path
    entries: int
    bytes: int
    archives: int
    limit: int

    def describe(self) -> str:
        """One line for `endodepth cache --info`."""
        return (
            f"{self.root}: {self.entries} ground-truth frames of {self.archives} archives, "
            f"{self.bytes / 2**20:.1f} MB of {self.limit / 2**20:.0f} MB"
        )


def _is_entry(e: os.DirEntry) -> bool:
    """A finished entry: not the temp file of one being written."""
    return e.name.endswith(".npy") and not e.name.startswith(".") and e.is_file()


def _entries(root: Path) -> list[os.DirEntry]:
    gt = root / _GT
    if not gt.is_dir():
        return []
    found = []
    for folder in os.scandir(gt):
        if folder.is_dir():
            found.extend(e for e in os.scandir(folder.path) if _is_entry(e))
    return found


def cache_info(root: Path | None = None) -> CacheInfo:
    """Entries, bytes and archives of the ground-truth cache."""
    root = cache_root() if root is None else root
    entries = _entries(root)
    return CacheInfo(
        root=root,
        entries=len(entries),
        bytes=sum(e.stat().st_size for e in entries),
        archives=len({Path(e.path).parent for e in entries}),
        limit=cache_limit_bytes(),
    )


def clear_cache(root: Path | None = None) -> int:
    """Delete every cached ground-truth frame; returns the bytes freed."""
    root = cache_root() if root is None else root
    freed = cache_info(root).bytes
    shutil.rmtree(root / _GT, ignore_errors=True)
    return freed


def evict(root: Path, limit: int) -> int:
    """Delete the least recently read entries until the cache holds at most `limit` bytes; returns bytes freed."""
    entries = sorted(((e.stat(), e.path) for e in _entries(root)), key=lambda s: s[0].st_mtime_ns)
    total = sum(st.st_size for st, _ in entries)
    freed = 0
    for st, path in entries:
        if total - freed <= limit:
            break
        try:
            os.remove(path)
            freed += st.st_size
        except FileNotFoundError:  # another process evicted it first
            pass
    return freed


def _drop(path: Path) -> None:
    """Remove a bad entry, if the cache folder lets us."""
    try:
        path.unlink(missing_ok=True)
    except OSError:
        pass


class GroundTruthCache:
    """Cached Z images of one view of one archive, by member name; never raises on a cache fault.

    A cache that cannot be written (read-only home, full disk) just misses: ground truth is then
    decoded from the archive every time, as without a cache.
    """

    def __init__(self, archive: Path, view: str = "l", root: Path | None = None, limit: int | None = None):
        self.root = cache_root() if root is None else root
        self.limit = cache_limit_bytes() if limit is None else limit
        self.folder = self.root / _GT / archive_key(archive, view)

    def _file(self, name: str) -> Path:
        return self.folder / f"{Path(name).stem}.npy"

    def get(self, name: str, shape: tuple[int, int]) -> np.ndarray | None:
        """The cached float32 Z of member `name` when it has `shape`, else None (and a bad entry is dropped)."""
        path = self._file(name)
        try:
            z = np.load(path, allow_pickle=False)
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            _drop(path)
            return None
        if z.shape != shape or z.dtype != np.float32:
            _drop(path)
            return None
        try:
            os.utime(path)  # the mtime orders eviction: least recently read first
        except OSError:
            pass
        return z

    def put(self, name: str, z: np.ndarray) -> None:
        """Store the Z of member `name`, then keep the cache under its limit."""
        if self.limit <= 0:
            return
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with atomic_write(self._file(name)) as tmp, open(tmp, "wb") as f:
                np.save(f, np.ascontiguousarray(z, np.float32), allow_pickle=False)
            evict(self.root, self.limit)
        except (OSError, InputError):
            pass
