"""The one interface every depth network offers: `DepthEstimator.predict` -> `DepthResult`."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from endodepth.kinds import RELATIVE


@dataclass(frozen=True)
class Route:
    """Which of a model's metric heads answered an image, and the router's probability of each head."""

    head: str
    probabilities: dict[str, float]


@dataclass
class DepthResult:
    """A network's answer for one frame, at that frame's resolution (or the network's, when asked).

    `output` is the network's map as it comes out, of `kind` (endodepth.kinds): RELATIVE_INVERSE
    (affine-invariant disparity, not depth), RELATIVE (depth up to scale) or METRIC_MM; turn it into
    depth with `analysis.depth.as_depth`. `uncertainty` is a per-pixel standard deviation in the same unit.
    `features` maps layer names to (C, h, w) float32 maps. `timings` holds milliseconds per stage.
    `confidence` in [0, 1] per pixel, when the model states one (stereo matching: 0 where no match).
    `route`: the head a routed metric model chose for this frame and the router's probabilities.
    """

    output: np.ndarray
    kind: str
    uncertainty: np.ndarray | None = None
    features: dict[str, np.ndarray] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    model: str = ""
    confidence: np.ndarray | None = None
    route: Route | None = None


class DepthEstimator(nn.Module):
    """A depth network that owns its preprocessing and returns depth at the input's size.

    Subclasses implement `preprocess` (uint8 RGB batch -> network input) and `forward`
    (network input -> (B, 1, h, w) output of `kind`); they set `name`, `kind`,
    `input_size` (H, W) and `default_layers` (names of modules whose outputs the
    selectivity analysis reads).
    """

    name: str = "depth-estimator"
    kind: str = RELATIVE
    input_size: tuple[int, int] = (256, 320)
    default_layers: tuple[str, ...] = ()
    align_corners: bool = True
    antialias: bool = False  # area-averaged (uint8 cv2.INTER_AREA) shrinking in the default `preprocess`
    needs_stereo: bool = False  # True: `predict_frame` reads the frame's right view and calibration

    def __init__(self) -> None:
        super().__init__()
        self.options: dict = {}
        self.mc_samples = 1
        self.use_half = False

    def preprocess(self, rgb: np.ndarray) -> torch.Tensor:
        """Turn a (B, H, W, 3) uint8 RGB batch into the network's input on its device.

        Antialiased models shrink each uint8 frame with one area-averaging cv2.resize before the
        float conversion (about 2.4x faster at 1280x1024 than converting 1.3 M pixels to float
        and filtering them with torch's antialiased resize); the others interpolate bilinearly in float.
        """
        if self.antialias:
            x = torch.from_numpy(np.stack([_area_resize(im, self.input_size) for im in rgb])).to(self.device)
            return x.permute(0, 3, 1, 2).float().div_(255.0)
        x = torch.from_numpy(np.ascontiguousarray(rgb)).to(self.device)
        x = x.permute(0, 3, 1, 2).float().div_(255.0)
        return F.interpolate(x, size=self.input_size, mode="bilinear", align_corners=False)

    @property
    def device(self) -> torch.device:
        """The device the parameters live on."""
        for p in self.parameters():
            return p.device
        return torch.device("cpu")

    def num_parameters(self, trainable_only: bool = False) -> int:
        """Number of parameters (only those that require gradients when asked)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)

    def layer_names(self) -> list[str]:
        """Names of the sub-modules whose outputs can be read as features."""
        return [n for n, _ in self.named_modules() if n]

    def stochastic_forward(self, x: torch.Tensor, samples: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Mean and standard deviation over `samples` passes; models with dropout override."""
        return self.forward(x), None

    def routes(self, batch: int) -> list[Route | None]:
        """Per image of the last forward pass's batch, the metric head a router chose (None: no router)."""
        return [None] * batch

    def set_precision(self, half: bool) -> DepthEstimator:
        """Run in float16 on CUDA when `half` (ignored on CPU, where it is slower)."""
        self.use_half = bool(half)
        return self

    @torch.no_grad()
    def predict_batch(
        self, images: Sequence[np.ndarray], layers: Iterable[str] = (), full_resolution: bool = True
    ) -> list[DepthResult]:
        """Depth for frames of one size, with features when asked.

        Depth and uncertainty come at the frames' resolution, or with `full_resolution=False` at
        the network's output resolution (no upsampling: what a display that scales on screen needs).
        """
        rgb = np.stack([np.asarray(im) for im in images])
        if rgb.ndim != 4 or rgb.shape[-1] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"expected uint8 RGB frames (H, W, 3), got {rgb.dtype} {rgb.shape[1:]}")
        height, width = rgb.shape[1:3]
        was_training = self.training
        self.eval()
        captured: dict[str, torch.Tensor] = {}
        modules = dict(self.named_modules())
        hooks = []
        for layer in layers:
            if layer not in modules:
                raise KeyError(f"{self.name} has no layer {layer!r}")
            hooks.append(modules[layer].register_forward_hook(_capture(captured, layer)))
        try:
            t0 = time.perf_counter()
            x = self.preprocess(rgb)
            autocast = self.use_half and x.device.type == "cuda"
            t1 = time.perf_counter()
            with torch.autocast("cuda", dtype=torch.float16, enabled=autocast):
                if self.mc_samples > 1:
                    out, std = self.stochastic_forward(x, self.mc_samples)
                else:
                    out, std = self.forward(x), None
            out, std = out.float(), None if std is None else std.float()
            if full_resolution:
                out = self._to_input_size(out, height, width)
                std = None if std is None else self._to_input_size(std, height, width)
            depth = out[:, 0].cpu().numpy()
            unc = None if std is None else std[:, 0].cpu().numpy()
            feats = {k: v.float().cpu().numpy() for k, v in captured.items()}
            routes = self.routes(len(depth))
            t2 = time.perf_counter()
        finally:
            for h in hooks:
                h.remove()
            self.train(was_training)
        timings = {"preprocess_ms": (t1 - t0) * 1e3, "infer_ms": (t2 - t1) * 1e3}
        return [
            DepthResult(
                output=depth[i].astype(np.float32, copy=False),
                kind=self.kind,
                uncertainty=None if unc is None else unc[i].astype(np.float32, copy=False),
                features={k: v[i] for k, v in feats.items()},
                timings=dict(timings),
                model=self.name,
                route=routes[i],
            )
            for i in range(len(depth))
        ]

    def predict(self, rgb: np.ndarray, layers: Iterable[str] = (), full_resolution: bool = True) -> DepthResult:
        """Depth for one (H, W, 3) uint8 RGB frame (at the network's output size when not `full_resolution`)."""
        return self.predict_batch([rgb], layers, full_resolution)[0]

    def predict_frame(self, frame, layers: Iterable[str] = (), full_resolution: bool = True) -> DepthResult:
        """Depth for a decoded `Frame`: its left image for monocular models (stereo models override);
        at the network's output size when not `full_resolution` (the viewer samples it itself)."""
        return self.predict(frame.rgb, layers, full_resolution)

    def _to_input_size(self, t: torch.Tensor, height: int, width: int) -> torch.Tensor:
        if t.shape[-2:] == (height, width):
            return t
        return F.interpolate(t, size=(height, width), mode="bilinear", align_corners=self.align_corners)


def _area_resize(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """One uint8 frame resized to `size` (H, W): area averaging when shrinking, bilinear otherwise."""
    height, width = size
    shrinking = height <= rgb.shape[0] and width <= rgb.shape[1]
    return cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


def _capture(store: dict[str, torch.Tensor], name: str):
    def hook(_module: nn.Module, _inputs, output) -> None:
        tensor = output[0] if isinstance(output, (tuple, list)) else output
        if tensor.ndim == 3:  # transformer tokens (B, N, C): keep them as (B, C, N, 1)
            tensor = tensor.transpose(1, 2).unsqueeze(-1)
        store[name] = tensor.detach()

    return hook
