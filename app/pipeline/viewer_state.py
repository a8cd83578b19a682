"""What the viewer shows and how, in one Qt-free object: the file (with its stereo layout choice and
whether it is a stereo pair), the models (primary first), the compared models (and the stereo
reference they are measured against without ground truth), the device, scaling to ground truth,
MC-dropout samples, the analyses computed, the selectivity layer and unit, and the post-processing
options.

It changes only through its methods; each change calls every listener with the name of the field
that changed (the GUI's worker re-emits it as a Qt signal). Sessions and settings are `dump()`
and `load()` of it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from endodepth.pipeline.processing import PostOptions
from endodepth.pipeline.source_models import comparison_reference
from endodepth.pipeline.views import range_policy_factory

ANALYSES = ("selectivity", "comparison")
SAVED_POST = ("max_points", "specular", "colormap")  # the PostOptions a dump keeps (the range policy is the view's)


DISPLAY_WIDTH = 640  # pixels across of the viewer's depth, masks and colours (twice a half-screen dock)


def default_post() -> PostOptions:
    """The viewer's post-processing: colours with the global range policy, on the display grid."""
    return PostOptions(colormap="turbo", range_policy=range_policy_factory("global"), display_width=DISPLAY_WIDTH)


@dataclass
class ViewerState:
    """The viewer's settings; change them with the `set_*` methods and `configure`."""

    file: str | None = None
    layout: str | None = None  # the file's stereo layout choice (endodepth.io.stereo.LAYOUT_CHOICES; None: detect)
    stereo_source: bool = False  # the opened source's frames are stereo pairs
    ground_truth: bool = False  # the opened source has ground truth (the comparison's reference then)
    models: list[str] = field(default_factory=list)
    compared: list[str] = field(default_factory=list)
    device: str = "auto"
    align_to_gt: bool = True
    mc_samples: int = 1
    analyses: frozenset[str] = frozenset(ANALYSES)
    selectivity_layer: str | None = None
    selectivity_unit: int = -1
    post: PostOptions = field(default_factory=default_post)
    listeners: list[Callable[[str], None]] = field(default_factory=list, repr=False, compare=False)

    @property
    def primary(self) -> str:
        """The model the main views show ("" before any)."""
        return self.models[0] if self.models else ""

    @property
    def reference(self) -> str | None:
        """The model the compared ones are measured against on frames without ground truth, while the
        comparison is computed (source_models.comparison_reference)."""
        if "comparison" not in self.analyses:
            return None
        return comparison_reference(self.compared, self.stereo_source, self.ground_truth)

    @property
    def running(self) -> list[str]:
        """Every model to run: the primary ones, then the compared ones and the reference not among them."""
        extra = [*self.compared, *([self.reference] if self.reference else [])]
        return self.models + [m for m in dict.fromkeys(extra) if m not in self.models]

    def set_file(self, path: str | None, layout: str | None = None, stereo_source: bool = False,
                 ground_truth: bool = False) -> None:
        """The opened file or folder, the stereo layout it was opened with, whether it is a stereo pair and
        whether it has ground truth."""
        self._set("layout", layout)
        self._set("stereo_source", bool(stereo_source))
        self._set("ground_truth", bool(ground_truth))
        self._set("file", None if path is None else str(path))

    def set_models(self, models: Iterable[str], device: str | None = None) -> None:
        """The models (first: primary; duplicates and blanks dropped) and, when given, the device."""
        self._set("models", [m for m in dict.fromkeys(models) if m])
        if device is not None:
            self._set("device", str(device))

    def set_compared(self, models: Iterable[str]) -> None:
        """The models the comparison view shows."""
        self._set("compared", [m for m in models if m])

    def set_align_to_gt(self, on: bool) -> None:
        """Median-scale relative depth to ground truth (mm) when the source has it."""
        self._set("align_to_gt", bool(on))

    def set_mc_samples(self, samples: int) -> None:
        """Monte-Carlo dropout passes per frame (1: off)."""
        self._set("mc_samples", max(1, int(samples)))

    def set_analyses(self, analyses: Iterable[str]) -> None:
        """The analyses to compute (those whose views are shown), of ANALYSES."""
        self._set("analyses", frozenset(analyses) & frozenset(ANALYSES))

    def set_selectivity_layer(self, layer: str | None) -> None:
        """The layer whose selectivity is accumulated (None: none)."""
        self._set("selectivity_layer", layer)

    def set_selectivity_unit(self, unit: int) -> None:
        """The unit whose map is shown (-1: the most selective)."""
        self._set("selectivity_unit", int(unit))

    def configure(self, **changes) -> None:
        """Change PostOptions fields (colormap, range_policy, max_points, specular, fov)."""
        post = dataclasses.replace(self.post, **changes)
        if post != self.post:
            self.post = post
            self._notify("post")

    def dump(self) -> dict:
        """The state as JSON-ready values (a session, the settings)."""
        return {"file": self.file, "layout": self.layout, "models": list(self.models), "compare": list(self.compared),
                "device": self.device, "align_to_gt": self.align_to_gt, "mc_samples": self.mc_samples,
                "selectivity_layer": self.selectivity_layer, "selectivity_unit": self.selectivity_unit,
                "post": {k: getattr(self.post, k) for k in SAVED_POST}}

    def load(self, data: Mapping) -> None:
        """Restore what `dump` wrote (missing keys keep their value), through the setters; the file and
        its layout are not set here (they are set once it opened)."""
        if "device" in data:
            self._set("device", str(data["device"]))
        if "compare" in data:
            self.set_compared(str(m) for m in data["compare"] or [])
        if data.get("models"):
            self.set_models(str(m) for m in data["models"])
        if "align_to_gt" in data:
            self.set_align_to_gt(data["align_to_gt"])
        if "mc_samples" in data:
            self.set_mc_samples(data["mc_samples"])
        if data.get("selectivity_layer"):
            self.set_selectivity_layer(str(data["selectivity_layer"]))
        if "selectivity_unit" in data:
            self.set_selectivity_unit(data["selectivity_unit"])
        post = {k: v for k, v in (data.get("post") or {}).items() if k in SAVED_POST}
        if post:
            self.configure(**post)

    def _set(self, name: str, value) -> None:
        if getattr(self, name) != value:
            setattr(self, name, value)
            self._notify(name)

    def _notify(self, name: str) -> None:
        for listener in list(self.listeners):
            listener(name)
