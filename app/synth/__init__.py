"""Synthetic endoscopy sequences with exact depth, for tests, the sample clip and training.

A camera with a light at its centre moves through a colon-like tube or over folded tissue with
organ loops; open3d casts one ray per pixel, so depth (z in the camera frame, mm) is exact.

    seq = render_sequence(frames, width, height, seed, scene="tube" | "surface" | "random")
    seq.rgb (N,H,W,3) uint8, seq.depth (N,H,W) float32 mm (NaN: no surface / outside the field
    of view), seq.xyz, seq.K, seq.poses (keyframe -> frame, SCARED), seq.fov_mask,
    seq.right_rgb / seq.right_xyz with stereo=True, seq.calibration().

Training data: `render_sequence(n, w, h, seed, scene="random")` draws every setting (scene,
geometry, motion, tissue colours, light, noise, blur, field of view, focal length) from the
seed via `random_settings`. Seeds 0 .. HELDOUT_SEED_START - 1 are for training; seeds from
HELDOUT_SEED_START (1_000_000) on are held out for evaluation (`is_heldout(seed)`). A sequence
is a smooth clip (consecutive frames overlap), so for variety prefer many short sequences
(e.g. 8-32 frames per seed) to few long ones.
"""

from endodepth.synth.render import (
    SynthSequence,
    TrueSurface,
    View,
    render_scene,
    render_sequence,
    render_view,
    sequence_scene,
    true_surface,
)
from endodepth.synth.scenes import Scene, build_scene
from endodepth.synth.settings import HELDOUT_SEED_START, SCENES, SynthSettings, is_heldout, random_settings

__all__ = [
    "HELDOUT_SEED_START", "SCENES", "Scene", "SynthSequence", "SynthSettings", "TrueSurface", "View", "build_scene",
    "is_heldout", "random_settings", "render_scene", "render_sequence", "render_view",
    "sequence_scene", "true_surface",
]
