"""Garbage collection on the GUI thread only, while a window is open.

Python's collector runs on whichever thread allocates when a threshold is crossed; when that is a
worker thread (building a model, decoding ground truth) and the cycle holds a Qt object, Qt deletes it
off its thread and the interpreter crashes. pyqtgraph's collector turns automatic collection off and
collects on a GUI-thread timer instead; the last window closed turns it back on.
"""

from __future__ import annotations

import gc

from pyqtgraph.util.garbage_collector import GarbageCollector

_collector: GarbageCollector | None = None
_holders: set[int] = set()


def hold(owner: object) -> None:
    """`owner` (a window) opened: collect on the GUI thread from now on."""
    global _collector
    _holders.add(id(owner))
    if _collector is None:
        _collector = GarbageCollector(interval=0.5)


def release(owner: object) -> None:
    """`owner` closed (again is harmless): after the last one, collect once here and give collection
    back to Python."""
    global _collector
    _holders.discard(id(owner))
    if not _holders and _collector is not None:
        _collector.timer.stop()
        _collector = None
        gc.collect()
        gc.enable()
