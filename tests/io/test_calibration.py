import numpy as np
import pytest

from endodepth.errors import InputError
from endodepth.io.calibration import (
    StereoCalibration,
    default_intrinsics,
    read_calibration,
    scale_intrinsics,
    write_calibration,
)


def make_calib() -> StereoCalibration:
    K1 = np.array([[1035.3, 0, 597.0], [0, 1035.1, 520.4], [0, 0, 1]])
    K2 = np.array([[1035.0, 0, 688.5], [0, 1034.9, 520.9], [0, 0, 1]])
    rot = np.array([[1, 0.001, -0.002], [-0.001, 1, 0.0005], [0.002, -0.0005, 1]])
    return StereoCalibration(
        K1, [-0.0005, 0.0015, 0, 0, 0], K2, [0.001, -0.002, 0, 0, 0], rot, [-4.34, 0.02, -0.1]
    )


def test_round_trip_is_exact(tmp_path):
    calib = make_calib()
    path = write_calibration(tmp_path / "endoscope_calibration.yaml", calib)
    back = read_calibration(path)
    for field in ("K1", "D1", "K2", "D2", "R", "T"):
        np.testing.assert_array_equal(getattr(back, field), getattr(calib, field))
    assert back.T.shape == (3,) and back.D1.shape == (5,)
    assert "M1" in path.read_text() and "K1" not in path.read_text()
    assert list(tmp_path.iterdir()) == [path]


def test_k1_k2_names_accepted(tmp_path):
    path = write_calibration(tmp_path / "c.yaml", make_calib())
    path.write_text(path.read_text().replace("M1:", "K1:").replace("M2:", "K2:"))
    np.testing.assert_array_equal(read_calibration(path).K2, make_calib().K2)


def test_default_intrinsics():
    K = default_intrinsics(320, 256)
    np.testing.assert_allclose(K, [[262.4, 0, 160], [0, 261.12, 128], [0, 0, 1]])


def test_scale_intrinsics():
    K = make_calib().K1
    S = scale_intrinsics(K, 0.25, 0.5)
    np.testing.assert_allclose(S[0], K[0] * 0.25)
    np.testing.assert_allclose(S[1], K[1] * 0.5)
    np.testing.assert_array_equal(S[2], [0, 0, 1])
    assert K[0, 0] == 1035.3


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match=r"c\.yaml: calibration file not found"):
        read_calibration(tmp_path / "c.yaml")


def test_malformed_yaml(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("%YAML:1.0\nM1: !!opencv-matrix\n  rows: [3\n  ::: nonsense {\n")
    with pytest.raises(InputError, match=r"c\.yaml: not a readable OpenCV YAML calibration"):
        read_calibration(path)


def test_missing_key(tmp_path):
    path = write_calibration(tmp_path / "c.yaml", make_calib())
    text = path.read_text()
    path.write_text(text[: text.index("R: ")])
    with pytest.raises(InputError, match=r"c\.yaml: calibration key 'R' is missing"):
        read_calibration(path)


def test_wrong_shape(tmp_path):
    calib = make_calib()
    path = write_calibration(tmp_path / "c.yaml", calib)
    text = path.read_text()
    start = text.index("T: ")
    path.write_text(
        text[:start] + "T: !!opencv-matrix\n   rows: 2\n   cols: 1\n   dt: d\n   data: [ 1., 2. ]\n"
    )
    with pytest.raises(InputError, match=r"c\.yaml: calibration key 'T' must be 3x1, found 2x1"):
        read_calibration(path)


@pytest.mark.parametrize(
    "K, problem",
    [
        ([[0.0, 0, 320], [0, 500, 256], [0, 0, 1]], r"'M1' has focal lengths fx=0 fy=500; both must be > 0"),
        ([[500, 0, 320], [0, -1, 256], [0, 0, 1]], r"'M1' has focal lengths fx=500 fy=-1"),
        ([[500, 0, 320], [0, 500, 256], [0, 0, 0]], r"'M1' is not a camera matrix: its last row is \[0.0, 0.0, 0.0\]"),
    ],
)
def test_camera_matrix_that_cannot_project(tmp_path, K, problem):
    calib = make_calib()
    calib.K1 = np.array(K, np.float64)
    path = write_calibration(tmp_path / "c.yaml", calib)
    with pytest.raises(InputError, match=r"c\.yaml: calibration key " + problem):
        read_calibration(path)
