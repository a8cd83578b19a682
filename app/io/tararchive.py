"""Random access to the files of a .tar.gz (SCARED scene_points, frame_data) without extracting it."""

from __future__ import annotations

import tarfile
import threading
from pathlib import Path

import indexed_gzip

from endodepth.errors import InputError

# One seek point per 16 MiB of uncompressed data: ~1 MiB of index per GiB, and a read never
# decompresses more than 16 MiB before the member it wants (a 1280x2048 scene_points is 31 MiB).
_INDEX_SPACING = 16 * 2**20


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

    def close(self) -> None:
        self._tar.close()
        self._gz.close()
