"""Deferred ground truth: asked for when a frame's decoding starts, attached once read, never waited for."""

from __future__ import annotations

import threading

import numpy as np
from pipeline_fakes import MemorySource

from endodepth.pipeline.deferred_gt import DeferredGroundTruth, defers


class SlowTruth(MemorySource):
    """A source whose ground truth is read only when `gate` opens (as a cold scene_points archive)."""

    has_ground_truth = True

    def __init__(self, n: int) -> None:
        super().__init__(n)
        self.defer_ground_truth = False
        self.gate = threading.Event()
        self.asked: list[int] = []

    def frame(self, i: int):
        f = super().frame(i)
        if not self.defer_ground_truth:
            f.gt_depth = self.ground_truth(i)
        return f

    def ground_truth(self, i: int) -> np.ndarray:
        self.asked.append(i)
        assert self.gate.wait(10)
        return np.full((2, 2), float(i), np.float32)


def test_frames_decode_at_once_and_get_their_ground_truth_when_it_is_read():
    source = SlowTruth(4)
    ready = []
    assert defers(source) and not defers(MemorySource(2))
    deferred = DeferredGroundTruth(source, lambda i, z: ready.append(i))
    try:
        assert source.defer_ground_truth and len(deferred.source) == 4 and deferred.source.fps == source.fps
        frame = deferred.source.frame(2)  # the gate is closed: decoding does not wait
        assert frame.gt_depth is None and not deferred.attach(frame) and deferred.pending
        source.gate.set()
        deferred.reader.wait(2, 10)
        assert deferred.attach(frame) and float(frame.gt_depth[0, 0]) == 2.0 and ready == [2]
        assert source.asked == [2]  # asked once, when decoding started
        assert not deferred.pending
    finally:
        deferred.close()
