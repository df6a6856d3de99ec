"""The book's sources hold no control characters.

A LaTeX command written inside an ordinary Python string loses its backslash to an escape
(``"\\tau"`` becomes a tab and ``au``, ``"\\rvert"`` a carriage return, ``"\\big"`` a backspace);
MathJax then shows an error or silently renders the wrong symbol. This check finds them at once.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted([*ROOT.glob("book/**/*.md"), *ROOT.glob("notebooks/*.md"), ROOT / "README.md",
                  ROOT / "CONTRIBUTING.md"])
CONTROL = re.compile(rb"[\x00-\x09\x0b-\x1f\x7f]")  # all but the newline


def test_there_are_sources():
    assert len(SOURCES) > 10


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_control_characters(path):
    raw = path.read_bytes()
    bad = [(raw.count(b"\n", 0, m.start()) + 1, m.group()) for m in CONTROL.finditer(raw)]
    assert bad == [], f"{path.relative_to(ROOT)}: control characters (line, byte) {bad[:5]}"
