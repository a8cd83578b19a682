"""Synthetic endoscopy sequences with exact depth, for tests, the sample clip and training.

`render_sequence(frames, width, height, seed, scene="tube"|"surface"|"random")` is the entry
point; `random_settings(rng)` draws varied settings for training. Seeds >= HELDOUT_SEED_START
(1_000_000) are held out for evaluation.
"""

from endodepth.synth.render import SynthSequence, View, render_scene, render_sequence, render_view
from endodepth.synth.scenes import Scene, build_scene
from endodepth.synth.settings import HELDOUT_SEED_START, SCENES, SynthSettings, is_heldout, random_settings

__all__ = [
    "HELDOUT_SEED_START", "SCENES", "Scene", "SynthSequence", "SynthSettings", "View", "build_scene",
    "is_heldout", "random_settings", "render_scene", "render_sequence", "render_view",
]
