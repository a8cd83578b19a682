"""SCARED 3D images (HxWx3 float XYZ TIFF, mm): the Z of a band of rows, read in place.

A stacked scene_points frame at 1280x1024 is 31 MB; decoding it whole (tifffile from bytes) copies
it several times while holding the interpreter lock, which stalls the GUI thread. An uncompressed,
contiguous image (what SCARED and `endodepth.io.scared` write) is read here from its file in one
read of only the rows asked for, straight into an array (a tar.gz member inflates into it with
the lock released), keeping only Z; anything else (compressed, predicted, planar) is decoded by
tifffile as before. Both give the same numbers.
"""

from __future__ import annotations

import io
import struct
from pathlib import Path
from typing import BinaryIO

import numpy as np
import tifffile

from endodepth.errors import InputError

# what a malformed TIFF raises; the file's own read errors (OSError) are left to its opener, which
# names them (a tar.gz member: "cannot be read from the archive")
_ERRORS = (ValueError, IndexError, KeyError, struct.error, tifffile.TiffFileError)


class XyzTiff:
    """An opened HxWx3 float XYZ TIFF: `shape`, and `z(first, stop)` for the Z of rows first..stop-1.

    `file` is any seekable binary file (a file on disk, a member of a tar.gz); `path` names it in errors.
    """

    def __init__(self, file: BinaryIO, path: Path):
        self.path = path
        self._file = file
        start = file.tell()  # the TIFF's offsets count from here
        try:
            self._tiff = tifffile.TiffFile(file, name=Path(path).name)
            series = self._tiff.series[0]
            self.shape = tuple(series.shape)
            dtype = np.dtype(series.dtype)
        except _ERRORS as exc:
            raise InputError(path, f"not a readable TIFF ({exc})") from None
        if len(self.shape) != 3 or self.shape[2] != 3 or dtype.kind != "f":
            raise InputError(path, f"expected an HxWx3 float XYZ image, found shape {self.shape} {dtype}")
        page = self._tiff.pages.first
        in_place = (
            len(series.pages) == 1 and page.shape == self.shape and page.is_contiguous
            and page.predictor == 1 and page.fillorder == 1 and page.planarconfig == 1
        )
        self._start = start
        self._offset = start + int(page.dataoffsets[0]) if in_place else None
        self._dtype = dtype.newbyteorder(self._tiff.byteorder)
        self._decoded: np.ndarray | None = None

    def z(self, first: int, stop: int) -> np.ndarray:
        """Z (float32, as stored: 0 where unknown) of rows first..stop-1."""
        if self._offset is None:
            return self._decode()[first:stop, :, 2].astype(np.float32)
        band = np.empty((stop - first, self.shape[1], 3), self._dtype)
        self._file.seek(self._offset + first * band[0].nbytes)
        # one read into the band (a gzip member inflates from its seek point at every read)
        if self._file.readinto(memoryview(band).cast("B")) != band.nbytes:
            raise InputError(self.path, "truncated TIFF: its image data ends early")
        return band[..., 2].astype(np.float32)

    def _decode(self) -> np.ndarray:
        """The whole image, by tifffile from the file's bytes read at once (its many small reads of
        strips or tiles would each inflate a tar.gz member again from a seek point)."""
        if self._decoded is None:
            self._file.seek(self._start)
            try:
                self._decoded = tifffile.imread(io.BytesIO(self._file.read()))
            except _ERRORS as exc:
                raise InputError(self.path, f"not a readable TIFF ({exc})") from None
        return self._decoded

    def close(self) -> None:
        self._tiff.close()

    def __enter__(self) -> XyzTiff:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def view_rows(shape: tuple, height: int, side: str, path: Path) -> tuple[int, int]:
    """The rows of `side` ("l" or "r") in a stacked (2H, left over right) 3D image, or all of a one-view (H) one."""
    if shape[0] == 2 * height:
        return (0, height) if side == "l" else (height, 2 * height)
    if shape[0] == height:
        return 0, height
    raise InputError(path, f"3D image of shape {shape} matches neither H={height} nor the stacked 2H")


def unknown_to_nan(z: np.ndarray) -> np.ndarray:
    """Z in mm with 0 (SCARED's unknown in scene_points) turned into NaN, in place."""
    z[z == 0] = np.nan
    return z
