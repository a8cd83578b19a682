"""Per-frame processing: decode -> run each model -> post-process (depth, masks, clouds, colours).

`Pipeline.process(i)` does one frame synchronously (CLI, tests, exports, and the Runner's threads).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from endodepth.analysis.depth import as_depth
from endodepth.errors import EndoDepthError
from endodepth.frame import Frame
from endodepth.models.base import DepthEstimator, DepthResult
from endodepth.vis.backproject import backproject, stride_for_budget
from endodepth.vis.colormap import PercentileRange, RangePolicy, colorize
from endodepth.vis.masks import fov_mask, specular_mask
from endodepth.vis.resample import display_step, sample_bilinear


class FrameError(EndoDepthError):
    """One frame could not be decoded or inferred; the runner goes on with the next."""

    def __init__(self, index: int, stage: str, error: BaseException) -> None:
        self.index, self.stage, self.error = index, stage, error
        super().__init__(f"frame {index}: {stage} failed: {error}")


class DeviceFallback(RuntimeWarning):
    """A notice, not a failure: the GPU ran out of memory and the models moved to the CPU."""


@dataclass(frozen=True)
class PostOptions:
    """What the worker prepares for the views besides depth, so the GUI thread stays light.

    `max_points`: back-project each model's depth with the stride that keeps at most this
    many points (None: no clouds). `fov`/`specular`: compute those masks (used to leave
    pixels out of clouds). `colormap`: colorize each model's depth with its range policy
    (None: leave colouring to the view). `range_policy`: factory of one policy per model.
    `display_width`: None keeps every map at the frame's resolution (commands, exports); a width
    (the viewer's) keeps the networks' output as it comes and samples depth, masks and colours on
    the display grid `frame[::step, ::step]` at most that wide (the image item scales it on screen),
    and the cloud at its own strided pixels; `FrameResult.full_output` gives the frame's resolution
    where a protocol needs it (errors against ground truth, selectivity, exports).
    """

    max_points: int | None = 50_000
    fov: bool = True
    specular: bool = False
    colormap: str | None = None
    range_policy: Callable[[], RangePolicy] = PercentileRange
    display_width: int | None = None


@dataclass
class FrameResult:
    """Everything computed for one frame.

    `results`: each model's DepthResult, by model name. `timings`: milliseconds of
    "decode_ms", "infer_ms" (all models), "infer_ms/<model>", "post_ms" and, from the
    Runner, "latency_ms" (decode start to delivery). `generation`:
    the runner's generation when the frame was processed (compare with
    `Runner.generation` to ignore results of a file/model that was replaced).
    `depth`: depth (never inverse depth) per model. `valid`: pixels inside the field of
    view and off highlights. `clouds`: per model (points (N,3) float32, colours (N,3)
    uint8) in the camera frame. `colors`/`ranges`: colorized depth and its (lo, hi) when
    PostOptions.colormap is set; `cloud_colors`: the points coloured by depth on that range.
    `step`: `depth`, `valid`, `fov`, `specular` and `colors` hold the display grid
    `frame.rgb[::step, ::step]` (1: the frame's resolution); `frame_valid` is `valid` at the
    frame's resolution; `align_corners`: each model's interpolation convention, for `full_output`.
    """

    frame: Frame
    results: dict[str, DepthResult]
    timings: dict[str, float]
    generation: int = 0
    depth: dict[str, np.ndarray] = field(default_factory=dict)
    valid: np.ndarray | None = None
    fov: np.ndarray | None = None
    specular: np.ndarray | None = None
    clouds: dict[str, tuple[np.ndarray, np.ndarray | None]] = field(default_factory=dict)
    colors: dict[str, np.ndarray] = field(default_factory=dict)
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)
    cloud_colors: dict[str, np.ndarray] = field(default_factory=dict)
    step: int = 1
    frame_valid: np.ndarray | None = None
    align_corners: dict[str, bool] = field(default_factory=dict)
    _full: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def index(self) -> int:
        """Index of the frame in its source."""
        return self.frame.index

    def full_output(self, name: str) -> np.ndarray:
        """Model `name`'s output at the frame's resolution (upsampled once, as `predict` would)."""
        if name not in self._full:
            self._full[name] = sample_bilinear(self.results[name].output, self.frame.rgb.shape[:2], 1,
                                               self.align_corners.get(name, True))
        return self._full[name]

    def full_result(self, name: str) -> DepthResult:
        """Model `name`'s DepthResult with its output at the frame's resolution."""
        res = self.results[name]
        output = self.full_output(name)
        return res if output is res.output else dataclasses.replace(res, output=output, uncertainty=None)

    def full_depth(self, name: str) -> np.ndarray:
        """Model `name`'s depth at the frame's resolution."""
        if self.step == 1 and name in self.depth:
            return self.depth[name]
        return as_depth(self.full_output(name), self.results[name].kind)


def _is_oom(exc: BaseException) -> bool:
    return isinstance(exc, torch.cuda.OutOfMemoryError)


class Pipeline:
    """A source and the models to run on it: `process(i)` = `process_frame(decode(i))`, and
    `process_frame(f)` = `post_process(run_models(f))`.

    `models` is a list of DepthEstimators (keyed by their `name`) or a {name: model} dict.
    `layers` asks for features: one list for every model, or {model name: layers}.
    `on_notice` receives DeviceFallback when CUDA runs out of memory.
    """

    def __init__(
        self, source, models: Sequence[DepthEstimator] | Mapping[str, DepthEstimator],
        layers: Iterable[str] | Mapping[str, Iterable[str]] | None = None,
        post: PostOptions | None = None,
    ) -> None:
        self.source = source
        self.models = dict(models) if isinstance(models, Mapping) else {m.name: m for m in models}
        if isinstance(layers, Mapping):
            self.layers = {k: tuple(v) for k, v in layers.items()}
        else:
            self.layers = {k: tuple(layers or ()) for k in self.models}
        self.post = post or PostOptions()
        self.on_notice: Callable[[Exception], None] | None = None
        self._ranges: dict[str, RangePolicy] = {}

    def __len__(self) -> int:
        return len(self.source)

    @property
    def fps(self) -> float:
        """Frame rate of the source (25 when it has none)."""
        fps = float(getattr(self.source, "fps", 0.0) or 0.0)
        return fps if fps > 0 else 25.0

    @property
    def device(self) -> str:
        """Device of the first model ("cpu" without models)."""
        return str(next(iter(self.models.values())).device) if self.models else "cpu"

    def configure(self, **changes) -> None:
        """Change PostOptions fields (e.g. colormap, max_points); range policies restart."""
        self.post = dataclasses.replace(self.post, **changes)
        self._ranges = {}

    def decode(self, index: int) -> Frame:
        """The frame at `index` of the source."""
        return self.source.frame(index)

    def process(self, index: int) -> FrameResult:
        """Decode, run the models on and post-process one frame."""
        t0 = time.perf_counter()
        frame = self.decode(index)
        decode_ms = (time.perf_counter() - t0) * 1e3
        result = self.process_frame(frame)
        result.timings["decode_ms"] = decode_ms
        return result

    def process_frame(self, frame: Frame) -> FrameResult:
        """Run every model on a decoded frame, then post-process."""
        return self.post_process(self.run_models(frame))

    def run_models(self, frame: Frame) -> FrameResult:
        """Every model's answer for a decoded frame (no post-processing yet)."""
        timings: dict[str, float] = {}
        results: dict[str, DepthResult] = {}
        t0 = time.perf_counter()
        for name, model in self.models.items():
            t = time.perf_counter()
            results[name] = self._run_model(model, frame, self.layers.get(name, ()))
            timings[f"infer_ms/{name}"] = (time.perf_counter() - t) * 1e3
        timings["infer_ms"] = (time.perf_counter() - t0) * 1e3
        return FrameResult(frame, results, timings)

    def post_process(self, out: FrameResult) -> FrameResult:
        """Add what the views need to a predicted frame: depth, masks, clouds, colours (on the
        display grid when PostOptions.display_width is set)."""
        t0 = time.perf_counter()
        post, rgb = self.post, out.frame.rgb
        height, width = rgb.shape[:2]
        mask = out.frame.mask
        valid = np.ones((height, width), dtype=bool) if mask is None else mask.astype(bool)
        if post.fov:
            out.fov = fov_mask(rgb)
            valid &= out.fov
        if post.specular:
            out.specular = specular_mask(rgb)
            valid &= ~out.specular
        step = out.step = 1 if post.display_width is None else display_step(width, post.display_width)
        out.frame_valid = valid
        if step > 1:
            valid = valid[::step, ::step]
            out.fov = None if out.fov is None else out.fov[::step, ::step]
            out.specular = None if out.specular is None else out.specular[::step, ::step]
        out.valid = valid
        for name, res in out.results.items():
            model = self.models.get(name)
            align = out.align_corners[name] = bool(getattr(model, "align_corners", True))
            depth = out.depth[name] = as_depth(sample_bilinear(res.output, (height, width), step, align), res.kind)
            if post.max_points:
                stride = stride_for_budget(height, width, post.max_points)
                z = depth if stride == step else as_depth(
                    sample_bilinear(res.output, (height, width), stride, align), res.kind)
                out.clouds[name] = backproject(z, out.frame.K, out.frame_valid[::stride, ::stride], 1,
                                               rgb[::stride, ::stride], pitch=stride)
            if post.colormap:
                policy = self._ranges.setdefault(name, post.range_policy())
                lo, hi = policy.update(depth, valid)
                out.ranges[name] = (lo, hi)
                out.colors[name] = colorize(depth, post.colormap, lo, hi, invalid=~valid)
                if name in out.clouds:
                    out.cloud_colors[name] = colorize(out.clouds[name][0][None, :, 2], post.colormap, lo, hi)[0]
        out.timings["post_ms"] = (time.perf_counter() - t0) * 1e3
        return out

    def to_cpu(self) -> None:
        """Move every model to the CPU and release cached GPU memory."""
        for model in self.models.values():
            model.to("cpu")
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def _run_model(self, model: DepthEstimator, frame: Frame, layers: tuple[str, ...]) -> DepthResult:
        try:
            return model.predict_frame(frame, layers, self.post.display_width is None)
        except Exception as exc:
            if not _is_oom(exc) or model.device.type != "cuda":
                raise
        self.to_cpu()
        if self.on_notice is not None:
            self.on_notice(DeviceFallback("CUDA ran out of memory; the models now run on the CPU"))
        return model.predict_frame(frame, layers, self.post.display_width is None)
