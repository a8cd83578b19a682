"""The Z of SCARED 3D images read in place (io.xyz_tiff) equals tifffile's full decode, for stacked (2H)
and one-view (H) files written by tifffile, from disk and from a tar.gz member, and compressed or
otherwise stored files fall back to tifffile with the same numbers."""

import io
import tarfile

import numpy as np
import pytest
import tifffile

from endodepth.errors import InputError
from endodepth.io.tararchive import TarMembers
from endodepth.io.xyz_tiff import XyzTiff, view_rows

H, W = 37, 29


def _xyz(rows: int, seed: int = 0, dtype=np.float32) -> np.ndarray:
    rng = np.random.default_rng(seed)
    xyz = rng.normal(0, 30, (rows, W, 3)).astype(dtype)
    xyz[..., 2] = rng.uniform(20, 120, (rows, W))
    xyz[rng.random((rows, W)) < 0.2] = 0  # SCARED's unknown
    return xyz


def _tiff_bytes(xyz: np.ndarray, **kw) -> bytes:
    buf = io.BytesIO()
    tifffile.imwrite(buf, xyz, photometric="rgb", **kw)
    return buf.getvalue()


def _z(data: bytes, first: int, stop: int) -> np.ndarray:
    with XyzTiff(io.BytesIO(data), "x.tiff") as tiff:
        return tiff.z(first, stop)


@pytest.mark.parametrize("rows, side", [(2 * H, "l"), (2 * H, "r"), (H, "l"), (H, "r")])
@pytest.mark.parametrize(
    "kw",
    [{}, {"byteorder": ">"}, {"rowsperstrip": 4}, {"compression": "zlib"},
     {"tile": (16, 16)}, {"planarconfig": "separate"}],
    ids=["plain", "big-endian", "strips", "zlib", "tiled", "planar"],
)
def test_z_of_a_view_equals_tifffile_full_decode(rows, side, kw):
    xyz = _xyz(rows)
    planar = kw.get("planarconfig") == "separate"
    data = _tiff_bytes(np.moveaxis(xyz, 2, 0) if planar else xyz, **kw)
    full = tifffile.imread(io.BytesIO(data))
    if planar:  # decoded as 3xHxW: not an HxWx3 image, as before
        with pytest.raises(InputError, match="expected an HxWx3 float XYZ image"):
            _z(data, 0, rows)
        return
    first, stop = view_rows(full.shape, H, side, "x.tiff")
    z = _z(data, first, stop)
    assert z.dtype == np.float32
    np.testing.assert_array_equal(z, full[first:stop, :, 2].astype(np.float32))
    np.testing.assert_array_equal(z, xyz[first:stop, :, 2])


class _Counted(io.BytesIO):
    """A file that counts the bytes read from it."""

    read_bytes = 0

    def read(self, n=-1):
        data = super().read(n)
        self.read_bytes += len(data)
        return data

    def readinto(self, b):
        n = super().readinto(b)
        self.read_bytes += n
        return n


def test_in_place_read_reads_only_the_rows_asked_for(monkeypatch):
    data = _tiff_bytes(_xyz(2 * H))
    monkeypatch.setattr(XyzTiff, "_decode", lambda self: pytest.fail("decoded the whole image"))
    f = _Counted(data)
    with XyzTiff(f, "x.tiff") as tiff:
        header = f.read_bytes
        tiff.z(H, 2 * H)
    assert f.read_bytes - header == H * W * 3 * 4  # the right view's rows, nothing else
    assert header < 1000 and not f.closed  # the tags only; the caller's file stays open


def test_float64_image_gives_float32_z():
    xyz = _xyz(2 * H, dtype=np.float64)
    z = _z(_tiff_bytes(xyz), 0, H)
    np.testing.assert_array_equal(z, xyz[:H, :, 2].astype(np.float32))


def test_from_a_tar_gz_member(tmp_path):
    archive = tmp_path / "scene_points.tar.gz"
    frames = [_xyz(2 * H, seed) for seed in range(3)]
    with tarfile.open(archive, "w:gz", compresslevel=1) as tar:
        for i, xyz in enumerate(frames):
            data = _tiff_bytes(xyz)
            info = tarfile.TarInfo(f"scene_points{i:06d}.tiff")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    members = TarMembers(archive)
    try:
        for i in (2, 0, 1):  # a backward read too
            with members.member(f"scene_points{i:06d}.tiff") as member:
                with XyzTiff(member, archive) as tiff:
                    np.testing.assert_array_equal(tiff.z(H, 2 * H), frames[i][H:, :, 2])
        with members.member("absent.tiff") as member:
            assert member is None
    finally:
        members.close()


def test_truncated_image_data_is_one_clear_error():
    data = _tiff_bytes(_xyz(2 * H))
    with pytest.raises(InputError, match="truncated TIFF"):
        _z(data[: len(data) - 100], H, 2 * H)


@pytest.mark.parametrize("data", [b"", b"II*\x00garbage", b"not a tiff at all"])
def test_not_a_tiff(data):
    with pytest.raises(InputError, match="not a readable TIFF"):
        _z(data, 0, 1)


@pytest.mark.parametrize("side", ["l", "r"])
def test_keyframe_ground_truth_equals_tifffile_decode_of_its_archive(keyframe, side):
    """A SCARED keyframe's scene_points (stacked, from our writer; one member recompressed with zlib
    inside the TIFF) read through the source equal tifffile's decode of the member, 0 -> NaN."""
    from io_fixtures import replace_tar_member

    from endodepth.io.keyframes import ScaredKeyframeSource

    archive = keyframe.folder / "data" / "scene_points.tar.gz"
    with tarfile.open(archive) as tar:
        plain = tar.extractfile("scene_points000001.tiff").read()
    replace_tar_member(archive, "scene_points000002.tiff",
                       _tiff_bytes(tifffile.imread(io.BytesIO(plain)), compression="zlib"))
    with tarfile.open(archive) as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}
    source = ScaredKeyframeSource(keyframe.folder, side)
    h = source.size[1]
    for i in range(len(source)):
        expected = tifffile.imread(io.BytesIO(members[f"scene_points{i:06d}.tiff"]))
        expected = expected[:h] if side == "l" else expected[h:]
        z = expected[..., 2].astype(np.float32)
        z[z == 0] = np.nan
        np.testing.assert_array_equal(source._decode_scene_depth(f"scene_points{i:06d}.tiff"), z)
    source.close()
