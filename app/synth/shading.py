"""Light transport at the hit points and the sensor that turns radiance into 8-bit RGB.

The light sits at the camera centre: irradiance falls off with the inverse square of the
distance and with the angle to the optical axis (a spot), times the Lambertian cosine.
Wet tissue adds a Blinn-Phong highlight; with a co-located light the half vector is the
direction to the light, so highlights sit where the surface faces the camera.
"""

from __future__ import annotations

import cv2
import numpy as np

from endodepth.synth.texture import BLOTCH, BUMP_S, BUMP_T, DEEP_VESSEL, MOTTLE, VESSEL, WETNESS

# irradiance 1 at this distance straight ahead: keeps radiance values near 1 at working distance
REFERENCE_MM = 50.0
# red light scatters further under the surface: softer terminator in red ("wrap" lighting)
WRAP = np.array([0.25, 0.08, 0.05], np.float32)


def norm(v: np.ndarray) -> np.ndarray:
    """Row norms of (n, 3) vectors; plain numpy, because BLAS-backed calls thrash on a busy machine."""
    return np.sqrt(np.sum(v * v, axis=1))


def albedo(fields: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Linear RGB albedo (n, 3) from texture fields (n, C) and tissue rows (n, PARAMS)."""
    base, alt, vessel, deep_tint = rows[:, 0:3], rows[:, 3:6], rows[:, 6:9], rows[:, 9:12]
    mottle, vessel_strength, deep_strength = rows[:, 12:13], rows[:, 13:14], rows[:, 14:15]
    w = 0.5 + 0.5 * np.tanh(1.2 * fields[:, BLOTCH:BLOTCH + 1])
    colour = base + (alt - base) * w
    colour *= np.clip(1 + mottle * fields[:, MOTTLE:MOTTLE + 1], 0.5, 1.5)
    v = np.clip(vessel_strength * fields[:, VESSEL:VESSEL + 1], 0, 1)
    colour += (vessel - colour) * v
    colour *= 1 - np.clip(deep_strength * fields[:, DEEP_VESSEL:DEEP_VESSEL + 1], 0, 1) * (1 - deep_tint)
    return colour


def radiance(normal: np.ndarray, tangent: np.ndarray, to_light: np.ndarray, distance: np.ndarray,
             cos_axis: np.ndarray, fields: np.ndarray, rows: np.ndarray, spot_exponent: float) -> np.ndarray:
    """Linear RGB (n, 3) reflected towards the camera by hit points lit from the camera centre.

    normal: interpolated surface normals (any orientation); to_light: unit vectors from the point
    to the camera; distance: mm to the light; cos_axis: cosine of the angle to the optical axis.
    """
    n = normal * np.sign(np.sum(normal * to_light, axis=1, keepdims=True) + 1e-12)
    t = tangent - n * np.sum(tangent * n, axis=1, keepdims=True)
    t /= norm(t)[:, None] + 1e-12
    b = np.cross(n, t)
    n = n - fields[:, BUMP_S:BUMP_S + 1] * t - fields[:, BUMP_T:BUMP_T + 1] * b
    n /= norm(n)[:, None]
    ndl = np.sum(n * to_light, axis=1, keepdims=True)
    irradiance = (REFERENCE_MM / distance) ** 2 * cos_axis**spot_exponent
    diffuse = np.clip((ndl + WRAP) / (1 + WRAP), 0, None)
    ks, p = rows[:, 15:16], rows[:, 16:17]
    wet = 0.25 + 0.75 * fields[:, WETNESS:WETNESS + 1]
    specular = ks * wet * (p + 8) / (8 * np.pi) * np.clip(ndl, 0, 1) ** p
    return irradiance[:, None] * (albedo(fields, rows) * diffuse + specular)


def auto_exposure(radiance_image: np.ndarray, valid: np.ndarray, target: float) -> float:
    """Gain that brings the 95th percentile of the brightest channel inside `valid` to `target`.

    Metering on the brightest channel (red, for tissue) keeps the red channel out of clipping.
    """
    peak = radiance_image[valid].max(axis=1)
    level = float(np.percentile(peak, 95)) if peak.size else 0.0
    return target / level if level > 1e-6 else 1.0


def develop(linear: np.ndarray, gain: float, rng: np.random.Generator, *, vignetting: float,
            shot_noise: float, read_noise: float, saturation: float, gamma: float, blur: float,
            white_balance: tuple[float, float, float], fov_coverage: np.ndarray | None) -> np.ndarray:
    """Sensor and processing: gain, vignetting, shot/read noise, saturation, soft clip, gamma, blur -> uint8."""
    h, w = linear.shape[:2]
    u, v = np.meshgrid(np.linspace(-1, 1, w, dtype=np.float32), np.linspace(-h / w, h / w, h, dtype=np.float32))
    vignette = 1 - vignetting * np.clip(u**2 + v**2, 0, 2) / 2
    x = linear * (gain * vignette)[..., None] * np.asarray(white_balance, np.float32)
    x = x + np.sqrt(shot_noise * np.clip(x, 0, None) + read_noise**2) * rng.standard_normal(x.shape, np.float32)
    lum = x.mean(axis=2, keepdims=True)
    x = np.clip(lum + saturation * (x - lum), 0, None)
    knee = 0.75
    x = np.where(x < knee, x, knee + (1 - knee) * np.tanh((x - knee) / (1 - knee)))
    # half per-channel gamma, half gamma of the brightest channel applied to all three (which keeps
    # the hue and saturation of dark tissue, as endoscope processing does)
    peak = np.maximum(x.max(axis=2, keepdims=True), 1e-6)
    y = np.clip(0.5 * x ** (1 / gamma) + 0.5 * x * (peak ** (1 / gamma) / peak), 0, 1)
    if blur > 0:
        y = cv2.GaussianBlur(y, (0, 0), blur * w / 320)
    if fov_coverage is not None:
        y = y * fov_coverage[..., None]
    return np.round(y * 255).astype(np.uint8)
