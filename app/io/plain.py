"""The plain layout: `frames/{i:06d}.png`, `depth/{i:06d}.npz` (depth mm, K, pose) and `meta.json`."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

from endodepth.errors import InputError
from endodepth.frame import Frame
from endodepth.io.atomic import atomic_write
from endodepth.io.export import write_depth_npz, write_rgb_png
from endodepth.io.source import Source, rgb_image
from endodepth.kinds import METRIC_MM

META = "meta.json"


def write_plain(
    folder: str | Path,
    frames: np.ndarray,
    depths: np.ndarray | None,
    K: np.ndarray,
    poses: np.ndarray | None,
    fps: float,
    meta: dict | None = None,
) -> Path:
    """Write RGB uint8 frames (N,H,W,3), depths mm (N,H,W, NaN unknown), K, poses (N,4,4) and meta.json.

    `meta` (e.g. the generator's settings) is stored under "generator".
    """
    folder = Path(folder)
    frames = np.asarray(frames)
    n, h, w = frames.shape[:3]
    K = np.asarray(K, np.float64).reshape(3, 3)
    for i, rgb in enumerate(frames):
        write_rgb_png(folder / "frames" / f"{i:06d}.png", rgb)
        if depths is not None:
            extra = {} if poses is None else {"pose": np.asarray(poses[i], np.float64)}
            write_depth_npz(folder / "depth" / f"{i:06d}.npz", depths[i], K, METRIC_MM, **extra)
    info = {"fps": float(fps), "width": w, "height": h, "count": n, "K": K.tolist(), "generator": meta or {}}
    with atomic_write(folder / META) as tmp:
        tmp.write_text(json.dumps(info, indent=2))
    return folder


class PlainSource(Source):
    """Reader of the plain layout; ground truth and pose come from the per-frame NPZ when present."""

    kind = "plain"

    def __init__(self, folder: str | Path):
        super().__init__(folder)
        meta_path = self.path / META
        try:
            self.meta = json.loads(meta_path.read_text())
            self.fps = float(self.meta["fps"])
            self.size = (int(self.meta["width"]), int(self.meta["height"]))
            self.intrinsics = np.asarray(self.meta["K"], np.float64).reshape(3, 3)
            count = int(self.meta["count"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InputError(
                meta_path, f"not a valid plain-layout meta.json ({type(exc).__name__}: {exc})"
            ) from None
        self.files = [self.path / "frames" / f"{i:06d}.png" for i in range(count)]
        missing = [f for f in self.files if not f.is_file()]
        if missing:
            raise InputError(missing[0], f"missing: meta.json counts {count} frames")
        self.has_ground_truth = (self.path / "depth").is_dir()
        self.intrinsics_assumed = bool(self.meta.get("K_assumed", False))

    def __len__(self) -> int:
        return len(self.files)

    def frame(self, i: int) -> Frame:
        self._check_index(i)
        gt = pose = None
        npz_path = self.path / "depth" / f"{i:06d}.npz"
        if npz_path.is_file():
            try:
                with np.load(npz_path) as npz:
                    gt = npz["depth"].astype(np.float32)
                    pose = npz["pose"] if "pose" in npz else None
            except (OSError, EOFError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as exc:
                raise InputError(npz_path, f"not a readable depth NPZ ({type(exc).__name__}: {exc})") from None
            w, h = self.size
            if gt.shape != (h, w):
                raise InputError(npz_path, f"depth of shape {gt.shape} does not match the {w}x{h} frames")
        rgb = rgb_image(self.files[i])
        if rgb.shape[:2] != (self.size[1], self.size[0]):
            raise InputError(
                self.files[i], f"is {rgb.shape[1]}x{rgb.shape[0]}, meta.json says {self.size[0]}x{self.size[1]}"
            )
        return self.make_frame(i, rgb, gt, pose)


def open_plain(folder: Path) -> PlainSource | None:
    """A PlainSource when `folder` holds meta.json and frames/, else None."""
    return PlainSource(folder) if (folder / META).is_file() and (folder / "frames").is_dir() else None
