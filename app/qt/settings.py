"""Persistent preferences (QSettings, ViewerState as JSON) and session files (state, position, views, measurements)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PySide6 import QtCore

from endodepth.errors import InputError
from endodepth.io.atomic import atomic_write

ORGANIZATION = "EndoDepth"
APPLICATION = "endodepth-gui"
MAX_RECENT = 10
SESSION_VERSION = 1


def settings() -> QtCore.QSettings:
    """The application's QSettings (organisation and application names set once here)."""
    return QtCore.QSettings(ORGANIZATION, APPLICATION)


def read_value(store: QtCore.QSettings, key: str, default: Any) -> Any:
    """A stored value converted to the type of `default` (QSettings returns strings on some platforms)."""
    value = store.value(key, default)
    if value is None:
        return default
    if isinstance(default, bool):
        return value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes")
    if isinstance(default, (int, float)) and not isinstance(value, type(default)):
        try:
            return type(default)(value)
        except (TypeError, ValueError):
            return default
    if isinstance(default, list) and not isinstance(value, list):
        return [value] if value else []
    return value


def saved_state(store: QtCore.QSettings) -> dict:
    """The ViewerState dump kept in the settings ({} when none or unreadable)."""
    try:
        data = json.loads(str(read_value(store, "viewer", "{}")))
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


RECENT_FILES, RECENT_MODELS = "recent", "recent_models"  # the keys of the two recent lists


def recent_files(store: QtCore.QSettings, key: str = RECENT_FILES) -> list[str]:
    """Most recent first (opened files, or with RECENT_MODELS the checkpoints adapted or loaded)."""
    return [str(p) for p in read_value(store, key, [])]


def recent_layouts(store: QtCore.QSettings) -> dict[str, str]:
    """Recent file -> the stereo layout it was opened with (files opened with auto-detection are absent)."""
    try:
        data = json.loads(str(read_value(store, "recent_layouts", "{}")))
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def add_recent(store: QtCore.QSettings, path: str | Path, layout: str | None = None,
               key: str = RECENT_FILES) -> list[str]:
    """Put `path` first in the recent list `key` (no duplicates, at most MAX_RECENT) and return the list;
    for opened files, remember the stereo layout it was opened with."""
    path = str(Path(path).resolve())
    items = ([path] + [p for p in recent_files(store, key) if p != path])[:MAX_RECENT]
    store.setValue(key, items)
    if key == RECENT_FILES:
        layouts = {p: v for p, v in recent_layouts(store).items() if p in items and p != path}
        if layout:
            layouts[path] = layout
        store.setValue("recent_layouts", json.dumps(layouts))
    return items


def save_session(path: str | Path, session: dict) -> Path:
    """Write a session dict as JSON, atomically (temp name in the same folder, then rename)."""
    path = Path(path)
    with atomic_write(path) as tmp:
        tmp.write_text(json.dumps({"version": SESSION_VERSION, **session}, indent=2))
    return path


def load_session(path: str | Path) -> dict:
    """Read a session written by `save_session`; raises InputError when it is not one."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise InputError(path, f"not a session file ({exc})") from None
    if not isinstance(data, dict) or data.get("version") != SESSION_VERSION:
        raise InputError(path, f"not an EndoDepth session (version {SESSION_VERSION} expected)")
    return data
