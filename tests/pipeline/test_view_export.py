"""export_range: depth per frame and an mp4 of the range, the scale to mm per frame, progress, cancel, atomic."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from pipeline_fakes import FakeDepth, H, MemorySource, W, frame_value

from endodepth.errors import EndoDepthError
from endodepth.frame import Frame
from endodepth.pipeline.view_export import Cancelled, RangeExport, export_range


class GroundTruthSource(MemorySource):
    """MemorySource whose frame i has ground truth (i + 1) * 100 times the fake model's depth."""

    def frame(self, i: int) -> Frame:
        frame = super().frame(i)
        frame.gt_depth = np.full((H, W), (i + 1) * 100 * frame_value(i) / 255.0, np.float32)
        return frame


def test_range_writes_depth_per_frame_scaled_per_frame_and_a_video(tmp_path):
    progress = []
    job = RangeExport(tmp_path / "a", "clip", 2, 5, "npz", "image | depth")
    files = export_range(GroundTruthSource(8), FakeDepth(), job, progress=progress.append)
    assert [p.name for p in files] == [f"clip_{i:06d}.npz" for i in range(2, 6)] + ["clip_image_depth.mp4"]
    assert progress == [1, 2, 3, 4]
    for i in range(2, 6):
        with np.load(tmp_path / "a" / f"clip_{i:06d}.npz") as npz:
            depth = npz["depth"]
            assert str(npz["kind"]) == "metric-mm"
        shown = depth[np.isfinite(depth)]
        assert shown.size > 0  # each frame its own GT ratio: depth equals that frame's ground truth
        np.testing.assert_allclose(shown, (i + 1) * 100 * frame_value(i) / 255.0, rtol=1e-5)
    video = cv2.VideoCapture(str(files[-1]))
    assert int(video.get(cv2.CAP_PROP_FRAME_COUNT)) == 4
    assert (int(video.get(cv2.CAP_PROP_FRAME_WIDTH)), int(video.get(cv2.CAP_PROP_FRAME_HEIGHT))) == (2 * W, H)
    video.release()


def test_without_alignment_depth_stays_relative_and_png16_writes_its_scale(tmp_path):
    job = RangeExport(tmp_path, "r", 0, 1, "png16", "depth", video=tmp_path / "v" / "out.mp4", align_to_gt=False)
    files = export_range(GroundTruthSource(3), FakeDepth(), job)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r_000000.json", "r_000000.png", "r_000001.json",
                                                          "r_000001.png", "v"]
    assert files[-1] == tmp_path / "v" / "out.mp4" and files[-1].stat().st_size > 0
    assert cv2.imread(str(files[0]), cv2.IMREAD_UNCHANGED).dtype == np.uint16


def test_cancel_keeps_the_whole_depth_files_and_no_video(tmp_path):
    seen = []
    job = RangeExport(tmp_path, "c", 0, 5, "npz", "depth")
    with pytest.raises(Cancelled):
        export_range(MemorySource(6), FakeDepth(), job, progress=seen.append, cancelled=lambda: len(seen) >= 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c_000000.npz", "c_000001.npz"]


def test_a_range_outside_the_source_is_refused(tmp_path):
    with pytest.raises(EndoDepthError, match="not within the 4 frames"):
        export_range(MemorySource(4), FakeDepth(), RangeExport(tmp_path, "x", 2, 4))
