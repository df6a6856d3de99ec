"""The layer rule: inside clipbias, imports only point down.

The levels live in one place, the table between ``<!-- layers:begin -->`` and
``<!-- layers:end -->`` in ``CONTRIBUTING.md`` at the repository root; this test reads them from
there. A module may import its own subpackage and any lower level, never a level beside or above
it. Imports inside functions count too.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIB = ROOT / "lib" / "clipbias"
CONTRIBUTING = ROOT / "CONTRIBUTING.md"


def read_levels(text: str) -> dict[str, int]:
    """Unit -> level from the markdown table between the ``layers`` markers of ``text``.

    Each row reads ``| level | `unit`, `unit` | description |``; raises ``ValueError`` when the
    markers or the rows are missing or a unit is listed twice.
    """
    match = re.search(r"<!-- layers:begin -->(.*?)<!-- layers:end -->", text, re.S)
    if match is None:
        raise ValueError("CONTRIBUTING.md has no <!-- layers:begin --> ... <!-- layers:end --> "
                         "table; restore it (tests/test_layers.py reads the levels from it)")
    levels: dict[str, int] = {}
    for line in match.group(1).splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) < 2 or not cells[0].isdigit():
            continue
        for unit in re.findall(r"`([A-Za-z_][A-Za-z0-9_]*)`", cells[1]):
            if unit in levels:
                raise ValueError(f"unit {unit!r} is listed twice in the layer table")
            levels[unit] = int(cells[0])
    if not levels:
        raise ValueError("the layer table in CONTRIBUTING.md has no rows of the form "
                         "| level | `unit`, ... | description |")
    return levels


LEVELS = read_levels(CONTRIBUTING.read_text())


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


def test_table_reader_rejects_a_missing_table() -> None:
    with pytest.raises(ValueError, match="layers:begin"):
        read_levels("# no table here\n")


def test_table_reader_reads_rows() -> None:
    text = ("<!-- layers:begin -->\n| level | units | what |\n|---|---|---|\n"
            "| 0 | `paths`, `checks` | helpers |\n| 4 | `metrics` | kernels |\n"
            "<!-- layers:end -->\n")
    assert read_levels(text) == {"paths": 0, "checks": 0, "metrics": 4}


def test_interventions_sit_above_metrics() -> None:
    assert LEVELS["interventions"] > LEVELS["metrics"]


def test_every_unit_has_a_level() -> None:
    units = {_unit(p.relative_to(LIB).parts) for p in MODULES}
    assert units <= set(LEVELS), (f"add {sorted(units - set(LEVELS))} to the layer table in "
                                  "CONTRIBUTING.md")


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(LIB)))
def test_imports_point_down(path: Path) -> None:
    own = _unit(path.relative_to(LIB).parts)
    wrong = sorted(unit for unit in _clipbias_imports(path)
                   if unit != own and LEVELS.get(unit, 99) >= LEVELS[own])
    assert wrong == [], f"{own} (level {LEVELS[own]}) imports {wrong}"


def test_the_loaded_model_record_is_a_leaf() -> None:
    """``clipbias.loaded_model`` loads neither the zoo package nor open_clip (issue 9)."""
    code = ("import sys, clipbias.loaded_model; "
            "print(sorted(m for m in ('open_clip', 'clipbias.zoo', 'clipbias.embed') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
