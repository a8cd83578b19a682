"""Distances measured between two picked 3D points, as a session stores them and as CSV."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from endodepth.io.atomic import atomic_write

CSV_HEADER = ("frame", "ax", "ay", "az", "bx", "by", "bz", "distance", "unit")


@dataclass
class Measurement:
    """Two picked 3D points (camera or keyframe coordinates) and their distance."""

    frame: int
    a: tuple[float, float, float]
    b: tuple[float, float, float]
    unit: str

    @property
    def distance(self) -> float:
        """Euclidean distance between the two points, in `unit`."""
        return float(np.linalg.norm(np.subtract(self.b, self.a)))

    def as_dict(self) -> dict:
        """The measurement as JSON-ready values (sessions)."""
        return {"frame": self.frame, "a": list(self.a), "b": list(self.b), "distance": self.distance,
                "unit": self.unit}


def measurement_from_dict(item: Mapping) -> Measurement:
    """A measurement from `Measurement.as_dict()` (a session's entry)."""
    return Measurement(int(item["frame"]), tuple(item["a"]), tuple(item["b"]), str(item["unit"]))


def write_measurements_csv(path: str | Path, measurements: Iterable[Measurement]) -> Path:
    """Write the measurements as CSV, one row each (atomically)."""
    path = Path(path)
    with atomic_write(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(CSV_HEADER)
        for m in measurements:
            writer.writerow([m.frame, *m.a, *m.b, m.distance, m.unit])
    return path
