"""Training data: synthetic sequences rendered once to disk, then read as memory-mapped arrays.

A training set is a folder with `rgb.npy` (N, H, W, 3) uint8, `depth.npy` (N, H, W) float16 mm
(NaN unknown) and `meta.json` (seeds and settings of every sequence). Sequence `j` uses seed
`first_seed + j` and `random_settings(default_rng(seed))` with the camera moving `spread` times
faster than the generator's default, so the few frames kept per scene see different views. A
recipe with `domains` draws sequence `j` from domain `domains[j % len(domains)]`
(`synth.domains`), so every domain is in the training and the held-back scenes alike, and
`FrameSet.domains_of` gives each frame's domain.
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
    domains: tuple[str, ...] = ()  # synth.domains names drawn in turn; empty: random_settings' scenes

    def seeds(self) -> range:
        return range(self.first_seed, self.first_seed + self.sequences)

    def domain_of(self, seed: int) -> str | None:
        """The domain of sequence `seed` (None without domains)."""
        return self.domains[(seed - self.first_seed) % len(self.domains)] if self.domains else None


def render_one(recipe: SynthRecipe, seed: int) -> tuple[np.ndarray, np.ndarray, dict]:
    """Frames (F, H, W, 3) uint8, depth (F, H, W) float16 and settings of training sequence `seed`."""
    import torch

    from endodepth.synth import is_heldout

    if is_heldout(seed):
        raise ValueError(f"seed {seed} is reserved for held-out evaluation")
    torch.set_num_threads(1)
    domain = recipe.domain_of(seed)
    rgb, depth, settings = render_domain_sequence(seed, recipe.frames, recipe.width, recipe.height, domain,
                                                  recipe.spread, recipe.version)
    return rgb, depth.astype(np.float16), {"seed": seed, "domain": domain, **settings.as_dict()}


def render_domain_sequence(
    seed: int, frames: int, width: int, height: int, domain: str | None = None, spread: float = 1.0, version: int = 1
):
    """Frames, depth (float32 mm) and settings of sequence `seed`: drawn by `random_settings`, or by
    `synth.domains.domain_settings` for a domain; the camera moves `spread` times faster."""
    from endodepth.synth import random_settings, render_sequence
    from endodepth.synth.domains import domain_settings

    rng = np.random.default_rng(seed)
    settings = random_settings(rng, version=version) if domain is None else domain_settings(domain, rng, version)
    settings = settings.replace(speed=settings.speed * spread)
    seq = render_sequence(frames, width, height, seed, settings=settings)
    return seq.rgb, seq.depth, settings


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
    # sets rendered before versions (domains) were recorded are version 1 (without domains)
    stored = {"version": 1, "domains": [], **meta.get("recipe", {})}
    return stored == json.loads(json.dumps(recipe.__dict__)) and all((Path(folder) / f).is_file() for f in (RGB, DEPTH))


class FrameSet:
    """Rendered frames and depth, memory-mapped (several trainings share the page cache)."""

    def __init__(self, folder: str | Path, indices: np.ndarray | None = None) -> None:
        folder = Path(folder)
        self.rgb = np.load(folder / RGB, mmap_mode="r")
        self.depth = np.load(folder / DEPTH, mmap_mode="r")
        self.indices = np.arange(len(self.rgb)) if indices is None else np.asarray(indices)
        meta = json.loads((folder / META).read_text()) if (folder / META).is_file() else {}
        sequences = meta.get("sequences", [])
        self.frame_domains: list[str | None] = []  # per stored frame, from its sequence's settings
        if sequences:
            per_frame = len(self.rgb) // len(sequences)
            self.frame_domains = [sequences[i // per_frame].get("domain") for i in range(len(self.rgb))]

    def __len__(self) -> int:
        return len(self.indices)

    def batch(self, picks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """uint8 RGB (B, H, W, 3) and float32 depth (B, H, W) of positions `picks`."""
        idx = np.sort(self.indices[picks])
        return np.asarray(self.rgb[idx]), np.asarray(self.depth[idx], dtype=np.float32)

    def domains_of(self, picks: np.ndarray) -> list[str | None]:
        """The domain of each frame `batch(picks)` returns, in its order (None where the set has none)."""
        if not self.frame_domains:
            return [None] * len(picks)
        return [self.frame_domains[i] for i in np.sort(self.indices[picks])]


class FrameSets:
    """Several `FrameSet`s of one frame size read as one (e.g. generator versions 1 and 2 mixed)."""

    def __init__(self, sets: list[FrameSet]) -> None:
        self.sets = list(sets)
        self.starts = np.cumsum([0] + [len(s) for s in self.sets])

    def __len__(self) -> int:
        return int(self.starts[-1])

    def _by_set(self, picks: np.ndarray) -> list[tuple[FrameSet, np.ndarray]]:
        """Each set holding some of the positions `picks`, with its own positions of them, in set order."""
        picks = np.asarray(picks)
        which = np.searchsorted(self.starts, picks, side="right") - 1
        return [(s, picks[which == k] - self.starts[k]) for k, s in enumerate(self.sets) if (which == k).any()]

    def batch(self, picks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """uint8 RGB (B, H, W, 3) and float32 depth (B, H, W) of positions `picks` over all the sets."""
        parts = [s.batch(own) for s, own in self._by_set(picks)]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def domains_of(self, picks: np.ndarray) -> list[str | None]:
        """The domain of each frame `batch(picks)` returns, in its order."""
        return [d for s, own in self._by_set(picks) for d in s.domains_of(own)]


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
