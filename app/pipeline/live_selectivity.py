"""The viewer's running neuron selectivity: one layer of the primary model accumulated over the frames
shown, with the bin range set by the one policy (`bin_edges_from_depth`) on the first frame.

Depth that defines the bins: the frame's ground truth when it has one, else the prediction (scaled
to mm when a scale is known), NaN outside the valid pixels. With the same bins, spacing and analysis
size, the numbers equal `endodepth selectivity --batch 1` on the same frames.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from endodepth.analysis.selectivity import SelectivityAccumulator, bin_edges_from_depth, sort_responses, unit_map
from endodepth.errors import EndoDepthError
from endodepth.kinds import unit_of
from endodepth.pipeline.processing import FrameResult
from endodepth.vis.activation import activation_overlay
from endodepth.vis.resample import display_step

BINS = 32
SPACING = "uniform"
ANALYSIS_SIZE = (96, 120)  # (H, W) the depth and features are brought to
MAP_WIDTH = 320  # pixels across of the frame and activation map prepared for the small pane


def no_layers_note(needs_stereo: bool) -> str:
    """The one line the selectivity view shows for a model without layers (stereo matching is geometry)."""
    return ("stereo matching has no network layers to analyse" if needs_stereo
            else "this model exposes no layers to analyse")


@dataclass
class SelectivitySnapshot:
    """What was accumulated for one layer, ready to draw."""

    layer: str
    matrix: np.ndarray          # (units, bins) responses sorted by preferred bin, rows scaled to max 1
    order: np.ndarray           # unit index of each matrix row
    selectivity: np.ndarray     # DS per unit (original unit order)
    mean: float
    frames: int
    bin_edges: np.ndarray
    unit: str
    activation: np.ndarray | None  # (h, w) map of the shown unit on the current frame, at `frame`'s size
    shown_unit: int
    frame: np.ndarray | None = None    # (h, w, 3) uint8 frame at most MAP_WIDTH across
    overlay: np.ndarray | None = None  # activation_overlay(activation)


class LiveSelectivity:
    """Accumulates one layer of one model frame by frame; `update` returns the snapshot to draw.

    Thread-safe: the layer and unit may change from any thread while frames are added."""

    def __init__(self, bins: int = BINS, spacing: str = SPACING,
                 analysis_size: tuple[int, int] | None = ANALYSIS_SIZE) -> None:
        self.bins, self.spacing, self.analysis_size = bins, spacing, analysis_size
        self._lock = threading.Lock()
        self._layer: str | None = None
        self._unit = -1
        self._accumulator: SelectivityAccumulator | None = None
        self._depth_unit = "relative"

    @property
    def layer(self) -> str | None:
        """The layer being accumulated (None: none)."""
        return self._layer

    def set_layer(self, layer: str | None) -> bool:
        """Accumulate `layer` from the next frame on; True (and accumulation restarts) when it changed."""
        with self._lock:
            if layer == self._layer:
                return False
            self._layer, self._accumulator = layer, None
            return True

    def set_unit(self, unit: int) -> None:
        """The unit whose map is shown (-1: the most selective)."""
        self._unit = int(unit)

    def reset(self) -> None:
        """Start accumulating again (new file or models)."""
        with self._lock:
            self._accumulator = None

    def depth(self, result: FrameResult, model: str, scale: float | None) -> tuple[np.ndarray, str]:
        """The depth that defines the bins on this frame (at the frame's resolution) and its unit."""
        gt, valid = result.frame.gt_depth, result.frame_valid
        if gt is not None:
            return np.where(valid, gt, np.nan), "mm"
        depth = result.full_depth(model) * (1.0 if scale is None else scale)
        return np.where(valid, depth, np.nan), unit_of(result.results[model].kind, scale is not None)

    def update(self, result: FrameResult, model: str, scale: float | None = None) -> SelectivitySnapshot | None:
        """Add `model`'s features of the layer on this frame; None while there is nothing to show."""
        with self._lock:
            layer, unit_choice = self._layer, self._unit
            res = result.results.get(model)
            if layer is None or res is None or layer not in res.features or res.features[layer].ndim != 3:
                return None
            features = res.features[layer]
            depth, unit = self.depth(result, model, scale)
            if self._accumulator is None:
                try:
                    edges = bin_edges_from_depth([depth], self.bins, self.spacing)
                except EndoDepthError:
                    return None  # a frame with no valid depth: the range is set on a later one
                self._accumulator = SelectivityAccumulator(edges, analysis_size=self.analysis_size)
                self._depth_unit = unit
            acc = self._accumulator
            acc.update({layer: features}, depth)
            matrix, order = sort_responses(acc.responses(layer))
            ds, _, mean = acc.selectivity(layer)
            shown = int(np.argmax(ds)) if unit_choice < 0 or unit_choice >= len(ds) else unit_choice
            step = display_step(result.frame.rgb.shape[1], MAP_WIDTH)
            frame = np.ascontiguousarray(result.frame.rgb[::step, ::step])
            activation = unit_map(features, shown, frame.shape[:2])
            return SelectivitySnapshot(layer, matrix, order, ds, mean, acc.frames, acc.bin_edges, self._depth_unit,
                                       activation, shown, frame, activation_overlay(activation))
