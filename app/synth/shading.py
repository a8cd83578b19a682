"""Light transport at the hit points and the sensor that turns radiance into 8-bit RGB.

The light sits at the camera centre: irradiance falls off with the inverse square of the
distance and with the angle to the optical axis (a spot), times the Lambertian cosine.
Wet tissue adds a Blinn-Phong highlight; with a co-located light the half vector is the
direction to the light, so highlights sit where the surface faces the camera.
"""

from __future__ import annotations

import cv2
import numpy as np

from endodepth.synth.texture import BLOTCH, BUMP_S, BUMP_T, DEEP_VESSEL, MOTTLE, PALE, VESSEL, WETNESS

# irradiance 1 at this distance straight ahead: keeps radiance values near 1 at working distance
REFERENCE_MM = 50.0
# paler, less saturated patches (thin tissue over fibrous layers): relative gain per channel
PALE_TINT = np.array([0.15, 0.35, 0.35], np.float32)
# share of the bump relief that the (film-covered) specular surface follows
SPECULAR_BUMP = 0.5
# red light scatters further under the surface: softer terminator in red ("wrap" lighting)
WRAP = np.array([0.25, 0.08, 0.05], np.float32)


def dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise dot products of (n, 3) vectors, written out: numpy reductions over 3 are slow, and
    BLAS-backed products thrash on a busy machine."""
    return a[:, 0] * b[:, 0] + a[:, 1] * b[:, 1] + a[:, 2] * b[:, 2]


def norm(v: np.ndarray) -> np.ndarray:
    """Row norms of (n, 3) vectors."""
    return np.sqrt(dot(v, v))


def albedo(fields: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Linear RGB albedo (n, 3) from texture fields (n, C) and tissue rows (n, PARAMS)."""
    base, alt, vessel, deep_tint = rows[:, 0:3], rows[:, 3:6], rows[:, 6:9], rows[:, 9:12]
    mottle, vessel_strength, deep_strength = rows[:, 12:13], rows[:, 13:14], rows[:, 14:15]
    w = 0.5 + 0.5 * np.tanh(0.7 * fields[:, BLOTCH:BLOTCH + 1])
    colour = base + (alt - base) * w
    colour *= np.clip(1 + mottle * fields[:, MOTTLE:MOTTLE + 1], 0.5, 1.5)
    colour *= 1 + PALE_TINT * np.minimum(fields[:, PALE:PALE + 1], 1)
    v = np.clip(vessel_strength * fields[:, VESSEL:VESSEL + 1], 0, 1)
    colour += (vessel - colour) * v
    colour *= 1 - np.clip(deep_strength * fields[:, DEEP_VESSEL:DEEP_VESSEL + 1], 0, 1) * (1 - deep_tint)
    return colour


def radiance(normal: np.ndarray, tangent: np.ndarray, to_light: np.ndarray, distance: np.ndarray,
             cos_axis: np.ndarray, fields: np.ndarray, rows: np.ndarray, spot_exponent: float,
             falloff: float = 2.0) -> np.ndarray:
    """Linear RGB (n, 3) reflected towards the camera by hit points lit from the camera centre.

    normal: interpolated surface normals (any orientation); to_light: unit vectors from the point
    to the camera; distance: mm to the light; cos_axis: cosine of the angle to the optical axis;
    irradiance falls off as distance^-falloff.
    """
    facing = dot(normal, to_light)
    n = normal * np.sign(facing + 1e-12)[:, None]
    t = tangent - n * dot(tangent, n)[:, None]
    t /= norm(t)[:, None] + 1e-12
    b = np.cross(n, t)
    # bumped normal n - k g with g = slope_s t + slope_t b in the tangent plane, so |n - k g|^2 = 1 + k^2 |g|^2;
    # the liquid film smooths the micro relief: highlights see a fraction of the bumps (k = SPECULAR_BUMP)
    slope_s, slope_t = fields[:, BUMP_S], fields[:, BUMP_T]
    g_dot_l = slope_s * dot(t, to_light) + slope_t * dot(b, to_light)
    g2 = slope_s**2 + slope_t**2
    c = np.abs(facing)
    ndl = ((c - g_dot_l) / np.sqrt(1 + g2))[:, None]
    ndl_spec = np.clip((c - SPECULAR_BUMP * g_dot_l) / np.sqrt(1 + SPECULAR_BUMP**2 * g2), 0, 1)[:, None]
    irradiance = (REFERENCE_MM / distance) ** falloff * np.maximum(cos_axis, 0) ** spot_exponent
    diffuse = np.maximum((ndl + WRAP) / (1 + WRAP), 0)
    ks, p = rows[:, 15:16], rows[:, 16:17]
    wet = 0.4 + 0.6 * fields[:, WETNESS:WETNESS + 1]
    specular = ks * wet * (p + 8) / (8 * np.pi) * np.exp(p * np.log(ndl_spec + 1e-30))  # (x**p is slow)
    return irradiance[:, None] * (albedo(fields, rows) * diffuse + specular)


def auto_exposure(radiance_image: np.ndarray, valid: np.ndarray, target: float) -> float:
    """Gain that brings the 95th percentile of the brightest channel inside `valid` to `target`.

    Metering on the brightest channel (red, for tissue) keeps the red channel out of clipping.
    """
    rgb = radiance_image[valid][::3]  # a third of the pixels is plenty for a percentile
    peak = np.maximum(np.maximum(rgb[:, 0], rgb[:, 1]), rgb[:, 2])
    level = float(np.percentile(peak, 95)) if peak.size else 0.0
    return target / level if level > 1e-6 else 1.0


def vignette(width: int, height: int, strength: float) -> np.ndarray:
    """(H, W) radial fall-off of the optics, 1 at the centre."""
    u, v = np.meshgrid(np.linspace(-1, 1, width, dtype=np.float32),
                       np.linspace(-height / width, height / width, height, dtype=np.float32))
    return 1 - strength * np.clip(u**2 + v**2, 0, 2) / 2


def develop(linear: np.ndarray, gain: np.ndarray, rng: np.random.Generator, *, shot_noise: float,
            read_noise: float, saturation: float, gamma: float, blur: float,
            white_balance: tuple[float, float, float], coverage: np.ndarray | None = None) -> np.ndarray:
    """Sensor and processing: gain (H, W), shot/read noise, saturation, soft clip, gamma, blur,
    then black outside the field of view (`coverage` 0) -> uint8."""
    x = linear * gain[..., None] * np.asarray(white_balance, np.float32)
    x += np.sqrt(shot_noise * np.maximum(x, 0) + read_noise**2) * rng.standard_normal(x.shape, np.float32)
    lum = ((x[..., 0] + x[..., 1] + x[..., 2]) / 3)[..., None]  # (reductions over an axis of 3 are slow)
    x = np.maximum(lum + saturation * (x - lum), 0)
    knee = 0.75
    over = np.maximum(x - knee, 0)
    x += over / (1 + over / (1 - knee)) - over  # soft shoulder above the knee, approaching 1
    # half per-channel gamma, half gamma of the brightest channel applied to all three (which keeps
    # the hue and saturation of dark tissue, as endoscope processing does)
    peak = np.maximum(np.maximum(np.maximum(x[..., 0], x[..., 1]), x[..., 2]), 1e-6)[..., None]
    y = 0.5 * x ** (1 / gamma) + 0.5 * x * (peak ** (1 / gamma) / peak)
    if blur > 0:
        y = cv2.GaussianBlur(y, (0, 0), blur * y.shape[1] / 320)
    if coverage is not None:
        y *= coverage[..., None]
    return (np.clip(y, 0, 1) * 255 + 0.5).astype(np.uint8)
