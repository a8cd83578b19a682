import json

import numpy as np

from endodepth.cli import main


def test_info_on_keyframe(keyframe, capsys):
    assert main(["info", str(keyframe.folder)]) == 0
    out = capsys.readouterr().out
    K = keyframe.calib.K1
    assert "kind:         scared-keyframe" in out
    assert "frames:       4" in out and "size:         80x64" in out and "fps:          10.0" in out
    assert f"fx={K[0, 0]:.2f} fy={K[1, 1]:.2f} cx={K[0, 2]:.2f} cy={K[1, 2]:.2f} (from calibration)" in out
    assert "ground truth: yes" in out


def test_info_json_on_dataset_root(keyframe, capsys):
    root = keyframe.folder.parent.parent
    assert main(["info", "--json", str(root)]) == 0
    d = json.loads(capsys.readouterr().out)
    assert (
        d["kind"] == "scared-dataset"
        and d["frames"] == 4
        and d["parts"] == ["dataset_1/keyframe_1 (4 frames)"]
    )
    assert d["K"] == keyframe.calib.K1.round(4).tolist() and d["intrinsics_assumed"] is False


def test_info_on_video_says_intrinsics_assumed(keyframe, capsys, tmp_path):
    clip = tmp_path / "clip.mp4"
    clip.write_bytes((keyframe.folder / "data" / "rgb.mp4").read_bytes())
    assert main(["info", str(clip)]) == 0
    out = capsys.readouterr().out
    assert "kind:         video" in out and "size:         80x128" in out
    assert "fx=65.60 fy=130.56 cx=40.00 cy=64.00 (assumed" in out and "ground truth: no" in out


def test_dataset_parts_name_their_own_size_and_missing_ground_truth(keyframe, capsys, tmp_path):
    from endodepth.io.scared import write_keyframe

    root = keyframe.folder.parent.parent
    other = root / "dataset_1" / "keyframe_2"
    frames = np.zeros((2, 32, 40, 3), np.uint8)
    xyz = np.ones((2, 32, 40, 3), np.float32)
    write_keyframe(other, frames, frames, xyz, xyz, np.tile(np.eye(4), (2, 1, 1)), keyframe.calib, 10.0)
    (other / "data" / "scene_points.tar.gz").unlink()
    assert main(["info", str(root)]) == 0
    out = capsys.readouterr().out
    assert "part:         dataset_1/keyframe_1 (4 frames)\n" in out
    assert "part:         dataset_1/keyframe_2 (2 frames, 40x32, no ground truth)" in out
