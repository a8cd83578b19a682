"""Ground truth that never gates the display: a source whose ground truth is slow to decode (SCARED's
scene_points.tar.gz, about 0.2 s of CPU a 1280x1024 frame) has it read by a GroundTruthReader on its own
thread, asked for as soon as a frame's decoding starts and attached to the frame when it is ready.

The player shows every frame at once; what needs ground truth (the scale to millimetres, the
selectivity bins, the comparison's errors) is computed for a frame when its ground truth is there,
which with the ground-truth cache warm is before the frame's inference ends. Qt-free.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from endodepth.frame import Frame
from endodepth.io.gt_reader import GroundTruthReader

ReadyFn = Callable[[int, "np.ndarray | None"], None]


def defers(source) -> bool:
    """Whether `source` can leave its ground truth to a reader (SCARED keyframes that have one)."""
    return hasattr(source, "defer_ground_truth") and bool(getattr(source, "has_ground_truth", False))


class DeferredGroundTruth:
    """Switches `source` to deferred ground truth and reads it aside; `source` here is the one
    to decode from (it asks for each frame's ground truth when the frame's decoding starts).

    `on_ready(index, depth)` runs on the reader's thread for every frame read.
    """

    def __init__(self, source, on_ready: ReadyFn | None = None, keep: int = 16) -> None:
        source.defer_ground_truth = True
        self.reader = GroundTruthReader(source.ground_truth, on_ready, keep)
        self.source = _Prefetching(source, self.reader)

    @property
    def pending(self) -> bool:
        """True while ground truth is being indexed or decoded (the status bar says so)."""
        return self.reader.indexing

    def attach(self, frame: Frame) -> bool:
        """Put the frame's ground truth on it when it was read; False while it is still pending."""
        if frame.gt_depth is None:
            frame.gt_depth = self.reader.get(frame.index)
        return frame.gt_depth is not None or self.reader.ready(frame.index) or frame.index in self.reader.errors

    def close(self) -> None:
        """Stop the reader (after the read in progress)."""
        self.reader.close()


class _Prefetching:
    """A source that asks the reader for a frame's ground truth before decoding the frame."""

    def __init__(self, source, reader: GroundTruthReader) -> None:
        self._source, self._reader = source, reader

    def __len__(self) -> int:
        return len(self._source)

    def __getattr__(self, name: str):
        return getattr(self._source, name)

    def frame(self, i: int) -> Frame:
        self._reader.request(i)
        return self._source.frame(i)
