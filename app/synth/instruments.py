"""Surgical instruments in front of the tissue: metal shafts with two jaws, ray cast analytically.

An instrument is a few capsules (cylinder segments with a rounded tip) in camera coordinates
(x right, y down, z forward, mm). It enters the view from outside the image border, points
inwards and drifts a little from frame to frame. Its depth is exact (the ray parameter of the
hit for rays with z = 1), so where it covers the tissue the ground truth is the instrument's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from endodepth.synth.noise import smooth_curve


@dataclass(frozen=True)
class Capsule:
    """A cylinder of `radius` from `start` along unit `axis` for `length` mm, closed by a sphere at its end."""

    start: np.ndarray
    axis: np.ndarray
    length: float
    radius: float


@dataclass(frozen=True)
class Instrument:
    """A shaft and its jaws (capsules) with a metal finish, and its drift per frame (N, 3) mm."""

    parts: tuple[Capsule, ...]
    albedo: np.ndarray  # linear RGB of the diffuse part
    specular: float
    shininess: float
    drift: np.ndarray


def draw_instruments(rng: np.random.Generator, count: int, frames: int, half_extent: tuple[float, float],
                     working_depth: float) -> list[Instrument]:
    """`count` instruments entering from the image border, at 35-80 % of `working_depth` (mm).

    half_extent: (x, y) of the image corner on the z = 1 plane (half width / fx, half height / fy).
    """
    hx, hy = half_extent
    out = []
    for _ in range(count):
        angle = rng.uniform(0, 2 * np.pi)
        z0 = working_depth * rng.uniform(0.35, 0.8)
        border = 1.3 * np.array([hx * np.cos(angle), hy * np.sin(angle)])
        start = np.array([*(border * z0), z0])
        z1 = z0 + working_depth * rng.uniform(-0.1, 0.3)
        target = np.array([*(rng.uniform(-0.5, 0.5, 2) * (hx, hy) * z1), z1])
        axis = (target - start) / np.linalg.norm(target - start)
        length = float(np.linalg.norm(target - start))
        radius = float(rng.choice([2.5, 2.5, 2.5, 4.0]) * rng.uniform(0.9, 1.1))
        tip = start + length * axis
        parts = [Capsule(start, axis, length, radius)]
        jaw_length = radius * rng.uniform(1.5, 3.5)
        opening = rng.uniform(0.05, 0.5)
        side = np.cross(axis, rng.normal(size=3))
        side /= np.linalg.norm(side)
        for sign in (-1.0, 1.0):
            jaw_axis = axis * np.cos(opening) + sign * side * np.sin(opening)
            parts.append(Capsule(tip, jaw_axis / np.linalg.norm(jaw_axis), jaw_length, 0.45 * radius))
        grey = float(np.exp(rng.uniform(np.log(0.02), np.log(0.3))))
        albedo = grey * np.exp(rng.normal(0, 0.06, 3))
        drift = 1.5 * smooth_curve(rng, frames, 30, dims=3)
        out.append(Instrument(tuple(parts), albedo.astype(np.float32), float(rng.uniform(0.5, 3.0)),
                              float(np.exp(rng.uniform(np.log(15), np.log(120)))), drift))
    return out


def cast(instrument: Instrument, rays: np.ndarray, frame: int, shift: np.ndarray | None = None
         ) -> tuple[np.ndarray, np.ndarray]:
    """Depth (n,) (inf where missed) and unit normals (n, 3) of `instrument` at `frame` for camera rays
    (n, 3) with z = 1; `shift` (3,) moves it into another camera (e.g. minus the stereo baseline)."""
    offset = instrument.drift[frame] + (0 if shift is None else shift)
    best = np.full(len(rays), np.inf)
    normal = np.zeros((len(rays), 3))
    for part in instrument.parts:
        t, n = _capsule_hits(part, rays, offset)
        nearer = t < best
        best[nearer] = t[nearer]
        normal[nearer] = n[nearer]
    return best, normal


def _capsule_hits(c: Capsule, rays: np.ndarray, offset: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest positive ray parameter (inf: miss) and the normal there, cylinder first, then the tip sphere."""
    start = c.start + offset
    a = c.axis
    w = rays - (rays @ a)[:, None] * a  # ray direction across the axis
    v = -(start - (start @ a) * a)  # the start across the axis, negated
    qa = np.einsum("ij,ij->i", w, w)
    qb = 2 * (w @ v)
    qc = v @ v - c.radius**2
    disc = qb**2 - 4 * qa * qc
    t = np.where(disc >= 0, (-qb - np.sqrt(np.maximum(disc, 0))) / (2 * np.maximum(qa, 1e-12)), -1.0)
    points = t[:, None] * rays
    along = (points - start) @ a
    t = np.where((t > 0) & (along >= 0) & (along <= c.length), t, np.inf)
    normal = (points - start - along[:, None] * a) / c.radius
    tip = start + c.length * a
    b = rays @ tip
    rr = np.einsum("ij,ij->i", rays, rays)
    sd = b**2 - rr * (tip @ tip - c.radius**2)
    ts = np.where(sd >= 0, (b - np.sqrt(np.maximum(sd, 0))) / rr, np.inf)
    ts = np.where(ts > 0, ts, np.inf)
    sphere = ts < t
    t = np.where(sphere, ts, t)
    normal[sphere] = (ts[sphere, None] * rays[sphere] - tip) / c.radius
    return t, normal


def shade(instrument: Instrument, rays: np.ndarray, depth: np.ndarray, normal: np.ndarray,
          lights: np.ndarray, falloff: float, reference_mm: float) -> np.ndarray:
    """Linear RGB (n, 3) of instrument hits: dim diffuse metal plus a strong Blinn-Phong highlight,
    lit by `lights` (k, 3) camera-frame light positions, irradiance ~ distance^-falloff."""
    points = depth[:, None] * rays
    to_eye = -points / np.linalg.norm(points, axis=1, keepdims=True)
    out = np.zeros_like(points)
    for light in lights:
        to_light = light - points
        dist = np.linalg.norm(to_light, axis=1, keepdims=True)
        to_light = to_light / dist
        n = normal * np.sign(np.einsum("ij,ij->i", normal, to_eye))[:, None]
        ndl = np.clip(np.einsum("ij,ij->i", n, to_light), 0, 1)[:, None]
        half = to_light + to_eye
        half /= np.linalg.norm(half, axis=1, keepdims=True) + 1e-12
        ndh = np.clip(np.einsum("ij,ij->i", n, half), 0, 1)[:, None]
        p = instrument.shininess
        spec = instrument.specular * (p + 8) / (8 * np.pi) * ndh**p
        out += (reference_mm / dist) ** falloff * (instrument.albedo * ndl + spec)
    return (out / len(lights)).astype(np.float32)
