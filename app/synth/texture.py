"""Procedural tissue texture: tileable fields (blotches, mottling, vessels, wetness, bumps, pale patches).

The fields live in surface coordinates (s, t) in millimetres, so the pattern moves with the
surface. Colour is applied later per tissue type (see `palettes`), so one texture serves
every object of a scene. Sampling is trilinear over a mip pyramid so far surfaces do not alias.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from endodepth.synth.noise import fractal_noise, periodic_noise

# channel order of the texture fields
BLOTCH, MOTTLE, VESSEL, DEEP_VESSEL, WETNESS, BUMP_S, BUMP_T, PALE = range(8)
CHANNELS = 8


@dataclass
class TissueTexture:
    """A mip pyramid of (N, N, CHANNELS) float32 fields; one texel is `texel_mm` millimetres.

    For sampling, the levels are packed into one atlas, each with a one-texel wrapped border,
    so that a pixel's two levels are two remaps over all pixels at once.
    """

    levels: list[np.ndarray]
    texel_mm: float
    _atlas: tuple[np.ndarray, np.ndarray] = field(init=False, repr=False)
    _origin: np.ndarray = field(init=False, repr=False)  # (levels, 2) atlas x, y of each level's texel 0
    _size: np.ndarray = field(init=False, repr=False)
    _scale: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        sizes = [lv.shape[0] for lv in self.levels]
        origin = [(1, 1)]
        y = 0
        for size in sizes[1:]:  # level 0 on the left, the smaller ones stacked beside it
            origin.append((sizes[0] + 3, y + 1))
            y += size + 2
        atlas = np.zeros((max(sizes[0] + 2, y), sizes[0] + 2 + (sizes[1] + 2 if len(sizes) > 1 else 0), CHANNELS),
                         np.float32)
        for (x0, y0), lv in zip(origin, self.levels):
            n = lv.shape[0]
            atlas[y0 - 1:y0 + n + 1, x0 - 1:x0 + n + 1] = np.pad(lv, ((1, 1), (1, 1), (0, 0)), mode="wrap")
        # OpenCV remaps at most 4 channels at once: two contiguous 4-channel halves
        self._atlas = (np.ascontiguousarray(atlas[..., :4]), np.ascontiguousarray(atlas[..., 4:]))
        self._origin = np.array(origin, np.float32)
        self._size = np.array(sizes, np.float32)
        self._scale = 0.5 ** np.arange(len(sizes), dtype=np.float32)

    def sample(self, st_mm: np.ndarray, footprint_mm: np.ndarray) -> np.ndarray:
        """Fields at surface coordinates (n, 2) for pixels covering `footprint_mm` (n,): (n, CHANNELS)."""
        lod = np.log2(np.maximum(footprint_mm / self.texel_mm, 1.0))
        lod = np.minimum(lod, len(self.levels) - 1.001).astype(np.float32)
        lo = lod.astype(np.int32)
        uv0 = st_mm.astype(np.float32) * np.float32(1 / self.texel_mm)
        a = self._lookup(uv0, lo)
        b = self._lookup(uv0, lo + 1)
        return a + (b - a) * (lod - lo.astype(np.float32))[:, None]

    def _lookup(self, uv0: np.ndarray, level: np.ndarray) -> np.ndarray:
        """Bilinear, wrapped lookup of each pixel's `level` at level-0 texel coordinates uv0 (n, 2)."""
        scale = np.take(self._scale, level)[:, None]
        size = np.take(self._size, level)[:, None]
        # texel centres of level l sit at (i + 0.5) 2^l - 0.5 in level-0 texels
        uv = uv0 * scale - (0.5 - 0.5 * scale)
        uv -= np.floor(uv / size) * size  # wrap (faster than np.mod)
        uv += np.take(self._origin, level, axis=0)
        k = len(uv)
        cols = 256  # remap wants 2D maps shorter than 32767
        rows = -(-k // cols)
        maps = np.zeros((rows * cols, 2), np.float32)
        maps[:k] = uv
        maps = maps.reshape(rows, cols, 2)
        out = np.empty((rows * cols, CHANNELS), np.float32)
        for half, quad in enumerate(self._atlas):
            out[:, 4 * half:4 * half + 4] = cv2.remap(quad, maps, None, cv2.INTER_LINEAR).reshape(-1, 4)
        return out[:k]


def make_texture(rng: np.random.Generator, size: int = 512, texel_mm: float = 0.2,
                 vessel_density: float = 1.0, bumpiness: float = 1.0, fine: float = 0.0) -> TissueTexture:
    """Draw a new texture: blotches (~20 mm), mottling (~2 mm), branching vessels, wet patches, bumps;
    with `fine` > 0 also sub-millimetre speckle (pores, wet glints) in the mottling and the relief."""
    fields = np.zeros((size, size, CHANNELS), np.float32)
    mm = 1.0 / texel_mm
    fields[..., BLOTCH] = fractal_noise(rng, size, 30 * mm, octaves=2, gain=0.4)
    fields[..., MOTTLE] = fractal_noise(rng, size, 2.5 * mm, octaves=2)
    # softened by half a texel so magnified close-ups show smooth vessels, not texel steps
    vessels = _vessels(rng, size, int(30 * vessel_density), width_px=(0.35 * mm, 0.08 * mm))
    fields[..., VESSEL] = _blur_wrap(vessels, 0.6)
    fields[..., DEEP_VESSEL] = _blur_wrap(
        _vessels(rng, size, int(12 * vessel_density), width_px=(1.2 * mm, 0.4 * mm)), 0.6 * mm)
    fields[..., WETNESS] = 0.5 + 0.5 * np.tanh(1.5 * periodic_noise(rng, size, 8 * mm))
    fields[..., PALE] = np.clip(periodic_noise(rng, size, 40 * mm) - 0.5, 0, None)
    height = bumpiness * (0.35 * fractal_noise(rng, size, 1.2 * mm, octaves=2)
                          + 0.4 * fields[..., VESSEL] + 0.5 * fractal_noise(rng, size, 6 * mm, octaves=2))
    if fine > 0:  # drawn last, so textures without it are unchanged
        speckle = fractal_noise(rng, size, 0.6 * mm, octaves=2)
        fields[..., MOTTLE] += 1.5 * fine * speckle
        height += 0.15 * fine * speckle
    # height in texel units of ~0.05 mm; slopes per mm along s and t (periodic differences)
    slope_scale = 0.05 * mm
    fields[..., BUMP_S] = slope_scale * (np.roll(height, -1, 1) - np.roll(height, 1, 1)) / 2
    fields[..., BUMP_T] = slope_scale * (np.roll(height, -1, 0) - np.roll(height, 1, 0)) / 2
    levels = [fields]
    while levels[-1].shape[0] > 32:
        levels.append(_downsample(levels[-1]))
    return TissueTexture(levels, texel_mm)


def _downsample(field: np.ndarray) -> np.ndarray:
    """Half resolution by 2x2 averaging (keeps the field tileable)."""
    n = field.shape[0] // 2
    return field.reshape(n, 2, n, 2, -1).mean(axis=(1, 3)).astype(np.float32)


def _vessels(rng: np.random.Generator, size: int, count: int, width_px: tuple[float, float]) -> np.ndarray:
    """Tileable branching vessel trees: random walks that thin out and fork, drawn anti-aliased."""
    pad = size // 2
    canvas = np.zeros((size + 2 * pad, size + 2 * pad), np.float32)
    step = max(1.5, width_px[0])
    stack = [(rng.uniform(0, size, 2), rng.uniform(0, 2 * np.pi), width_px[0] * rng.uniform(0.6, 1.4),
              int(rng.integers(60, 160))) for _ in range(count)]
    while stack:
        start, angle, width, steps = stack.pop()
        angles = angle + np.cumsum(rng.normal(0, 0.18, steps))
        points = start + np.cumsum(step * np.column_stack([np.cos(angles), np.sin(angles)]), axis=0)
        outside = np.nonzero((points < -pad + 2).any(1) | (points > size + pad - 2).any(1))[0]
        end = outside[0] if len(outside) else steps
        forks = np.nonzero(rng.random(end) < 0.035)[0]
        widths = np.maximum(width_px[1], width * 0.992 ** np.arange(end))
        widths *= 0.85 ** np.searchsorted(forks, np.arange(end), side="right")
        widths = np.maximum(widths, width_px[1])
        for k in forks:
            if widths[k] > 1.2 * width_px[1]:
                side = rng.choice([-1.0, 1.0])
                stack.append((points[k], angles[k] + side * rng.uniform(0.4, 1.1), widths[k] * 0.7, int(steps * 0.6)))
        if end:
            _draw_polyline(canvas, np.vstack([start, points[:end]]) + pad, widths)
    folded = np.roll(canvas, (-pad, -pad), axis=(0, 1)).reshape(2, size, 2, size).max(axis=(0, 2))
    return np.clip(folded, 0, 1)


def _draw_polyline(canvas: np.ndarray, points: np.ndarray, widths: np.ndarray) -> None:
    """Anti-aliased polyline whose integer thickness follows `widths` (one per segment)."""
    shift = 4
    fixed = np.round(points * (1 << shift)).astype(np.int32)
    thickness = np.maximum(1, np.round(widths)).astype(int)
    breaks = np.nonzero(np.diff(thickness))[0] + 1
    for lo, hi in zip(np.r_[0, breaks], np.r_[breaks, len(thickness)]):
        cv2.polylines(canvas, [fixed[lo:hi + 1]], False, 1.0, int(thickness[lo]), cv2.LINE_AA, shift)


def _blur_wrap(field: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of a tileable field, wrapping around its edges."""
    pad = int(3 * sigma) + 1
    padded = np.pad(field, pad, mode="wrap")
    return cv2.GaussianBlur(padded, (0, 0), sigma)[pad:-pad, pad:-pad]
