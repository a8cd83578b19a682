"""Scenes: tissue geometry, its tissue table and texture, and a smooth camera path through it.

- tube: a colon-like lumen (bending centre line, haustral folds, triangular cross-section);
  the camera travels inside it, swaying towards the walls.
- surface: folded tissue (a height field with ridges, creases and bulges, rising at the
  edges like a cavity) with organ loops lying on it; the camera hovers over it at 30-150 mm,
  head-on to oblique.
World frame: millimetres, z up for the surface scene.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from endodepth.synth.camera import look_at
from endodepth.synth.geometry import Mesh, grid_mesh, merge, transport_frames, tube_points
from endodepth.synth.noise import fractal_noise, smooth_curve
from endodepth.synth.settings import SynthSettings
from endodepth.synth.texture import TissueTexture, make_texture
from endodepth.synth.tissues import tissue_row

TEXTURE_SIZE = 512
TEXEL_MM = 0.25


@dataclass
class Scene:
    """Geometry + appearance + camera path (camera-to-world 4x4 per frame) of one sequence."""

    mesh: Mesh
    tissues: np.ndarray  # (T, PARAMS) float32 rows, indexed by mesh.tissue
    texture: TissueTexture
    camera_to_world: np.ndarray  # (N, 4, 4)


def build_scene(rng: np.random.Generator, settings: SynthSettings, frames: int) -> Scene:
    """The scene named by `settings.scene`, drawn from `rng`."""
    builders = {"tube": _tube_scene, "surface": _surface_scene}
    if settings.scene not in builders:
        raise ValueError(f"unknown synthetic scene {settings.scene!r}; choose from {', '.join(builders)}")
    return builders[settings.scene](rng, settings, frames)


DEFAULT_TISSUES = {"tube": ("mucosa",), "surface": ("peritoneum", "fat", "liver", "bowel")}


def _tissue_table(rng: np.random.Generator, settings: SynthSettings, count: int) -> np.ndarray:
    """Jittered tissue rows for `count` objects, cycling through the settings' tissue names."""
    names = settings.tissues or DEFAULT_TISSUES[settings.scene]
    names = [names[i % len(names)] for i in range(count)]
    rows = np.stack([tissue_row(n, rng, settings.tissue_jitter) for n in names])
    rows[:, 15] *= settings.specular
    rows[:, 16] *= settings.shininess / 60.0
    return rows


def _texture(rng: np.random.Generator, settings: SynthSettings, texel_mm: float = TEXEL_MM) -> TissueTexture:
    return make_texture(rng, TEXTURE_SIZE, texel_mm * settings.texture_scale, settings.vessel_density,
                        settings.bumpiness, settings.fine_texture)


# ---------------------------------------------------------------------------------------- tube


def _tube_scene(rng: np.random.Generator, s: SynthSettings, frames: int) -> Scene:
    radius = s.tube_radius
    start = 3.0 * radius
    travel = frames * s.speed * 1.6
    length = start + travel + 300.0
    step = 0.6
    arc = np.arange(0.0, length, step)
    centre = _bent_centre_line(rng, arc, radius, s.bend)
    tangent, normal, binormal = transport_frames(centre)
    theta = np.linspace(0, 2 * np.pi, 192, endpoint=False)
    r = _lumen_radius(rng, arc, theta, s)
    points = tube_points(centre, r, normal, binormal, theta)

    tile = TEXTURE_SIZE * TEXEL_MM
    repeats = max(1, round(2 * np.pi * radius / tile))
    texel = 2 * np.pi * radius / (repeats * TEXTURE_SIZE)
    arc_len = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(centre, axis=0), axis=1))])
    theta_closed = np.append(theta, 2 * np.pi)
    st = np.stack(np.broadcast_arrays(arc_len[:, None], theta_closed[None, :] * radius), -1)
    mesh = grid_mesh(points, st, tissue=0, wrap=True)

    n = frames
    offset_max = radius * (1 - s.fold_depth) * 0.3
    along = start + np.cumsum(np.full(n, s.speed) * (1 + 0.6 * smooth_curve(rng, n, 60)[:, 0]))
    along = np.clip(along - along[0] + start, radius, length - 150.0)
    lateral = offset_max * np.tanh(0.8 * smooth_curve(rng, n, 70, 2))
    sway = np.clip(np.radians(s.look_around) * smooth_curve(rng, n, 80, 2), -1.2, 1.2)
    roll = np.radians(s.roll) * smooth_curve(rng, n, 120)[:, 0]
    poses = np.empty((n, 4, 4))
    for i in range(n):
        c, t, nn, b = (np.array([np.interp(along[i], arc, a[:, k]) for k in range(3)])
                       for a in (centre, tangent, normal, binormal))
        eye = c + lateral[i, 0] * nn + lateral[i, 1] * b
        forward = t + np.tan(sway[i, 0]) * nn + np.tan(sway[i, 1]) * b
        up = np.cos(roll[i]) * nn + np.sin(roll[i]) * b
        poses[i] = look_at(eye, forward, up)
    return Scene(mesh, _tissue_table(rng, s, 1), _texture(rng, s, texel), poses)


def _bent_centre_line(rng: np.random.Generator, arc: np.ndarray, radius: float, bend: float) -> np.ndarray:
    """Centre line z = arc with sinusoidal x, y bends whose curvature radius stays >= 3 radii."""
    xy = np.zeros((len(arc), 2))
    for axis in range(2):
        for _ in range(2):
            wavelength = rng.uniform(150, 450)
            k = 2 * np.pi / wavelength
            amplitude = bend * rng.uniform(0.3, 0.5) / (k**2 * 3 * radius)
            xy[:, axis] += amplitude * np.sin(k * arc + rng.uniform(0, 2 * np.pi))
    return np.column_stack([xy, arc])


def _lumen_radius(rng: np.random.Generator, arc: np.ndarray, theta: np.ndarray, s: SynthSettings) -> np.ndarray:
    """Radius (n, m): slow swelling, a triangular section, and semilunar haustral folds."""
    radius = s.tube_radius
    swell = 1 + 0.08 * np.interp(arc, np.linspace(arc[0], arc[-1], 64), rng.standard_normal(64))
    twist = rng.uniform(0, 2 * np.pi) + arc / rng.uniform(200, 600)
    r = radius * swell[:, None] * (1 - s.triangularity * np.cos(3 * theta[None, :] + twist[:, None]))
    position = rng.uniform(0, s.fold_spacing)
    while position < arc[-1]:
        width = rng.uniform(0.1, 0.16) * s.fold_spacing
        depth = s.fold_depth * radius * rng.uniform(0.6, 1.2)
        phase = rng.uniform(0, 2 * np.pi)
        around = 0.25 + 0.75 * (0.5 + 0.5 * np.cos(3 * (theta - phase)))
        along = np.exp(-0.5 * ((arc - position) / width) ** 2)
        r -= depth * along[:, None] * around[None, :]
        position += s.fold_spacing * rng.uniform(0.75, 1.25)
    return r


# ------------------------------------------------------------------------------------- surface

HALF_SIZE = 260.0
SURFACE_STEP = 1.3


def _surface_scene(rng: np.random.Generator, s: SynthSettings, frames: int) -> Scene:
    axis = np.arange(-HALF_SIZE, HALF_SIZE + 1e-6, SURFACE_STEP)
    height = _height_field(rng, axis, s)
    x, y = np.meshgrid(axis, axis)
    points = np.stack([x, y, height], -1)
    parts = [grid_mesh(points, _unrolled_coordinates(height) + rng.uniform(0, 500, 2), tissue=0)]
    loops = []
    for i in range(s.loop_count):
        for _ in range(10):  # loops must not run through one another
            mesh, centre, r_max = _organ_loop(rng, axis, height, tissue=1 + i)
            if all(_clearance(centre, other) > r_max + other_r for other, other_r in loops):
                parts.append(mesh)
                loops.append((centre, r_max))
                break
    poses = _hover_path(rng, s, frames, axis, height, loops)
    return Scene(merge(parts), _tissue_table(rng, s, 1 + s.loop_count), _texture(rng, s), poses)


def _height_field(rng: np.random.Generator, axis: np.ndarray, s: SynthSettings) -> np.ndarray:
    """Heights (n, n): broad undulation, finer bulges, ridges and creases, a rising rim."""
    n = len(axis)
    x, y = np.meshgrid(axis, axis)
    h = rng.uniform(4, 10) * fractal_noise(rng, n, 250 / SURFACE_STEP, octaves=2)
    h += rng.uniform(0.3, 1.2) * fractal_noise(rng, n, 50 / SURFACE_STEP, octaves=2)
    for _ in range(s.fold_count):
        p = rng.uniform(-120, 120, 2)
        a = rng.uniform(0, np.pi)
        along = (x - p[0]) * np.cos(a) + (y - p[1]) * np.sin(a)
        across = -(x - p[0]) * np.sin(a) + (y - p[1]) * np.cos(a) + rng.uniform(-1, 1) / 150 * along**2
        width = rng.uniform(5, 14)
        extent = np.exp(-0.5 * (along / rng.uniform(40, 150)) ** 2)
        amp = min(s.fold_height * rng.uniform(0.5, 1.3), 1.5 * width)
        kind = rng.integers(0, 3)
        if kind == 0:  # ridge
            h += amp * extent * np.exp(-0.5 * (across / width) ** 2)
        elif kind == 1:  # crease
            h -= amp * extent * np.exp(-0.5 * (across / width) ** 2)
        else:  # step, as where one tissue layer overlaps another
            h += amp * extent * np.tanh(across / width)
    h += 0.0022 * np.maximum(np.hypot(x, y) - 90, 0) ** 2
    return h.astype(np.float64)


def _unrolled_coordinates(height: np.ndarray) -> np.ndarray:
    """Surface coordinates (n, n, 2) in mm: arc length along rows and columns from the centre.

    Using x, y directly would stretch the texture on steep slopes.
    """
    n = height.shape[0]
    centre = n // 2
    out = []
    for axis in (1, 0):
        step = np.sqrt(SURFACE_STEP**2 + np.diff(height, axis=axis) ** 2)
        arc = np.concatenate([np.zeros_like(np.take(height, [0], axis=axis)), np.cumsum(step, axis=axis)], axis=axis)
        out.append(arc - np.take(arc, [centre], axis=axis))
    return np.stack(out, -1)


def height_at(axis: np.ndarray, height: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Bilinear height-field lookup at points (k, 2)."""
    step = axis[1] - axis[0]
    f = np.clip((xy - axis[0]) / step, 0, len(axis) - 1.001)
    i0 = np.floor(f).astype(int)
    w = f - i0
    col, row = i0[:, 0], i0[:, 1]
    h00, h01 = height[row, col], height[row, col + 1]
    h10, h11 = height[row + 1, col], height[row + 1, col + 1]
    top = h00 + (h01 - h00) * w[:, 0]
    bottom = h10 + (h11 - h10) * w[:, 0]
    return top + (bottom - top) * w[:, 1]


def _organ_loop(rng: np.random.Generator, axis: np.ndarray, height: np.ndarray,
                tissue: int) -> tuple[Mesh, np.ndarray, float]:
    """A closed-looking tube (bowel loop or flattened lobe) arching out of the surface."""
    radius = rng.uniform(8, 30)
    flat = rng.uniform(0.45, 1.0)
    length = rng.uniform(100, 260)
    arc = np.arange(0, length, 0.8)
    # heading changes slowly enough that the bend radius stays >= 2 radii (no self-intersection)
    swing = min(1.2, length / (2 * np.pi * radius)) * rng.uniform(-1, 1)
    heading = rng.uniform(0, 2 * np.pi) + swing * np.sin(np.pi * arc / length + rng.uniform(0, np.pi))
    xy = np.cumsum(np.column_stack([np.cos(heading), np.sin(heading)]) * 0.8, axis=0)
    xy += rng.uniform(-80, 80, 2) - xy[len(xy) // 2]  # the loop's middle lies near where the camera looks
    lift = radius * flat * (1.5 * np.sin(np.pi * arc / length) - 0.7)
    centre = np.column_stack([xy, height_at(axis, height, xy) + lift])
    tangent = transport_frames(centre)[0]
    up = np.array([0.0, 0.0, 1.0])
    side = np.cross(tangent, up)
    side /= np.linalg.norm(side, axis=1, keepdims=True)
    vertical = np.cross(side, tangent)
    # the texture seam (where the angle wraps) runs along the underside, mostly buried in the surface
    theta = np.linspace(-np.pi / 2, 1.5 * np.pi, 128, endpoint=False)
    bumps = 1 + 0.03 * fractal_noise(rng, (len(arc), 128), 40, octaves=2)
    # an elliptic section: flattened along the vertical
    c, s_ = np.cos(theta)[None, :, None], np.sin(theta)[None, :, None]
    points = centre[:, None] + radius * bumps[..., None] * (c * side[:, None] + flat * s_ * vertical[:, None])
    around = (np.append(theta, 1.5 * np.pi) + np.pi / 2) * radius
    st = np.stack(np.broadcast_arrays(arc[:, None], around[None, :]), -1) + rng.uniform(0, 500, 2)
    return grid_mesh(points, st, tissue=tissue, wrap=True), centre, radius * 1.15


def _clearance(a: np.ndarray, b: np.ndarray) -> float:
    """Smallest distance between two sampled centre lines (every 4th point)."""
    return float(np.min(np.linalg.norm(a[::4, None] - b[None, ::4], axis=-1)))


def _hover_path(rng: np.random.Generator, s: SynthSettings, n: int, axis: np.ndarray, height: np.ndarray,
                loops: list) -> np.ndarray:
    """Camera-to-world poses looking down at the surface, backed off where they would be inside tissue."""
    target_xy = rng.uniform(-60, 60, 2) + 0.35 * s.speed * 60 * smooth_curve(rng, n, 90, 2)
    target = np.column_stack([target_xy, height_at(axis, height, target_xy)])
    distance = s.distance * np.exp(s.distance_var * smooth_curve(rng, n, 100)[:, 0])
    distance = np.clip(distance, 25, 160)
    tilt = np.radians(np.clip(s.tilt + 15 * smooth_curve(rng, n, 110)[:, 0], 0, 60))
    azimuth = rng.uniform(0, 2 * np.pi) + 0.6 * smooth_curve(rng, n, 150)[:, 0]
    forward = np.column_stack([np.sin(tilt) * np.cos(azimuth), np.sin(tilt) * np.sin(azimuth), -np.cos(tilt)])
    eye = target - distance[:, None] * forward
    eye += _back_off(eye, -forward, axis, height, loops)[:, None] * -forward
    roll = azimuth + np.radians(s.roll) * smooth_curve(rng, n, 120)[:, 0]
    up = np.column_stack([np.cos(roll), np.sin(roll), np.zeros(n)])
    return np.stack([look_at(e, f, u) for e, f, u in zip(eye, forward, up)])


CLEARANCE = 8.0


def _back_off(eye: np.ndarray, back: np.ndarray, axis: np.ndarray, height: np.ndarray, loops: list) -> np.ndarray:
    """Smooth per-frame distance to move each eye along `back` so it stays clear of all tissue."""
    steps = np.arange(0.0, 400.0, 4.0)
    flat = (eye[:, None, :] + steps[None, :, None] * back[:, None, :]).reshape(-1, 3)
    ok = np.ones(len(flat), bool)
    for dx, dy in ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1)):
        around = flat[:, :2] + CLEARANCE * np.array([dx, dy])
        ok &= flat[:, 2] >= height_at(axis, height, around) + CLEARANCE
    for centre, r_max in loops:
        for point in centre[::8]:
            ok &= np.linalg.norm(flat - point, axis=1) >= r_max + CLEARANCE
    ok = ok.reshape(len(eye), len(steps))
    first = np.where(ok.any(1), ok.argmax(1), len(steps) - 1)
    need = steps[first]
    window = 15
    padded = np.pad(need, window, mode="edge")
    widened = np.max(np.lib.stride_tricks.sliding_window_view(padded, 2 * window + 1), axis=1)
    kernel = np.hanning(window + 2)[1:-1]
    smooth = np.convolve(np.pad(widened, window // 2, mode="edge"), kernel / kernel.sum(), mode="valid")
    return np.maximum(smooth[:len(need)], need)
