"""The ground-truth cache: exact round trip, keys that follow the archive, LRU eviction, clearing,
and a SCARED keyframe whose second pass never decodes the archive."""

import os

import numpy as np

from endodepth.cli import main
from endodepth.io.gt_cache import (
    GroundTruthCache,
    cache_info,
    cache_root,
    clear_cache,
    evict,
)
from endodepth.io.keyframes import ScaredKeyframeSource
from endodepth.io.scared import SCENE_POINTS


def _z(seed: int, shape=(6, 5)) -> np.ndarray:
    z = np.random.default_rng(seed).uniform(20, 200, shape).astype(np.float32)
    z[0, 0] = np.nan
    return z


def test_root_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("ENDODEPTH_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "endodepth"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_root() == tmp_path / "home" / ".cache" / "endodepth"
    monkeypatch.setenv("ENDODEPTH_CACHE", str(tmp_path / "mine"))
    assert cache_root() == tmp_path / "mine"


def test_put_get_is_exact_and_checks_the_shape(tmp_path):
    archive = tmp_path / "a.tar.gz"
    archive.write_bytes(b"x")
    cache = GroundTruthCache(archive, root=tmp_path / "c", limit=2**20)
    z = _z(0)
    assert cache.get("scene_points000000.tiff", z.shape) is None
    cache.put("scene_points000000.tiff", z)
    got = cache.get("scene_points000000.tiff", z.shape)
    np.testing.assert_array_equal(got, z)  # NaN == NaN here: lossless float32
    assert got.dtype == np.float32
    assert cache.get("scene_points000000.tiff", (5, 6)) is None  # wrong shape: dropped, a miss
    assert cache.get("scene_points000000.tiff", z.shape) is None


def test_a_changed_archive_gets_a_new_key(tmp_path):
    archive = tmp_path / "a.tar.gz"
    archive.write_bytes(b"x")
    GroundTruthCache(archive, root=tmp_path / "c").put("f.tiff", _z(1))
    archive.write_bytes(b"xy")  # new size and mtime
    assert GroundTruthCache(archive, root=tmp_path / "c").get("f.tiff", (6, 5)) is None
    assert GroundTruthCache(archive, "r", root=tmp_path / "c").folder != GroundTruthCache(archive, root=tmp_path / "c").folder


def test_eviction_drops_the_least_recently_read(tmp_path):
    archive = tmp_path / "a.tar.gz"
    archive.write_bytes(b"x")
    root = tmp_path / "c"
    cache = GroundTruthCache(archive, root=root, limit=2**30)
    for i in range(3):
        cache.put(f"f{i}.tiff", _z(i, (40, 40)))
    files = {i: cache.folder / f"f{i}.npy" for i in range(3)}
    for i, path in files.items():  # f0 oldest, then f1, then f2
        os.utime(path, ns=(10**18 + i * 10**9,) * 2)
    cache.get("f0.tiff", (40, 40))  # reading f0 makes f1 the least recently read
    size = files[0].stat().st_size
    freed = evict(root, 2 * size)
    assert freed == size
    assert [files[i].exists() for i in range(3)] == [True, False, True]


def test_clear_and_info_count_what_is_there(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ENDODEPTH_CACHE", str(tmp_path / "c"))
    archive = tmp_path / "a.tar.gz"
    archive.write_bytes(b"x")
    cache = GroundTruthCache(archive)
    cache.put("f0.tiff", _z(0))
    cache.put("f1.tiff", _z(1))
    info = cache_info()
    assert (info.entries, info.archives) == (2, 1)
    assert info.bytes == sum(p.stat().st_size for p in cache.folder.glob("*.npy"))
    assert main(["cache", "--info"]) == 0
    assert "2 ground-truth frames of 1 archives" in capsys.readouterr().out
    assert main(["cache", "--clear"]) == 0
    assert cache_info().entries == 0
    assert clear_cache() == 0


def test_second_pass_reads_the_cache_not_the_archive(keyframe, monkeypatch):
    first = ScaredKeyframeSource(keyframe.folder)
    cold = [first.frame(i).gt_depth for i in range(len(first))]
    first.close()

    def no_decoding(self, name):
        raise AssertionError(f"{name} decoded again")

    monkeypatch.setattr(ScaredKeyframeSource, "_decode_scene_depth", no_decoding)
    with ScaredKeyframeSource(keyframe.folder) as second:
        for i, z in enumerate(cold):
            expected = keyframe.left_xyz[i][..., 2]
            np.testing.assert_array_equal(second.frame(i).gt_depth, z)
            np.testing.assert_array_equal(z[~np.isnan(expected)], expected[~np.isnan(expected)])
            np.testing.assert_array_equal(second.ground_truth(i), z)


def test_deferred_frames_leave_ground_truth_to_the_reader(keyframe):
    with ScaredKeyframeSource(keyframe.folder) as src:
        src.defer_ground_truth = True
        frame = src.frame(1)
        assert frame.gt_depth is None and frame.pose is not None
        z = keyframe.left_xyz[1][..., 2]
        np.testing.assert_array_equal(src.ground_truth(1)[~np.isnan(z)], z[~np.isnan(z)])


def test_unwritable_cache_still_answers(keyframe, monkeypatch, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("ENDODEPTH_CACHE", str(blocker))
    with ScaredKeyframeSource(keyframe.folder) as src:
        z = keyframe.left_xyz[2][..., 2]
        np.testing.assert_array_equal(src.frame(2).gt_depth[~np.isnan(z)], z[~np.isnan(z)])
    assert (keyframe.folder / SCENE_POINTS).is_file()

