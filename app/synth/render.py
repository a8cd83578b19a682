"""Render a scene with open3d ray casting: exact depth (z in mm) and shaded, sensor-developed RGB."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import open3d as o3d

from endodepth.io.calibration import StereoCalibration
from endodepth.synth.camera import fov_coverage, intrinsics, pixel_rays, scared_poses
from endodepth.synth.geometry import NORMAL, ST, TANGENT
from endodepth.synth.instruments import Instrument, cast, draw_instruments, shade
from endodepth.synth.lighting import Lighting
from endodepth.synth.noise import smooth_curve
from endodepth.synth.scenes import Scene, build_scene
from endodepth.synth.settings import SynthSettings, random_settings
from endodepth.synth.shading import REFERENCE_MM, auto_exposure, develop, dot, norm, radiance, vignette

NO_HIT = np.iinfo(np.uint32).max


@dataclass
class View:
    """One rendered view: depth z (H, W) mm, NaN where no surface; linear radiance (H, W, 3)."""

    depth: np.ndarray
    radiance: np.ndarray


@dataclass
class SynthSequence:
    """Rendered frames with exact geometry (see INTERFACES.md, synthetic data).

    `poses[i]` maps keyframe (frame 0) camera coordinates into frame i's camera (SCARED).
    Depth is NaN where no surface was hit or outside the circular field of view.
    """

    rgb: np.ndarray  # (N, H, W, 3) uint8
    depth: np.ndarray  # (N, H, W) float32 mm
    K: np.ndarray  # (3, 3)
    poses: np.ndarray  # (N, 4, 4)
    fov_mask: np.ndarray  # (H, W) bool
    fps: float
    baseline_mm: float
    settings: SynthSettings
    seed: int
    right_rgb: np.ndarray | None = None
    right_depth: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.rgb)

    @property
    def xyz(self) -> np.ndarray:
        """(N, H, W, 3) float32 camera-frame points in mm (NaN where depth is unknown)."""
        return self._points(self.depth)

    @property
    def right_xyz(self) -> np.ndarray | None:
        """Right-camera points like `xyz`, when the right view was rendered."""
        return None if self.right_depth is None else self._points(self.right_depth)

    def _points(self, depth: np.ndarray) -> np.ndarray:
        h, w = depth.shape[1:]
        rays = pixel_rays(self.K, w, h)
        return (depth[..., None] * rays[None]).astype(np.float32)

    def calibration(self) -> StereoCalibration:
        """Stereo calibration of the rendered pair: K for both views, R = I, T = (-baseline, 0, 0) mm."""
        return StereoCalibration(self.K, np.zeros(5), self.K, np.zeros(5), np.eye(3),
                                 np.array([-self.baseline_mm, 0.0, 0.0]))


def render_view(scene: Scene, camera_to_world: np.ndarray, K: np.ndarray, width: int, height: int,
                spot_exponent: float = 1.5, mask: np.ndarray | None = None, lighting: Lighting | None = None) -> View:
    """Cast one ray per pixel (inside `mask`, when given) from the camera; shade the hits with the
    endoscope's light (`lighting`; default a co-located spot of `spot_exponent`). Pixels without a
    hit (or outside the mask) get NaN depth and zero radiance."""
    lighting = lighting or Lighting(spot_exponent)
    rays = pixel_rays(K, width, height).reshape(-1, 3)
    pixels = np.arange(width * height) if mask is None else np.flatnonzero(mask)
    rays = np.take(rays, pixels, axis=0)  # (np.take: fancy indexing of (n, 3) arrays is slow)
    R, t = camera_to_world[:3, :3].astype(np.float32), camera_to_world[:3, 3].astype(np.float32)
    dirs = rays[:, 0:1] * R[:, 0] + rays[:, 1:2] * R[:, 1] + rays[:, 2:3] * R[:, 2]  # not BLAS: see dot()
    cast = np.empty((len(rays), 6), np.float32)
    cast[:, :3], cast[:, 3:] = t, dirs
    hit = scene.mesh.raycaster.cast_rays(o3d.core.Tensor(cast), nthreads=1)
    t_hit = hit["t_hit"].numpy()
    prim = hit["primitive_ids"].numpy()
    ok = np.flatnonzero(np.isfinite(t_hit) & (prim != NO_HIT))
    depth = np.full(width * height, np.nan, np.float32)
    depth[pixels[ok]] = t_hit[ok]  # camera-frame rays have z = 1, so the ray parameter is the depth
    out = np.zeros((width * height, 3), np.float32)
    if len(ok):
        uvs = hit["primitive_uvs"].numpy()
        out[pixels[ok]] = _shade_hits(scene, K, np.take(rays, ok, axis=0), np.take(dirs, ok, axis=0), t_hit[ok],
                                      prim[ok], np.take(uvs, ok, axis=0), lighting, R)
    return View(depth.reshape(height, width), out.reshape(height, width, 3))


def _shade_hits(scene: Scene, K: np.ndarray, rays_cam: np.ndarray, dirs: np.ndarray, t_hit: np.ndarray,
                prim: np.ndarray, bary: np.ndarray, lighting: Lighting, rotation: np.ndarray) -> np.ndarray:
    """Radiance of the hit points: interpolated vertex attributes, texture, tissue, light (mean over the lights)."""
    corners = np.take(scene.mesh.attributes, np.take(scene.mesh.triangles, prim, axis=0), axis=0)  # (n, 3, 8)
    w = np.column_stack([1 - bary[:, 0] - bary[:, 1], bary[:, 0], bary[:, 1]]).astype(np.float32)
    attr = np.einsum("nk,nkc->nc", w, corners)
    ray_len = norm(rays_cam)
    distance = t_hit * ray_len
    to_light = -dirs / ray_len[:, None]
    normal = attr[:, NORMAL] / (norm(attr[:, NORMAL])[:, None] + 1e-12)
    facing = np.abs(dot(normal, to_light))
    footprint = distance / np.float32(K[0, 0]) / np.maximum(facing, 0.25)
    fields = scene.texture.sample(attr[:, ST], footprint)
    rows = np.take(scene.tissues, np.take(scene.mesh.tissue, prim), axis=0)
    lights = lighting.geometry(rays_cam, dirs, t_hit, rotation)
    total = sum(radiance(normal, attr[:, TANGENT], light, dist, cos_axis, fields, rows, lighting.spot_exponent,
                         lighting.falloff) for light, dist, cos_axis in lights)
    return total if len(lighting.lights) == 1 else total / np.float32(len(lighting.lights))


def render_scene(scene: Scene, width: int, height: int, settings: SynthSettings, seed: int,
                 stereo: bool = False, progress: Callable[[int], object] | None = None) -> SynthSequence:
    """Render every pose of `scene` (and the right view with `stereo`) through the sensor model."""
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(3)[2])
    n = len(scene.camera_to_world)
    K = intrinsics(width, height, settings.focal, settings.principal_offset)
    coverage = fov_coverage(width, height, settings.fov_radius, settings.fov_centre) if settings.fov_mask else None
    lighting = Lighting.from_settings(settings)
    tools = None
    mask = field_of_view(settings, width, height)
    lens = vignette(width, height, settings.vignetting)
    light = np.exp(settings.light_variation * _flicker(rng, n))
    to_right = np.eye(4)
    to_right[0, 3] = settings.baseline_mm
    sides = [("left", np.eye(4))] + ([("right", to_right)] if stereo else [])
    out = {side: (np.empty((n, height, width, 3), np.uint8), np.empty((n, height, width), np.float32))
           for side, _ in sides}
    gain = None
    for i in range(n):
        views = {side: render_view(scene, scene.camera_to_world[i] @ offset, K, width, height,
                                   mask=mask, lighting=lighting) for side, offset in sides}
        if settings.instruments and tools is None:
            tools = draw_instruments(np.random.default_rng(np.random.SeedSequence(seed).spawn(4)[3]),
                                     settings.instruments, n, _half_extent(K, width, height),
                                     _working_depth(views["left"].depth))
        for side, offset in sides:
            add_instruments(views[side], tools or [], i, K, lighting, mask, -offset[:3, 3])
        measured = auto_exposure(views["left"].radiance * light[i], mask & np.isfinite(views["left"].depth),
                                 settings.exposure)
        gain = measured if gain is None else gain * (measured / gain) ** 0.3
        for side, view in views.items():
            rgb, depth = out[side]
            rgb[i] = develop(view.radiance, lens * np.float32(gain * light[i]), rng, shot_noise=settings.shot_noise,
                             read_noise=settings.read_noise, saturation=settings.saturation,
                             gamma=settings.gamma, blur=settings.blur, white_balance=settings.white_balance,
                             coverage=coverage)
            depth[i] = np.where(mask, view.depth, np.nan)
        if progress is not None:
            progress(1)
    right = out.get("right", (None, None))
    return SynthSequence(out["left"][0], out["left"][1], K, scared_poses(scene.camera_to_world), mask,
                         settings.fps, settings.baseline_mm, settings, seed, right[0], right[1])


def render_sequence(frames: int, width: int, height: int, seed: int, scene: str | None = None,
                    settings: SynthSettings | None = None, stereo: bool = False,
                    progress: Callable[[int], object] | None = None, **overrides) -> SynthSequence:
    """A synthetic endoscopy sequence with exact depth; the same arguments give identical output.

    scene: "tube", "surface" or "random" (random settings drawn from the seed); with `settings`
    given, a tube/surface `scene` replaces its scene. `overrides` replace single settings fields.
    `progress(k)` is called after each rendered frame (e.g. tqdm's update).
    """
    if frames < 1 or width < 1 or height < 1:
        raise ValueError(f"need at least one frame of at least 1x1 pixels, not {frames} of {width}x{height}")
    settings, built = sequence_scene(frames, seed, scene, settings, **overrides)
    return render_scene(built, width, height, settings, seed, stereo, progress)


def sequence_scene(frames: int, seed: int, scene: str | None = None, settings: SynthSettings | None = None,
                   **overrides) -> tuple[SynthSettings, Scene]:
    """The settings and the scene (geometry, camera path) `render_sequence` renders for these arguments:
    the exact true surface of a rendered sequence, e.g. to measure a reconstruction against."""
    scene_seed, settings_seed, _ = np.random.SeedSequence(seed).spawn(3)
    if settings is None:
        if scene in (None, "random"):
            settings = random_settings(np.random.default_rng(settings_seed)) if scene else SynthSettings()
        else:
            settings = SynthSettings(scene=scene)
    elif scene not in (None, "random"):
        settings = settings.replace(scene=scene)
    settings = settings.replace(**overrides)
    return settings, build_scene(np.random.default_rng(scene_seed), settings, frames)


def _half_extent(K: np.ndarray, width: int, height: int) -> tuple[float, float]:
    """x and y of the image corner on the z = 1 plane, from the principal point to the farther border."""
    return (max(K[0, 2], width - K[0, 2]) / K[0, 0], max(K[1, 2], height - K[1, 2]) / K[1, 1])


def _working_depth(depth: np.ndarray) -> float:
    """Median tissue depth of a view (50 mm when nothing was hit)."""
    finite = depth[np.isfinite(depth)]
    return float(np.median(finite)) if finite.size else 50.0


def add_instruments(view: View, tools: list[Instrument], frame: int, K: np.ndarray, lighting: Lighting,
                    mask: np.ndarray, shift: np.ndarray) -> None:
    """Draw `tools` into `view` in place where they are nearer than the tissue (or the tissue is missing)."""
    h, w = view.depth.shape
    inside = mask.ravel()
    rays = pixel_rays(K, w, h).reshape(-1, 3)[inside].astype(np.float64)
    depth, rad = view.depth.reshape(-1), view.radiance.reshape(-1, 3)
    for tool in tools:
        t, normal = cast(tool, rays, frame, shift)
        tissue = depth[inside]
        hit = np.isfinite(t) & ~(tissue <= t)
        idx = np.flatnonzero(inside)[hit]
        depth[idx] = t[hit]
        rad[idx] = shade(tool, rays[hit], t[hit], normal[hit], lighting.positions, lighting.falloff, REFERENCE_MM)


def _flicker(rng: np.random.Generator, n: int) -> np.ndarray:
    """Slow light-strength drift plus a little frame-to-frame flicker (about unit std)."""
    return 0.8 * smooth_curve(rng, n, 50)[:, 0] + 0.6 * rng.standard_normal(n)



def field_of_view(settings: SynthSettings, width: int, height: int) -> np.ndarray:
    """(H, W) bool: the pixels inside the circular field of view (all of them when the settings have none)."""
    if not settings.fov_mask:
        return np.ones((height, width), bool)
    return fov_coverage(width, height, settings.fov_radius, settings.fov_centre) >= 0.5


@dataclass
class TrueSurface:
    """The exact surface of a rendered sequence: triangles in its first camera's coordinates (mm), and the
    field-of-view mask its frames see through (the dark corners outside it see nothing)."""

    vertices: np.ndarray  # (V, 3) float32
    triangles: np.ndarray  # (F, 3)
    fov_mask: np.ndarray  # (H, W) bool


def true_surface(frames: int, seed: int, scene: str | None, size: tuple[int, int]) -> TrueSurface:
    """The surface `render_sequence(frames, *size, seed, scene)` renders, to measure a reconstruction against."""
    settings, built = sequence_scene(frames, seed, scene)
    to_first = np.linalg.inv(built.camera_to_world[0])
    vertices = np.asarray(built.mesh.vertices, np.float64) @ to_first[:3, :3].T + to_first[:3, 3]
    return TrueSurface(vertices.astype(np.float32), np.asarray(built.mesh.triangles), field_of_view(settings, *size))
