"""Which models fit a source: models that need a stereo pair (their card's `needs_stereo`) are offered
only for stereo sources, a mono source falls back to the default model with one notice, and on a
stereo source without ground truth the compared models are measured against stereo depth."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache

from endodepth.models import available, spec

STEREO_REFERENCE = "stereo"  # the model run as the comparison's reference on a stereo source


@lru_cache(maxsize=1)
def stereo_models() -> frozenset[str]:
    """Registered models that need stereo frames (read once from their cards)."""
    return frozenset(name for name in available() if _card_says_stereo(name))


def _card_says_stereo(name: str) -> bool:
    """The card's `needs_stereo`; a model whose card cannot be built counts as monocular (building it
    for real then fails with its own message, where the user chose it)."""
    try:
        return spec(name).card.needs_stereo
    except Exception:
        return False


def needs_stereo(name: str) -> bool:
    """Whether `name` is a registered model that needs stereo frames (a checkpoint path: False)."""
    return name in stereo_models()


def offered(names: Iterable[str], stereo_source: bool) -> list[str]:
    """The models one may choose for a source: every one on a stereo source, the monocular ones otherwise."""
    return [n for n in names if stereo_source or not needs_stereo(n)]


def fit_to_source(models: Sequence[str], compared: Sequence[str], stereo_source: bool, default: str
                  ) -> tuple[list[str], list[str], str | None]:
    """`models` and `compared` without the stereo ones when the source is mono (the primary becomes
    `default` when none is left), and the one-line notice saying so (None when nothing changed)."""
    dropped = [] if stereo_source else [m for m in dict.fromkeys([*models, *compared]) if needs_stereo(m)]
    if not dropped:
        return list(models), list(compared), None
    kept = [m for m in models if not needs_stereo(m)] or [default]
    names = ", ".join(f"'{m}'" for m in dropped)
    notice = (f"{names} needs a stereo source (left and right views with a calibration) and this one is mono: "
              f"showing '{kept[0]}'")
    return kept, [m for m in compared if not needs_stereo(m)], notice


def comparison_reference(compared: Sequence[str], stereo_source: bool, ground_truth: bool = False) -> str | None:
    """What the compared models are measured against on a frame without ground truth: the first compared
    stereo model, else `STEREO_REFERENCE` on a stereo source without ground truth (run beside them);
    None when neither."""
    if not compared:
        return None
    reference = next((m for m in compared if needs_stereo(m)), None)
    return reference or (STEREO_REFERENCE if stereo_source and not ground_truth else None)


UNTRAINED = "untrained"


def is_untrained(name: str) -> bool:
    """A registered learned model that `create(name)` builds without trained weights (a checkpoint path: False)."""
    if name not in available():
        return False
    try:
        return not spec(name).trained
    except Exception:  # a card that cannot be built: building the model then says why
        return False


def listed_name(name: str, shown: str | None = None) -> str:
    """How a model list shows a model (`shown`: its display name): untrained ones say so."""
    shown = shown or name
    return f"{shown} ({UNTRAINED})" if is_untrained(name) else shown


def untrained_note(name: str) -> str | None:
    """The status line when an untrained model becomes the main model, or None for a trained one."""
    if not is_untrained(name):
        return None
    return (f"{name} is untrained: no weights, its depth comes from random initial weights "
            "(Model > Load checkpoint... opens trained ones)")
