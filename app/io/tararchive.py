"""Random access to the files of a .tar.gz (SCARED scene_points, frame_data) without extracting it."""

from __future__ import annotations

import io
import tarfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import indexed_gzip

from endodepth.errors import InputError

# One seek point (with its 32 KiB window) per 4 MiB of uncompressed data: ~8 MiB of index per GiB,
# and a read never inflates more than 4 MiB it throws away before its first byte (a 1280x2048
# scene_points frame, 31 MiB, is read as its header and its view's rows: 16 MiB spacing cost half
# again as much CPU a frame).
_INDEX_SPACING = 4 * 2**20


class _MemberFile(io.RawIOBase):
    """One member's bytes as a seekable file over the gzip stream. A read goes straight into the
    caller's buffer with the interpreter lock released while it inflates (tarfile's own member file
    copies through bytes objects, holding the lock). Each read inflates from the preceding seek point,
    so callers read in large pieces (a BufferedReader over this one)."""

    def __init__(self, gz: indexed_gzip.IndexedGzipFile, start: int, size: int):
        super().__init__()
        self._gz, self._start, self._size, self._pos = gz, start, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer) -> int:
        view = memoryview(buffer).cast("B")
        n = max(0, min(len(view), self._size - self._pos))
        if n == 0:
            return 0
        self._gz.seek(self._start + self._pos)
        got = self._gz.readinto(view[:n])
        self._pos += got
        return got


class TarMembers:
    """Random access by name to the files of a .tar.gz without extracting it.

    Headers are indexed lazily, only as far as the member asked for, so playback from the start
    streams; the gzip seek points laid on the way make later backward reads cheap.
    """

    _ERRORS = (OSError, EOFError, tarfile.TarError, indexed_gzip.ZranError)

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()
        self._members: dict[str, tarfile.TarInfo] = {}
        self._complete = False
        try:
            self._gz = indexed_gzip.IndexedGzipFile(str(path), spacing=_INDEX_SPACING, buffer_size=2**20)
            self._tar = tarfile.open(fileobj=self._gz, mode="r:")
        except self._ERRORS as exc:
            raise InputError(path, f"not a readable tar.gz archive ({exc})") from None

    def _find(self, name: str) -> tarfile.TarInfo | None:
        while name not in self._members and not self._complete:
            member = self._tar.next()
            if member is None:
                self._complete = True
            elif member.isfile():
                self._members[Path(member.name).name] = member
        return self._members.get(name)

    def read(self, name: str) -> bytes | None:
        """The bytes of member `name`, or None when the archive has no such file."""
        with self._lock:
            try:
                member = self._find(name)
                return None if member is None else self._tar.extractfile(member).read()
            except self._ERRORS as exc:
                raise InputError(self.path / name, f"cannot be read from the archive ({exc})") from None

    @contextmanager
    def member(self, name: str) -> Iterator[BinaryIO | None]:
        """Member `name` as a seekable file (None when the archive has no such file), to read in place
        in large pieces: the archive is locked until the block ends, and its read errors become InputErrors."""
        with self._lock:
            try:
                member = self._find(name)
                if member is None or member.issparse():
                    yield None if member is None else self._tar.extractfile(member)
                else:
                    yield io.BufferedReader(_MemberFile(self._gz, member.offset_data, member.size), 2**16)
            except self._ERRORS as exc:
                raise InputError(self.path / name, f"cannot be read from the archive ({exc})") from None

    def close(self) -> None:
        self._tar.close()
        self._gz.close()
