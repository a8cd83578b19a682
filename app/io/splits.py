"""SCARED split files (`datasetN/keyframeM INDEX l|r`) and the source of exactly the frames they name."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from endodepth.errors import InputError
from endodepth.frame import Frame
from endodepth.io.keyframes import open_keyframe
from endodepth.io.scared import SCENE_NAME
from endodepth.io.source import Source


@dataclass(frozen=True)
class SplitEntry:
    """One line of a SCARED split file: `datasetN/keyframeM<TAB>index<TAB>l` with a 1-based index."""

    dataset: int
    keyframe: int
    index: int
    side: str = "l"

    @property
    def gt_name(self) -> str:
        """The ground-truth file of this entry: scene_points{index-1:06d}.tiff."""
        return SCENE_NAME.format(self.index - 1)


_SPLIT_LINE = re.compile(r"dataset_?(\d+)/keyframe_?(\d+)\s+(\d+)(?:\s+([lr]))?")


def read_split(path: str | Path) -> list[SplitEntry]:
    """Entries of a split file; a line that is not `datasetN/keyframeM INDEX [l|r]` -> InputError."""
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(path, f"cannot be read as a split file ({exc})") from None
    entries = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        m = _SPLIT_LINE.fullmatch(line.strip())
        if m is None:
            raise InputError(
                path, f"line {n}: expected 'datasetN/keyframeM<TAB>INDEX<TAB>l|r', found {line!r}"
            )
        if int(m[3]) < 1:
            raise InputError(path, f"line {n}: frame index must be 1-based (>= 1), found {m[3]}")
        entries.append(SplitEntry(int(m[1]), int(m[2]), int(m[3]), m[4] or "l"))
    if not entries:
        raise InputError(path, "split file has no entries")
    return entries


class SplitSource(Source):
    """The frames a split names, in the split's order, from SCARED keyframes or an AF-SfMLearner tree."""

    def __init__(self, root: str | Path, entries: Sequence[SplitEntry]):
        super().__init__(root)
        self.entries = list(entries)
        self._keyframes: dict[tuple[int, int, str], Source] = {}
        self._items = [self._locate(e) for e in self.entries]
        parts = list(self._keyframes.values())
        if not parts:
            raise InputError(self.path, "split selects no frames")
        self.kind = "afsfm" if all(p.kind == "afsfm" for p in parts) else "scared-dataset"
        self.fps, self.size, self.intrinsics = parts[0].fps, parts[0].size, parts[0].intrinsics
        self.has_ground_truth = all(p.has_ground_truth for p in parts)
        self.intrinsics_assumed = any(p.intrinsics_assumed for p in parts)

    def _locate(self, e: SplitEntry) -> tuple[Source, int]:
        key = (e.dataset, e.keyframe, e.side)
        if key not in self._keyframes:
            folders = [
                self.path / f"dataset{e.dataset}" / f"keyframe{e.keyframe}",
                self.path / f"dataset_{e.dataset}" / f"keyframe_{e.keyframe}",
            ]
            source = next(
                (s for s in (open_keyframe(f, e.side) for f in folders if f.is_dir()) if s is not None), None
            )
            if source is None:
                raise InputError(self.path, f"keyframe dataset{e.dataset}/keyframe{e.keyframe} not found")
            self._keyframes[key] = source
        source = self._keyframes[key]
        return source, source.position(e.index - 1)

    def __len__(self) -> int:
        return len(self._items)

    def locate(self, i: int) -> tuple[Source, int]:
        """The keyframe source holding entry `i` and the frame's position within it (for its neighbours)."""
        self._check_index(i)
        return self._items[i]

    def frame(self, i: int) -> Frame:
        source, j = self.locate(i)
        return source.frame(j)

    def close(self) -> None:
        for s in self._keyframes.values():
            s.close()


def split_source(root: str | Path, entries: Sequence[SplitEntry] | str | Path) -> SplitSource:
    """A source of exactly the frames of a split (entries, or a split file path) under `root`."""
    if isinstance(entries, (str, Path)):
        entries = read_split(entries)
    return SplitSource(root, entries)
