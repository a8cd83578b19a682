"""Test doubles for the pipeline: an in-memory source, a fake depth model whose output
encodes the frame it saw, and callbacks that record what the Runner delivers."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np
import torch

from endodepth.frame import Frame
from endodepth.models.base import DepthEstimator

H, W = 24, 32
K = np.array([[20.0, 0, W / 2], [0, 20.0, H / 2], [0, 0, 1]])


def frame_value(index: int) -> int:
    """The grey level of frame `index`; the fake model answers depth = value / 255."""
    return 10 + index % 200


class MemorySource:
    """`n` grey frames (frame i has grey level frame_value(i)); decoding `fail_at` raises."""

    def __init__(self, n: int, fps: float = 25.0, fail_at: tuple[int, ...] = ()) -> None:
        self.n, self.fps, self.fail_at = n, fps, fail_at

    def __len__(self) -> int:
        return self.n

    def frame(self, i: int) -> Frame:
        if not 0 <= i < self.n:
            raise IndexError(i)
        if i in self.fail_at:
            raise OSError(f"corrupt frame {i}")
        rgb = np.full((H, W, 3), frame_value(i), dtype=np.uint8)
        return Frame(index=i, time=i / self.fps, rgb=rgb, K=K)


class FakeDepth(DepthEstimator):
    """Depth = grey level / 255 + `offset`, after `delay` seconds; waits for `gate` when set.

    `entered` is set whenever a forward pass starts; grey levels in `fail_values` raise.
    """

    kind = "relative"
    input_size = (H, W)

    def __init__(self, name: str = "fake", delay: float = 0.0, offset: float = 0.0,
                 fail_values: tuple[int, ...] = ()) -> None:
        super().__init__()
        self.name, self.delay, self.offset, self.fail_values = name, delay, offset, fail_values
        self.weight = torch.nn.Parameter(torch.ones(1))
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.entered.set()
        assert self.gate.wait(10), "test never opened the gate"
        value = round(float(x[0, 0, 0, 0]) * 255)
        if value in self.fail_values:
            raise RuntimeError(f"cannot infer grey level {value}")
        if self.delay:
            time.sleep(self.delay)
        return x.mean(dim=1, keepdim=True) * self.weight + self.offset


class Collector:
    """Runner callbacks that record results and errors and set events tests can wait on."""

    def __init__(self) -> None:
        self.results, self.errors = [], []
        self.finished = threading.Event()
        self.lock = threading.Lock()
        self._waits: list[tuple[Callable, threading.Event]] = []

    def on_result(self, r) -> None:
        with self.lock:
            self.results.append(r)
            self._check()

    def on_error(self, e) -> None:
        with self.lock:
            self.errors.append(e)
            self._check()

    def on_finished(self) -> None:
        self.finished.set()

    def wait_for(self, predicate, timeout: float = 10.0) -> bool:
        """Wait until predicate(self) holds (checked at every callback)."""
        ev = threading.Event()
        with self.lock:
            self._waits.append((predicate, ev))
            self._check()
        return ev.wait(timeout)

    def _check(self) -> None:
        for pred, ev in self._waits:
            if pred(self):
                ev.set()

    @property
    def indices(self) -> list[int]:
        return [r.index for r in self.results]

    def callbacks(self) -> dict:
        return {"on_result": self.on_result, "on_error": self.on_error, "on_finished": self.on_finished}
