"""Training data: synthetic sequences rendered once to disk, then read as memory-mapped arrays.

A training set is a folder with `rgb.npy` (N, H, W, 3) uint8, `depth.npy` (N, H, W) float16 mm
(NaN unknown) and `meta.json` (seeds and settings of every sequence). Sequence `j` uses seed
`first_seed + j` and `random_settings(default_rng(seed))` with the camera moving `spread` times
faster than the generator's default, so the few frames kept per scene see different views.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from endodepth.io.atomic import atomic_write

RGB, DEPTH, META = "rgb.npy", "depth.npy", "meta.json"


@dataclass(frozen=True)
class SynthRecipe:
    """What a rendered training set holds: how many sequences, frames each, size, seeds."""

    sequences: int = 200
    frames: int = 12
    width: int = 320
    height: int = 256
    first_seed: int = 0
    spread: float = 2.5
    version: int = 1  # generator version of random_settings (2: domain randomisation)

    def seeds(self) -> range:
        return range(self.first_seed, self.first_seed + self.sequences)


def render_one(recipe: SynthRecipe, seed: int) -> tuple[np.ndarray, np.ndarray, dict]:
    """Frames (F, H, W, 3) uint8, depth (F, H, W) float16 and settings of training sequence `seed`."""
    import torch

    from endodepth.synth import is_heldout, random_settings, render_sequence

    if is_heldout(seed):
        raise ValueError(f"seed {seed} is reserved for held-out evaluation")
    torch.set_num_threads(1)
    settings = random_settings(np.random.default_rng(seed), version=recipe.version)
    settings = settings.replace(speed=settings.speed * recipe.spread)
    seq = render_sequence(recipe.frames, recipe.width, recipe.height, seed, settings=settings)
    return seq.rgb, seq.depth.astype(np.float16), {"seed": seed, **settings.as_dict()}


def render_training_set(folder: str | Path, recipe: SynthRecipe, workers: int = 1) -> Path:
    """Render `recipe` into `folder` (rgb.npy, depth.npy, meta.json); reuse it when already there."""
    folder = Path(folder)
    if is_rendered(folder, recipe):
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    n = recipe.sequences * recipe.frames
    shape = (n, recipe.height, recipe.width)
    meta = {"recipe": recipe.__dict__, "sequences": []}
    with atomic_write(folder / RGB) as rgb_tmp, atomic_write(folder / DEPTH) as depth_tmp:
        rgb = np.lib.format.open_memmap(rgb_tmp, "w+", np.uint8, (*shape, 3))
        depth = np.lib.format.open_memmap(depth_tmp, "w+", np.float16, shape)
        with ProcessPoolExecutor(max(1, workers)) as pool:
            jobs = pool.map(render_one, [recipe] * recipe.sequences, recipe.seeds())
            for j, (r, d, settings) in enumerate(tqdm(jobs, total=recipe.sequences, unit="seq", desc="render")):
                rgb[j * recipe.frames : (j + 1) * recipe.frames] = r
                depth[j * recipe.frames : (j + 1) * recipe.frames] = d
                meta["sequences"].append(settings)
        rgb.flush()
        depth.flush()
        del rgb, depth
    with atomic_write(folder / META) as tmp:
        tmp.write_text(json.dumps(meta, indent=1, default=list))
    return folder


def is_rendered(folder: Path, recipe: SynthRecipe) -> bool:
    """True when `folder` already holds the set `recipe` describes."""
    try:
        meta = json.loads((Path(folder) / META).read_text())
    except (OSError, ValueError):
        return False
    stored = {"version": 1, **meta.get("recipe", {})}  # sets rendered before versions were recorded are version 1
    return stored == recipe.__dict__ and all((Path(folder) / f).is_file() for f in (RGB, DEPTH))


class FrameSet:
    """Rendered frames and depth, memory-mapped (several trainings share the page cache)."""

    def __init__(self, folder: str | Path, indices: np.ndarray | None = None) -> None:
        folder = Path(folder)
        self.rgb = np.load(folder / RGB, mmap_mode="r")
        self.depth = np.load(folder / DEPTH, mmap_mode="r")
        self.indices = np.arange(len(self.rgb)) if indices is None else np.asarray(indices)

    def __len__(self) -> int:
        return len(self.indices)

    def batch(self, picks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """uint8 RGB (B, H, W, 3) and float32 depth (B, H, W) of positions `picks`."""
        idx = np.sort(self.indices[picks])
        return np.asarray(self.rgb[idx]), np.asarray(self.depth[idx], dtype=np.float32)


class FrameSets:
    """Several `FrameSet`s of one frame size read as one (e.g. generator versions 1 and 2 mixed)."""

    def __init__(self, sets: list[FrameSet]) -> None:
        self.sets = list(sets)
        self.starts = np.cumsum([0] + [len(s) for s in self.sets])

    def __len__(self) -> int:
        return int(self.starts[-1])

    def batch(self, picks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """uint8 RGB (B, H, W, 3) and float32 depth (B, H, W) of positions `picks` over all the sets."""
        picks = np.asarray(picks)
        which = np.searchsorted(self.starts, picks, side="right") - 1
        parts = [s.batch(picks[which == k] - self.starts[k]) for k, s in enumerate(self.sets) if (which == k).any()]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def split_by_sequence(n_frames: int, frames_per_sequence: int, val_sequences: int) -> tuple[np.ndarray, np.ndarray]:
    """Frame indices for training and validation; the last `val_sequences` scenes are held for validation."""
    cut = n_frames - val_sequences * frames_per_sequence
    return np.arange(cut), np.arange(cut, n_frames)


def default_workers() -> int:
    """Rendering processes: the CPU cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


STYLES = ("standard", "heldout")


def render_heldout_scared(
    root: str | Path, seeds: dict[str, int], frames: int, width: int = 1280, height: int = 1024,
    style: str = "standard", instruments: dict[str, int] | None = None,
) -> Path:
    """A SCARED-format evaluation set: keyframe folder name -> held-out seed (settings drawn from it).

    style "standard" draws the training sampler's settings (version 1); "heldout" the held-out
    look of `synth.heldout_style`, with `instruments[name]` instrument shafts in a keyframe.
    """
    from endodepth.io.scared import write_keyframe
    from endodepth.synth import is_heldout, random_settings, render_sequence
    from endodepth.synth.heldout_style import heldout_style_settings

    if style not in STYLES:
        raise ValueError(f"unknown style {style!r}; choose from {', '.join(STYLES)}")
    root = Path(root)
    for name, seed in seeds.items():
        if not is_heldout(seed):
            raise ValueError(f"seed {seed} is a training seed; held-out seeds start at 1_000_000")
        rng = np.random.default_rng(seed)
        tools = (instruments or {}).get(name, 0)
        settings = random_settings(rng) if style == "standard" else heldout_style_settings(rng, tools)
        seq = render_sequence(frames, width, height, seed, settings=settings, stereo=True)
        write_keyframe(
            root / name, seq.rgb, seq.right_rgb, seq.xyz, seq.right_xyz, seq.poses, seq.calibration(), seq.fps
        )
    return root
