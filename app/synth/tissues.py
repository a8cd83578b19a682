"""Tissue types: linear albedo colours and reflectance, jittered per scene object."""

from __future__ import annotations

from dataclasses import astuple, dataclass

import numpy as np


@dataclass(frozen=True)
class Tissue:
    """Colours are linear albedo (0..1); `alt` is mixed in by the blotch field, vessels darken."""

    base: tuple[float, float, float]
    alt: tuple[float, float, float]
    vessel: tuple[float, float, float]
    deep_tint: tuple[float, float, float]  # multiplicative tint of deep, blurred vessels
    mottle: float  # relative albedo variation of the ~2 mm mottling
    vessel_strength: float
    deep_strength: float
    specular: float
    shininess: float


def _linear(r: int, g: int, b: int) -> tuple[float, float, float]:
    """Linear albedo of an sRGB-like 8-bit colour (gamma 2.2), so presets read as colours."""
    return tuple(round((c / 255) ** 2.2, 4) for c in (r, g, b))


PRESETS: dict[str, Tissue] = {
    "mucosa": Tissue(_linear(215, 110, 95), _linear(230, 135, 110), _linear(120, 20, 25), (0.85, 0.60, 0.75),
                     0.10, 0.75, 0.35, 0.6, 60.0),
    "mucosa_pale": Tissue(_linear(225, 150, 135), _linear(210, 115, 100), _linear(140, 30, 35),
                          (0.85, 0.65, 0.75), 0.08, 0.85, 0.45, 0.5, 50.0),
    "mucosa_red": Tissue(_linear(190, 60, 50), _linear(210, 90, 70), _linear(100, 10, 15), (0.80, 0.55, 0.60),
                         0.12, 0.60, 0.30, 0.7, 70.0),
    "peritoneum": Tissue(_linear(215, 120, 110), _linear(185, 80, 70), _linear(130, 25, 30), (0.80, 0.60, 0.72),
                         0.08, 0.70, 0.40, 0.5, 50.0),
    "liver": Tissue(_linear(115, 35, 38), _linear(135, 45, 42), _linear(80, 12, 15), (0.90, 0.80, 0.85),
                    0.15, 0.20, 0.10, 0.9, 90.0),
    "fat": Tissue(_linear(238, 190, 120), _linear(242, 210, 155), _linear(170, 40, 45), (0.80, 0.70, 0.90),
                  0.06, 0.60, 0.55, 0.7, 70.0),
    "bowel": Tissue(_linear(225, 150, 130), _linear(235, 175, 140), _linear(150, 30, 35), (0.75, 0.55, 0.75),
                    0.08, 0.65, 0.50, 0.6, 60.0),
    # palettes only the held-out rendering style uses (synth.heldout_style); training never draws them
    "heldout_serosa": Tissue(_linear(200, 150, 150), _linear(175, 120, 125), _linear(110, 35, 45),
                             (0.85, 0.70, 0.80), 0.10, 0.60, 0.35, 0.5, 40.0),
    "heldout_spleen": Tissue(_linear(120, 45, 75), _linear(140, 60, 90), _linear(70, 15, 35), (0.90, 0.75, 0.90),
                             0.12, 0.30, 0.20, 0.8, 100.0),
    "heldout_omentum": Tissue(_linear(235, 225, 170), _linear(220, 200, 140), _linear(160, 50, 50),
                              (0.85, 0.75, 0.85), 0.08, 0.55, 0.40, 0.6, 50.0),
    "heldout_stomach": Tissue(_linear(235, 125, 80), _linear(220, 100, 70), _linear(130, 30, 25),
                              (0.80, 0.60, 0.65), 0.10, 0.70, 0.40, 0.7, 80.0),
}

PARAMS = 3 * 4 + 5  # floats per tissue row


def tissue_row(name: str, rng: np.random.Generator, jitter: float) -> np.ndarray:
    """One tissue as a flat float32 row, its colours and strengths varied by about `jitter`."""
    t = PRESETS[name]
    row = np.concatenate([np.ravel(v) for v in astuple(t)]).astype(np.float64)
    colours = row[:12].reshape(4, 3)
    colours *= np.exp(rng.normal(0, jitter, (1, 3)) * 0.7 + rng.normal(0, jitter * 0.5, (4, 3)))
    row[:12] = np.clip(colours, 0.005, 0.98).ravel()
    row[12:15] *= np.exp(rng.normal(0, jitter, 3))
    return row.astype(np.float32)
