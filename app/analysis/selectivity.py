"""Neuron depth selectivity (You et al., ICCV 2021): mean unit response per depth bin, and how
sharply each unit prefers one bin.

Depth is cut into K bins with edges t_0 = 0, t_1 = alpha, ..., t_K = beta (`depth_bin_edges`);
a pixel of depth z falls in bin d when t_d < z <= t_{d+1}. Pixels with no valid depth
(NaN, z <= 0) and, unlike the reference code (which puts them in bin 0), pixels deeper than
beta are ignored. A layer's feature map is upsampled bilinearly (align_corners=False) to the
depth map's resolution (exactly, through `bin_weights`) and averaged per bin over a stream of
frames; R[k, d] = |mean response of unit k in bin d|. The depth selectivity of unit k is
DS_k = (R[k, d*] - mean of R[k, others]) / (R[k, d*] + mean of R[k, others]),
d* = argmax_d R[k, d]; "others" are only the bins seen at least once (an empty bin has no mean
response). The training regulariser (`endodepth.train.selectivity`) uses the same functions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

from endodepth.errors import EndoDepthError
from endodepth.kinds import finite_positive

SPACINGS = ("sid", "uniform")
EPS = 1e-15
RANGE_PERCENTILES = (1.0, 99.0)  # the bin range: these percentiles of the first frames' valid depth


def depth_bin_edges(
    bins: int = 64, min_depth: float = 0.75, max_depth: float = 10.0, spacing: str = "sid"
) -> np.ndarray:
    """K+1 edges [0, alpha, ..., beta]: bin 0 is (0, alpha], the K-1 others cover (alpha, beta].

    "sid" (spacing-increasing, the reference's): t_{i+1} = exp(i ln(beta + 1 - alpha) / (K-1)) - (1 - alpha);
    "uniform": t_{i+1} = alpha + i (beta - alpha) / (K-1).
    """
    alpha, beta = float(min_depth), float(max_depth)
    if bins < 2:
        raise ValueError(f"need at least 2 depth bins, got {bins}")
    if not 0 < alpha < beta:
        raise ValueError(f"need 0 < min depth < max depth, got {alpha} and {beta}")
    i = np.arange(bins, dtype=np.float64)
    if spacing == "sid":
        inner = np.exp(i * np.log(beta + 1.0 - alpha) / (bins - 1)) - (1.0 - alpha)
    elif spacing == "uniform":
        inner = alpha + i * (beta - alpha) / (bins - 1)
    else:
        raise ValueError(f"unknown bin spacing {spacing!r}; use one of {', '.join(SPACINGS)}")
    inner[0], inner[-1] = alpha, beta
    return np.concatenate([[0.0], inner])


def bin_edges_from_depth(
    depths: Iterable[np.ndarray], bins: int, spacing: str = "sid",
    min_depth: float | None = None, max_depth: float | None = None,
) -> np.ndarray:
    """The one bin-range policy (`endodepth selectivity`, the trainer, the window): `bins` edges from
    `min_depth` to `max_depth`, each missing limit the RANGE_PERCENTILES percentile of the valid
    (finite, positive) values of `depths` (the first frames seen); EndoDepthError when none is valid."""
    if min_depth is None or max_depth is None:
        values = np.concatenate([np.asarray(d)[finite_positive(d)].ravel() for d in depths] + [np.zeros(0)])
        if values.size == 0:
            raise EndoDepthError("no valid depth to set the selectivity bin range; give the minimum and maximum depth")
        lo, hi = np.percentile(values, RANGE_PERCENTILES)
        min_depth = float(lo) if min_depth is None else min_depth
        max_depth = float(hi) if max_depth is None else max_depth
    try:
        return depth_bin_edges(bins, min_depth, max_depth, spacing)
    except ValueError as exc:
        raise EndoDepthError(f"depth bins: {exc}") from None


def depth_bins(depth: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
    """Bin index of every depth value (t_d < z <= t_{d+1}), -1 where NaN, z <= 0 or z > beta."""
    edges = edges.to(device=depth.device, dtype=depth.dtype)
    labels = torch.bucketize(depth, edges, right=False) - 1
    invalid = ~torch.isfinite(depth) | (depth <= 0) | (labels >= len(edges) - 1)
    return labels.masked_fill(invalid, -1)


def _taps(out_len: int, in_len: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Bilinear (align_corners=False) taps along one axis: two input indices per output index, weight of the 2nd."""
    src = ((torch.arange(out_len, dtype=torch.float64) + 0.5) * (in_len / out_len) - 0.5).clamp(min=0)
    i0 = src.floor().long().clamp(max=in_len - 1)
    return i0, (i0 + 1).clamp(max=in_len - 1), src - i0


@lru_cache(maxsize=8)
def _pixel_taps(height: int, width: int, h: int, w: int, device: str) -> tuple[torch.Tensor, torch.Tensor]:
    """For each pixel of an (h, w) map resized to (height, width): its 4 source pixels (flat) and their weights."""
    y0, y1, wy = _taps(height, h)
    x0, x1, wx = _taps(width, w)
    rows = torch.stack([y0 * w, y1 * w])[:, None, :, None]
    cols = torch.stack([x0, x1])[None, :, None, :]
    row_w = torch.stack([1 - wy, wy])[:, None, :, None]
    col_w = torch.stack([1 - wx, wx])[None, :, None, :]
    index = (rows + cols).reshape(4, height * width)
    weight = (row_w * col_w).reshape(4, height * width)
    return index.to(device), weight.to(device)


def bin_weights(labels: torch.Tensor, bins: int, size: tuple[int, int]) -> torch.Tensor:
    """(B, K, h*w) float64: how much each feature pixel contributes, once upsampled bilinearly to the
    labels' (B, H, W) grid, to the pixels of each depth bin.

    Upsampling is linear, so the per-bin sums of upsampled features are `features (C, h*w) @ weights.T`:
    exact, and far cheaper than upsampling every channel to full resolution.
    """
    batch, height, width = labels.shape
    h, w = size
    index, weight = _pixel_taps(height, width, h, w, str(labels.device))
    flat = labels.reshape(batch, 1, -1)
    offset = torch.arange(batch, device=labels.device).view(batch, 1, 1) * bins
    index = (offset + flat.clamp(min=0)) * (h * w) + index
    weight = weight * (flat >= 0)  # unlabelled pixels add nothing
    return torch.bincount(index.reshape(-1), weights=weight.reshape(-1), minlength=batch * bins * h * w).view(
        batch, bins, h * w
    )


def selectivity_index(responses: torch.Tensor, pick: torch.Tensor, seen: torch.Tensor) -> torch.Tensor:
    """DS per unit for (units, K) responses, with bin `pick[k]` in the "max" slot.

    Only bins marked `seen` enter the mean of the others; a unit whose picked bin is unseen, or
    that has no other seen bin, gets 0.
    """
    bins = responses.shape[1]
    chosen = responses.gather(1, pick[:, None])[:, 0]
    others = seen[None, :] & (torch.arange(bins, device=responses.device)[None, :] != pick[:, None])
    n_others = others.sum(1)
    masked = torch.where(others, responses, torch.zeros((), dtype=responses.dtype, device=responses.device))
    mean_others = masked.sum(1) / n_others.clamp(min=1)
    ds = (chosen - mean_others) / (chosen + mean_others + EPS)
    return torch.where(seen[pick] & (n_others > 0), ds, torch.zeros_like(ds))


def unit_map(features: np.ndarray, unit: int, size: tuple[int, int] | None = None) -> np.ndarray:
    """One unit's (h, w) response map as float32, upsampled to `size` (H, W) when given."""
    channel = torch.as_tensor(np.asarray(features[unit], dtype=np.float32))
    if size is not None and tuple(size) != tuple(channel.shape):
        channel = F.interpolate(channel[None, None], size=tuple(size), mode="bilinear", align_corners=False)[0, 0]
    return channel.numpy()


class SelectivityAccumulator:
    """Running per-bin response sums and pixel counts for named layers, fed one frame at a time.

    `analysis_size` (H, W), when given, brings the depth to that resolution (nearest) before the
    features are upsampled to it: cheaper for large frames, e.g. in the GUI.
    """

    def __init__(self, bin_edges: np.ndarray, analysis_size: tuple[int, int] | None = None) -> None:
        self.bin_edges = np.asarray(bin_edges, dtype=np.float64)
        if self.bin_edges.ndim != 1 or len(self.bin_edges) < 3 or np.any(np.diff(self.bin_edges) <= 0):
            raise ValueError("bin edges must be an increasing 1-D array of at least 3 values")
        self.analysis_size = None if analysis_size is None else (int(analysis_size[0]), int(analysis_size[1]))
        self._edges = torch.from_numpy(self.bin_edges).float()
        self.reset()

    def reset(self) -> None:
        """Forget everything accumulated (new file, new model)."""
        self._sums: dict[str, torch.Tensor] = {}
        self._counts: dict[str, torch.Tensor] = {}
        self.frames = 0

    @property
    def bins(self) -> int:
        """Number of depth bins K."""
        return len(self.bin_edges) - 1

    @property
    def layers(self) -> list[str]:
        """Layers seen so far, in the order they first arrived."""
        return list(self._sums)

    def update(self, features: Mapping[str, np.ndarray | torch.Tensor], depth: np.ndarray | torch.Tensor) -> None:
        """Add one frame: `features` maps layer -> (C, h, w) responses; `depth` (H, W), NaN/<=0 unknown."""
        z = depth.float() if torch.is_tensor(depth) else torch.from_numpy(np.asarray(depth, dtype=np.float32))
        if z.ndim != 2:
            raise ValueError(f"depth must be (H, W), got shape {tuple(z.shape)}")
        if self.analysis_size is not None and tuple(z.shape) != self.analysis_size:
            z = F.interpolate(z[None, None], size=self.analysis_size, mode="nearest")[0, 0]
        labels = depth_bins(z, self._edges)
        counts = torch.bincount(labels[labels >= 0], minlength=self.bins)
        weights: dict[tuple[int, int], torch.Tensor] = {}
        for layer, fmap in features.items():
            f = torch.as_tensor(fmap).float()
            if f.ndim != 3:
                raise ValueError(f"layer {layer!r}: features must be (C, h, w), got shape {tuple(f.shape)}")
            size = (int(f.shape[1]), int(f.shape[2]))
            if size not in weights:
                weights[size] = bin_weights(labels[None], self.bins, size)[0]
            sums = f.to(z.device, torch.float64).reshape(f.shape[0], -1) @ weights[size].T
            if layer not in self._sums:
                self._sums[layer] = torch.zeros(f.shape[0], self.bins, dtype=torch.float64)
                self._counts[layer] = torch.zeros(self.bins, dtype=torch.int64)
            elif self._sums[layer].shape[0] != f.shape[0]:
                raise ValueError(f"layer {layer!r} had {self._sums[layer].shape[0]} units, now {f.shape[0]}")
            self._sums[layer] += sums.cpu()
            self._counts[layer] += counts.cpu()
        self.frames += 1

    def counts(self, layer: str) -> np.ndarray:
        """Pixels seen per depth bin (K,) for `layer`."""
        return self._counts[layer].numpy().copy()

    def responses(self, layer: str) -> np.ndarray:
        """R (units, K): |mean response| per unit and depth bin; NaN for bins never seen."""
        counts = self._counts[layer]
        mean = self._sums[layer] / counts.clamp(min=1)
        return torch.where(counts > 0, mean.abs(), torch.tensor(float("nan"), dtype=torch.float64)).numpy()

    def selectivity(self, layer: str) -> tuple[np.ndarray, np.ndarray, float]:
        """(DS per unit, preferred bin per unit, mean DS of the layer)."""
        return selectivity_from_responses(self.responses(layer))

    def sorted_matrix(self, layer: str) -> tuple[np.ndarray, np.ndarray]:
        """(R with units sorted by preferred bin and each row divided by its maximum, the unit order)."""
        return sort_responses(self.responses(layer))


def selectivity_from_responses(responses: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(DS per unit, preferred bin per unit, mean DS) from R (units, K) with NaN for unseen bins."""
    r = torch.from_numpy(np.asarray(responses, dtype=np.float64))
    seen = ~torch.isnan(r).all(0)
    r = torch.nan_to_num(r, nan=0.0)
    if not bool(seen.any()):
        return np.zeros(len(r)), np.zeros(len(r), dtype=np.int64), 0.0
    preferred = torch.where(seen[None, :], r, torch.tensor(-1.0, dtype=r.dtype)).argmax(1)
    ds = selectivity_index(r, preferred, seen).numpy()
    return ds, preferred.numpy(), float(ds.mean()) if len(ds) else 0.0


def sort_responses(responses: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of R ordered by preferred bin (ties: more selective first; silent units last), each scaled to max 1."""
    ds, preferred, _ = selectivity_from_responses(responses)
    r = np.asarray(responses, dtype=np.float64)
    peak = np.nan_to_num(r, nan=0.0).max(axis=1)
    order = np.lexsort((-ds, preferred, peak == 0))
    return r[order] / np.where(peak > 0, peak, 1.0)[order, None], order
