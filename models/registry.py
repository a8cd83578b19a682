"""Models by name, as in timm: `create(name)`, `available()`, and what each one is."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import torch

from endodepth.errors import CheckpointError, EndoDepthError
from endodepth.models.base import DepthEstimator
from endodepth.models.checkpoint import load_into, read_checkpoint

WEIGHTS_DIR = Path(__file__).parent / "weights"


@dataclass(frozen=True)
class ModelCard:
    """What a built model says about itself: output kind, network input (H, W), parameter count, and
    whether it needs stereo frames (a right view and a calibration)."""

    kind: str
    input_size: tuple[int, int]
    parameters: int
    needs_stereo: bool = False


@dataclass(frozen=True)
class ModelSpec:
    """What the registry knows about a model before building it."""

    name: str
    factory: Callable[..., DepthEstimator]
    description: str
    bundled_weights: str | None = None
    checkpoint_filter: Callable | None = None
    defaults: Mapping = field(default_factory=dict)

    @cached_property
    def card(self) -> ModelCard:
        """Kind, input size and parameter count, read once from the model itself built on the meta device.

        The model class (and its options) is the one place these are written, as timm attaches its
        `pretrained_cfg` to the model: the registry never restates them.
        """
        with torch.device("meta"):
            model = self.factory(**self.defaults)
        return ModelCard(model.kind, tuple(model.input_size), model.num_parameters(), bool(model.needs_stereo))

    @property
    def kind(self) -> str:
        """What the default-built model outputs (endodepth.kinds)."""
        return self.card.kind

    @property
    def input_size(self) -> tuple[int, int]:
        """The default-built model's network input (H, W)."""
        return self.card.input_size

    @property
    def trained(self) -> bool:
        """Whether `create(name)` gives trained weights: its bundled file is there, or it has nothing to learn."""
        return self.weights_path is not None or self.card.parameters == 0

    @property
    def weights_path(self) -> Path | None:
        """The bundled weights file when the model ships with one and it is present."""
        if self.bundled_weights is None:
            return None
        path = WEIGHTS_DIR / self.bundled_weights
        return path if path.is_file() else None


class UnknownModelError(EndoDepthError, KeyError):
    """A model name the registry does not know (a KeyError, shown by the CLI as one line)."""

    def __str__(self) -> str:
        return str(self.args[0])


class DeviceError(EndoDepthError, RuntimeError):
    """A device that is not there (CUDA on a CPU-only machine, an unknown device string)."""


_REGISTRY: dict[str, ModelSpec] = {}


def register(
    name: str,
    *,
    description: str,
    bundled_weights: str | None = None,
    checkpoint_filter: Callable | None = None,
    **defaults,
) -> Callable[[Callable[..., DepthEstimator]], Callable[..., DepthEstimator]]:
    """Decorator that registers a factory `f(**options) -> DepthEstimator` under `name`."""

    def wrap(factory: Callable[..., DepthEstimator]) -> Callable[..., DepthEstimator]:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} registered twice")
        _REGISTRY[name] = ModelSpec(name, factory, description, bundled_weights, checkpoint_filter, defaults)
        return factory

    return wrap


def available() -> list[str]:
    """Registered model names, sorted."""
    return sorted(_REGISTRY)


def spec(name: str) -> ModelSpec:
    """The registered spec for `name`, or a KeyError listing the known names."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownModelError(f"unknown model {name!r}; available: {', '.join(available())}") from None


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """"auto"/None -> CUDA when available, else CPU; "cuda" without CUDA is an error."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        raise DeviceError(f"device {device!r}: {str(exc).splitlines()[0]}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise DeviceError(
            f"device {device!r}: CUDA is not available on this machine (torch sees no GPU); use --device cpu"
        )
    return dev


def create(
    name_or_path: str | Path,
    weights: str | Path | None = None,
    device: str | torch.device | None = "cpu",
    half: bool = False,
    **options,
) -> DepthEstimator:
    """Build a model by registered name or from one of our checkpoints, with its weights.

    `weights` loads a checkpoint into the named model through its checkpoint filter
    (official layouts are adapted there). Without `weights`, a model with bundled weights
    loads them; others keep their initialisation.
    """
    path = Path(name_or_path)
    if str(name_or_path) not in _REGISTRY and path.suffix in (".pth", ".pt", ".safetensors", ".bin"):
        tensors, info = read_checkpoint(path)
        if "model" not in info:
            raise CheckpointError(path, "does not say which model it is for; pass --model NAME --weights FILE")
        model = build(info["model"], **{**info["options"], **options})
        load_into(model, path, tensors, spec(info["model"]).checkpoint_filter)
    else:
        model = build(str(name_or_path), **options)
        source = Path(weights) if weights is not None else spec(model.name).weights_path
        if source is not None:
            tensors, _ = read_checkpoint(source)
            load_into(model, source, tensors, spec(model.name).checkpoint_filter)
    model.eval()
    model.set_precision(half)
    return model.to(resolve_device(device))


def build(name: str, **options) -> DepthEstimator:
    """A registered model with its initial (untrained) weights, e.g. to train from scratch."""
    s = spec(name)
    merged = {**s.defaults, **options}
    model = s.factory(**merged)
    model.name = name
    model.options = dict(merged)
    return model
