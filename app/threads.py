"""The machine's thread budget, decided once: torch intra-op threads, OpenCV threads and the
pipeline's own threads, so that they do not fight over a few cores (oversubscription).

The pipeline runs one decode thread, one inference thread (whose torch ops fan out over the
intra-op threads) and, in the window, the GUI thread. On a small machine torch's default (one
thread per core) plus OpenCV's own pool plus those threads ask for several times the cores there
are; the budget below gives torch the cores the other threads leave and keeps OpenCV serial there.
Qt-free: the CLI, the benchmarks and the window all apply the same budget.
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from dataclasses import dataclass

PIPELINE_THREADS = 2  # the decode thread and the GUI thread, besides the inference thread
_applied: ThreadBudget | None = None


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity, which containers narrow), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class ThreadBudget:
    """How many threads each pool gets on a machine of `cores` cores (0 OpenCV threads: serial)."""

    cores: int
    torch_threads: int
    opencv_threads: int
    decode_threads: int = 1

    def short(self) -> str:
        """A few words for the status bar."""
        opencv = f"OpenCV {self.opencv_threads}" if self.opencv_threads else "OpenCV serial"
        return f"threads: torch {self.torch_threads}, {opencv}, {self.cores} cores"

    def describe(self) -> str:
        """One line for `endodepth bench` and the status bar."""
        opencv = f"{self.opencv_threads} OpenCV threads" if self.opencv_threads else "OpenCV serial"
        return (
            f"threads on {self.cores} cores: torch {self.torch_threads} intra-op, {opencv}, "
            f"{self.decode_threads} decode thread"
        )


def plan(cores: int | None = None, torch_threads: int | None = None, opencv_threads: int | None = None) -> ThreadBudget:
    """The budget for `cores` (default: this machine's); explicit counts override the rule.

    Rule (measured on 2 cores, see README's benchmark section: one torch thread ran inference
    about 2x faster than two beside the decode thread): torch leaves one core to the decode and
    GUI threads up to 4 cores and two above; OpenCV runs serial below 8 cores (its resizes and
    colour maps are small next to inference and a pool there only competes) and gets the cores
    torch leaves above that.
    """
    cores = available_cores() if cores is None else max(1, int(cores))
    if torch_threads is None:
        torch_threads = max(1, cores - (1 if cores <= 4 else PIPELINE_THREADS))
    if opencv_threads is None:
        opencv_threads = 0 if cores < 8 else max(0, cores - torch_threads)
    return ThreadBudget(cores, max(1, int(torch_threads)), max(0, int(opencv_threads)))


def apply(budget: ThreadBudget | None = None) -> ThreadBudget:
    """Set torch's and OpenCV's thread counts to `budget` (default: `plan()`); returns it."""
    global _applied
    import cv2
    import torch

    budget = plan() if budget is None else budget
    torch.set_num_threads(budget.torch_threads)
    cv2.setNumThreads(budget.opencv_threads)
    _applied = budget
    return budget


def ensure_applied() -> ThreadBudget:
    """The budget in force, applying `plan()` the first time (each entry point calls this once)."""
    return _applied if _applied is not None else apply()


@contextmanager
def opencv_pool(threads: int | None = None):
    """Run the block with OpenCV's pool at `threads` (default: every core), then restore the budget's
    count: for one heavy OpenCV call that is the inference itself (stereo matching: 57 ms a 1280x1024
    frame on 2 threads against 80 ms serial), not the small per-frame resizes the budget keeps serial."""
    import cv2

    cv2.setNumThreads(available_cores() if threads is None else int(threads))
    try:
        yield
    finally:
        cv2.setNumThreads(ensure_applied().opencv_threads)


def lower_this_thread(niceness: int = 10) -> bool:
    """Raise the calling thread's nice value (Linux: per thread; threads it starts inherit it), so a
    background job takes only the CPU that playback leaves; False where the OS does not allow it."""
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + niceness))
    except (AttributeError, OSError):
        return False
    return True
