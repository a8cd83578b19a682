"""The one checkpoint loader: safetensors or weights-only torch files, strict key matching."""

from __future__ import annotations

import json
import pickle
import re
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path

import torch
from torch import nn

from endodepth.errors import CheckpointError
from endodepth.io.atomic import atomic_write

META_MODEL = "endodepth_model"
META_OPTIONS = "endodepth_options"
_LIST_LIMIT = 12


class UnfitCheckpoint(ValueError):
    """A checkpoint filter's one-line reason that the file cannot fit the built model; `load_into` names the file."""


def read_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], dict]:
    """Tensors and our metadata ({"model", "options"} when the file is ours) from a checkpoint.

    `.safetensors` files are read with safetensors; anything else with
    `torch.load(weights_only=True)`, so a file that would run code on load is refused.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(path, "no such checkpoint file")
    if path.suffix == ".safetensors":
        return _read_safetensors(path)
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols on stderr: our error says it
            warnings.simplefilter("ignore")
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(path, _refusal(str(exc))) from None
    except Exception as exc:
        raise CheckpointError(path, f"not a readable PyTorch checkpoint ({type(exc).__name__}: {exc})") from None
    return _unwrap(path, obj)


def _refusal(message: str) -> str:
    """One line for a file torch's weights-only unpickler refused, naming the blocked global if any."""
    blocked = re.search(r"(?:unsupported GLOBAL|Unsupported global: GLOBAL) (\S+)", message)
    if blocked:
        return f"refused: loading it would call {blocked.group(1)} (code execution); only plain tensors are accepted"
    return (
        "refused: not a weights-only PyTorch checkpoint (it may hold Python objects that would run code "
        "when loaded, or be damaged); only plain tensors are accepted"
    )


def _read_safetensors(path: Path) -> tuple[dict[str, torch.Tensor], dict]:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(path, f"not a readable safetensors file ({exc})") from None
    info = {}
    if META_MODEL in meta:
        info = {"model": meta[META_MODEL], "options": json.loads(meta.get(META_OPTIONS, "{}"))}
    return tensors, info


def _unwrap(path: Path, obj) -> tuple[dict[str, torch.Tensor], dict]:
    if not isinstance(obj, Mapping):
        raise CheckpointError(path, f"expected a dict of tensors, found {type(obj).__name__}")
    info = {}
    if isinstance(obj.get("model"), str) and isinstance(obj.get("state_dict"), Mapping):
        info = {"model": obj["model"], "options": dict(obj.get("options") or {})}
        obj = obj["state_dict"]
    else:
        for key in ("state_dict", "model_state_dict", "model"):
            if isinstance(obj.get(key), Mapping):
                obj = obj[key]
                break
    tensors = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise CheckpointError(path, "holds no tensors")
    return tensors, info


def load_into(
    model: nn.Module,
    path: str | Path,
    state_dict: Mapping[str, torch.Tensor],
    filter_fn: Callable[[Mapping[str, torch.Tensor], nn.Module], dict[str, torch.Tensor]] | None = None,
) -> None:
    """Load `state_dict` strictly; on any mismatch name the file and the filter's reason or the
    missing/unexpected keys."""
    try:
        sd = dict(filter_fn(state_dict, model) if filter_fn else state_dict)
    except UnfitCheckpoint as exc:
        raise CheckpointError(path, str(exc)) from None
    own = model.state_dict()
    missing = [k for k in own if k not in sd]
    unexpected = [k for k in sd if k not in own]
    wrong = [
        f"{k} {tuple(sd[k].shape)} vs {tuple(own[k].shape)}" for k in own if k in sd and sd[k].shape != own[k].shape
    ]
    if missing or unexpected or wrong:
        parts = []
        for label, keys in (("missing keys", missing), ("unexpected keys", unexpected), ("shape mismatches", wrong)):
            if keys:
                more = f", ... ({len(keys)} in all)" if len(keys) > _LIST_LIMIT else ""
                shown = ", ".join(keys[:_LIST_LIMIT]) + more
                parts.append(f"{label}: {shown}")
        name = getattr(model, "name", type(model).__name__)
        raise CheckpointError(path, f"does not fit {name}; " + "; ".join(parts))
    model.load_state_dict(sd, strict=True)


def save_checkpoint(
    state_dict: Mapping[str, torch.Tensor], path: str | Path, model_name: str, options: Mapping | None = None
) -> Path:
    """Write tensors with the model's name and options (safetensors or .pth), atomically."""
    path = Path(path)
    tensors = {k: v.detach().cpu().contiguous() for k, v in state_dict.items()}
    with atomic_write(path) as tmp:
        if path.suffix == ".safetensors":
            from safetensors.torch import save_file

            meta = {META_MODEL: model_name, META_OPTIONS: json.dumps(dict(options or {}))}
            save_file(tensors, tmp, metadata=meta)
        else:
            torch.save({"model": model_name, "options": dict(options or {}), "state_dict": tensors}, tmp)
    return path
