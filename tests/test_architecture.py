"""Layering rules from DESIGN.md, checked on the import statements of every module."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
QT = {"PySide6", "pyqtgraph", "OpenGL"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _modules(folder: str, exclude: str | None = None) -> list[Path]:
    return [p for p in (ROOT / folder).rglob("*.py") if exclude is None or exclude not in p.parts]


@pytest.mark.parametrize("path", _modules("app", exclude="qt") + _modules("models"), ids=str)
def test_core_does_not_import_qt(path):
    assert not {n for n in _imports(path) if n.split(".")[0] in QT}


@pytest.mark.parametrize("path", _modules("models"), ids=str)
def test_models_know_nothing_of_the_app(path):
    allowed = {"endodepth.models", "endodepth.errors", "endodepth.kinds", "endodepth.io.atomic"}
    bad = {n for n in _imports(path) if n.startswith("endodepth") and not any(n.startswith(a) for a in allowed)}
    assert not bad, bad


def test_the_rule_sees_a_violation(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from PySide6 import QtCore\nimport pyqtgraph as pg\n")
    assert {"PySide6", "pyqtgraph"} <= _imports(bad)
