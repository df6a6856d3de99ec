"""The layer rule of DESIGN.md: inside clipbias, imports only point down.

Levels, bottom to top: shared helpers (paths, atomic, progress); data; zoo; embed; metrics and
interventions; viz and studies; publish (the book tooling). A module may import its own
subpackage and any lower level, never a level beside or above it. Imports inside functions
count too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

LIB = Path(__file__).resolve().parents[1] / "lib" / "clipbias"

LEVELS: dict[str, int] = {
    "paths": 0, "atomic": 0, "progress": 0,
    "data": 1,
    "zoo": 2,
    "embed": 3,
    "metrics": 4, "interventions": 4,
    "viz": 5, "studies": 5,
    "publish": 6,
}


def _unit(module_parts: tuple[str, ...]) -> str:
    """The layer unit of ``clipbias.<unit>...``."""
    return module_parts[0].removesuffix(".py")


def _clipbias_imports(path: Path) -> set[str]:
    """Units of clipbias imported anywhere in ``path``."""
    units = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        for name in names:
            parts = name.split(".")
            if parts[0] == "clipbias" and len(parts) > 1:
                units.add(parts[1])
    return units


MODULES = sorted(p for p in LIB.rglob("*.py")
                 if p.relative_to(LIB).parts[0] not in ("__init__.py", "__main__.py"))


def test_every_unit_has_a_level() -> None:
    units = {_unit(p.relative_to(LIB).parts) for p in MODULES}
    assert units <= set(LEVELS), f"add {sorted(units - set(LEVELS))} to LEVELS"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(LIB)))
def test_imports_point_down(path: Path) -> None:
    own = _unit(path.relative_to(LIB).parts)
    wrong = sorted(unit for unit in _clipbias_imports(path)
                   if unit != own and LEVELS.get(unit, 99) >= LEVELS[own])
    assert wrong == [], f"{own} (level {LEVELS[own]}) imports {wrong}"
