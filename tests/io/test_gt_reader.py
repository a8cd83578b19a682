"""The asynchronous ground-truth reader: newest request wins, get() is None while pending,
`indexing` while a read runs, errors remembered, callbacks with what was read."""

import threading

import numpy as np
import pytest

from endodepth.errors import InputError
from endodepth.io.gt_reader import GroundTruthReader
from endodepth.io.keyframes import ScaredKeyframeSource


class _GatedRead:
    """read(i) that records calls and holds each read until released."""

    def __init__(self):
        self.calls: list[int] = []
        self.started = threading.Event()
        self.release = threading.Event()

    def __call__(self, i: int):
        self.calls.append(i)
        self.started.set()
        self.release.wait(5)
        if i == 99:
            raise InputError("gt.tar.gz", "broken member")
        return np.full((2, 3), float(i), np.float32)


def test_newest_request_replaces_the_waiting_ones():
    read = _GatedRead()
    ready = []
    reader = GroundTruthReader(read, on_ready=lambda i, z: ready.append((i, float(z[0, 0]))))
    try:
        assert reader.get(0) is None  # asked, pending
        assert read.started.wait(5)
        assert reader.indexing
        for i in (1, 2, 3):
            assert reader.get(i) is None
        read.release.set()
        np.testing.assert_array_equal(reader.wait(3, 5), np.full((2, 3), 3.0))
        assert read.calls == [0, 3]  # 1 and 2 were superseded before they started
        assert ready == [(0, 0.0), (3, 3.0)]
        assert reader.get(0)[0, 0] == 0.0 and not reader.indexing
    finally:
        read.release.set()
        reader.close()


def test_a_failed_read_is_remembered_not_retried():
    read = _GatedRead()
    read.release.set()
    reader = GroundTruthReader(read)
    try:
        assert reader.wait(99, 5) is None
        assert "broken member" in reader.errors[99]
        assert reader.get(99) is None and not reader.indexing
        assert read.calls == [99]
    finally:
        reader.close()


def test_old_results_are_dropped_beyond_keep():
    read = _GatedRead()
    read.release.set()
    reader = GroundTruthReader(read, keep=2)
    try:
        for i in range(3):
            reader.wait(i, 5)
        assert [reader.ready(i) for i in range(3)] == [False, True, True]
    finally:
        reader.close()


def test_reads_a_keyframe_beside_deferred_frames(keyframe):
    with ScaredKeyframeSource(keyframe.folder) as src:
        src.defer_ground_truth = True
        reader = GroundTruthReader(src.ground_truth)
        try:
            assert src.frame(3).gt_depth is None
            z, expected = reader.wait(3, 30), keyframe.left_xyz[3][..., 2]
            np.testing.assert_array_equal(z[~np.isnan(expected)], expected[~np.isnan(expected)])
        finally:
            reader.close()


def test_the_reader_thread_runs_at_a_lower_priority():
    import os
    import threading

    if not hasattr(os, "setpriority"):
        pytest.skip("no per-thread priority here")
    seen = {}
    here = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    def read(i):
        seen[i] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        return np.zeros((1, 1), np.float32)

    reader = GroundTruthReader(read, nice=5)
    try:
        reader.wait(0, 10)
        assert seen[0] == min(19, here + 5)
        assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == here  # only the reader's
    finally:
        reader.close()
