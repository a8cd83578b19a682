"""Seeded smooth random signals: periodic 2D noise for textures and heights, 1D curves for motion."""

from __future__ import annotations

import numpy as np


def periodic_noise(rng: np.random.Generator, size: int | tuple[int, int], wavelength: float) -> np.ndarray:
    """Tileable band-limited noise of unit std: white noise low-passed at `wavelength` samples (FFT)."""
    shape = (size, size) if isinstance(size, int) else tuple(size)
    spectrum = np.fft.rfft2(rng.standard_normal(shape))
    fy = np.fft.fftfreq(shape[0])[:, None]
    fx = np.fft.rfftfreq(shape[1])[None, :]
    spectrum *= np.exp(-0.5 * (fx**2 + fy**2) * (wavelength / 2.0) ** 2)
    out = np.fft.irfft2(spectrum, s=shape)
    return ((out - out.mean()) / (out.std() + 1e-12)).astype(np.float32)


def fractal_noise(rng: np.random.Generator, size: int | tuple[int, int], wavelength: float,
                  octaves: int = 3, gain: float = 0.5) -> np.ndarray:
    """Sum of periodic noise octaves (wavelength halving, amplitude times `gain`), unit std."""
    out = sum(gain**o * periodic_noise(rng, size, wavelength / 2**o) for o in range(octaves))
    return (out / out.std()).astype(np.float32)


def smooth_curve(rng: np.random.Generator, n: int, period: float, dims: int = 1) -> np.ndarray:
    """(n, dims) smooth random signal of about unit std whose fastest changes take ~`period` samples."""
    t = np.arange(n, dtype=np.float64)[:, None]
    k = 4
    freq = rng.uniform(0.25, 1.0, (k, dims)) / max(period, 1e-6)
    phase = rng.uniform(0, 2 * np.pi, (k, dims))
    amp = rng.uniform(0.5, 1.0, (k, dims))
    out = (amp[None] * np.sin(2 * np.pi * freq[None] * t[:, :, None] + phase[None])).sum(1)
    return out / np.sqrt((amp**2).sum(0) / 2)
