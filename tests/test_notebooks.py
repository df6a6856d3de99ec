"""Every study notebook listed in ``_toc.yml`` runs with the ``ci`` profile through papermill.

The list is read from the table of contents at collection time, so a notebook added to the toc
(and to the profiles and budgets) is tested without touching this file. Each notebook is executed
once per test session by the ``ci_notebooks`` fixture (tests/conftest.py), shared with the book
test. For each one the test checks that every value the prose pastes with ``{glue...}`` was glued,
and that numeric formats get numbers.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from clipbias.publish import read_glued, toc_notebooks

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = toc_notebooks(ROOT)

# {glue}`key`, {glue:text}`key:.2f`, ... and ```{glue:figure} key
GLUE_ROLE = re.compile(r"\{glue(?::\w+)?\}`([^`:]+)(?::([^`]*))?`")
GLUE_DIRECTIVE = re.compile(r"^[`:]{3,}\{glue(?::\w+)?\}\s+(\S+)", re.MULTILINE)
NUMERIC_FORMAT = re.compile(r"[bcdoxXeEfFgGn%]$")


def glue_references(markdown: str) -> dict[str, str]:
    """``{key: format spec}`` for every glue role and directive in a MyST source."""
    refs = {key: spec or "" for key, spec in GLUE_ROLE.findall(markdown)}
    refs.update({key: "" for key in GLUE_DIRECTIVE.findall(markdown)})
    return refs


def test_glue_references_parser() -> None:
    text = "a {glue:text}`x:.2f` b {glue}`y` c\n```{glue:figure} fig\n```\n"
    assert glue_references(text) == {"x": ".2f", "y": "", "fig": ""}


def test_the_toc_lists_at_least_the_pipeline_check() -> None:
    assert "pipeline_check" in [nb.stem for nb in NOTEBOOKS]


@pytest.mark.slow
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[nb.stem for nb in NOTEBOOKS])
def test_notebook_runs_with_ci_profile(notebook, ci_notebooks) -> None:
    executed = ci_notebooks.executed(notebook.stem)
    assert executed.parent == ci_notebooks.folder  # the session's one execution
    glued = read_glued(executed)
    refs = glue_references(notebook.source.read_text(encoding="utf-8"))
    assert refs, f"{notebook.source} pastes no glued value into its prose"
    missing = sorted(set(refs) - set(glued))
    assert not missing, f"{notebook.source}: prose uses glue keys never glued: {missing}"
    for key, spec in refs.items():
        if NUMERIC_FORMAT.search(spec):
            value = glued[key]
            assert isinstance(value, int | float) and not isinstance(value, bool), (
                f"{key!r} is formatted as a number ({spec}) but glued as {value!r}: "
                "glue a Python int or float"
            )
