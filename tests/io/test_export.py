"""Exports read back with independent readers: cv2 (16-bit PNG), PIL (text chunk), numpy, open3d."""

import json

import cv2
import numpy as np
import open3d as o3d
import pytest
from PIL import Image

from endodepth.io.export import write_depth_npz, write_depth_png16, write_point_cloud


def decode(stored, meta):
    out = meta["offset"] + stored / meta["scale"]
    return np.where(stored > 0, out, np.nan)


def test_metric_png16_keeps_hundredths_of_mm(tmp_path):
    depth = np.array([[12.345, 100.0], [np.nan, 654.99]], np.float32)
    path = write_depth_png16(tmp_path / "d.png", depth, "metric-mm")
    stored = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert stored.dtype == np.uint16
    np.testing.assert_array_equal(stored, [[1235, 10000], [0, 65499]])
    text = Image.open(path).text
    assert text["unit"] == "mm" and float(text["scale"]) == 100.0 and text["kind"] == "metric-mm"
    meta = json.loads((tmp_path / "d.json").read_text())
    assert meta["scale"] == 100.0 and meta["offset"] == 0.0
    np.testing.assert_allclose(decode(stored, meta), depth, atol=0.005)


def test_metric_png16_far_depth_uses_coarser_scale(tmp_path):
    depth = np.full((2, 3), 800.0, np.float32)
    path = write_depth_png16(tmp_path / "far.png", depth, "metric-mm")
    assert float(Image.open(path).text["scale"]) == 10.0
    assert (cv2.imread(str(path), -1) == 8000).all()


def test_relative_png16_is_normalised_and_stated(tmp_path):
    depth = np.array([[0.5, 1.0], [2.0, np.nan]], np.float32)
    path = write_depth_png16(tmp_path / "r.png", depth, "relative-inverse")
    stored = cv2.imread(str(path), -1)
    assert stored[0, 0] == 1 and stored[1, 0] == 65535 and stored[1, 1] == 0
    meta = json.loads((tmp_path / "r.json").read_text())
    assert Image.open(path).text["unit"] == meta["unit"] == "relative inverse depth (unitless)"
    np.testing.assert_allclose(decode(stored, meta), depth, atol=1e-4)


def test_png16_rejects_overflowing_scale(tmp_path):
    with pytest.raises(ValueError, match="overflows 16 bits"):
        write_depth_png16(tmp_path / "x.png", np.full((2, 2), 700.0), "metric-mm", scale=100.0)
    assert not list(tmp_path.iterdir())


def test_npz(tmp_path):
    depth = np.random.default_rng(0).uniform(5, 50, (4, 5)).astype(np.float32)
    depth[0, 0] = np.nan
    K = np.array([[50.0, 0, 2.5], [0, 51, 2], [0, 0, 1]])
    write_depth_npz(tmp_path / "d.npz", depth, K, "metric-mm", pose=np.eye(4))
    with np.load(tmp_path / "d.npz") as z:
        np.testing.assert_array_equal(z["depth"], depth)
        np.testing.assert_array_equal(z["K"], K)
        assert str(z["kind"]) == "metric-mm" and z["pose"].shape == (4, 4)


def test_point_cloud(tmp_path):
    rng = np.random.default_rng(1)
    points = rng.uniform(-50, 50, (100, 3)).astype(np.float32)
    colors = rng.integers(0, 256, (100, 3), dtype=np.uint8)
    write_point_cloud(tmp_path / "c.ply", points, colors)
    cloud = o3d.io.read_point_cloud(str(tmp_path / "c.ply"))
    np.testing.assert_allclose(np.asarray(cloud.points), points, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(cloud.colors) * 255, colors, atol=0.51)


def test_atomic_write_to_a_folder_or_under_a_file_is_input_error(tmp_path):
    from endodepth.errors import InputError
    from endodepth.io.atomic import atomic_write

    (tmp_path / "taken").mkdir()
    with pytest.raises(InputError, match=r"taken: cannot be written \(Is a directory\)"):
        with atomic_write(tmp_path / "taken") as tmp:
            tmp.write_text("x")
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match=r"file/depth.npz: cannot be written: .*/file is a file, not a folder"):
        write_depth_npz(tmp_path / "file" / "depth.npz", np.zeros((2, 2)), np.eye(3), "relative")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "taken"]


def test_atomic_write_passes_errors_of_the_writer_through(tmp_path):
    from endodepth.io.atomic import atomic_write

    with pytest.raises(ValueError, match="writer failed"):
        with atomic_write(tmp_path / "a.txt"):
            raise ValueError("writer failed")
    assert list(tmp_path.iterdir()) == []
