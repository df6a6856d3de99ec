"""The whole book, built with the ``ci`` profile the way ``make book PROFILE=ci`` builds it.

The session fixture :func:`ci_book` is shared with ``test_browser.py``: the build runs once per
pytest run (a marker file keyed by the run's private cache folder lets a second importer reuse it).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from clipbias.publish import build_book, read_glued, toc_notebooks
from clipbias.viz import BUNDLE_NAME

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "book" / "_build" / "html"
MARKER = ROOT / "book" / "_build" / ".clipbias-test-build.json"


@dataclass(frozen=True)
class BookBuild:
    """Outcome of one ``python -m clipbias book --profile ci`` run."""

    returncode: int
    output: str
    html: Path


def _build_ci_book() -> BookBuild:
    run_id = os.environ["CLIPBIAS_CACHE"]  # a fresh folder per pytest run (tests/conftest.py)
    if MARKER.is_file():
        recorded = json.loads(MARKER.read_text(encoding="utf-8"))
        if recorded["run_id"] == run_id:
            return BookBuild(recorded["returncode"], recorded["output"], HTML)
    proc = subprocess.run(
        [sys.executable, "-m", "clipbias", "book", "--profile", "ci"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = proc.stdout + proc.stderr
    MARKER.parent.mkdir(parents=True, exist_ok=True)
    MARKER.write_text(
        json.dumps({"run_id": run_id, "returncode": proc.returncode, "output": output[-20000:]}),
        encoding="utf-8",
    )
    return BookBuild(proc.returncode, output, HTML)


@pytest.fixture(scope="session")
def ci_book() -> BookBuild:
    """The book built once with the ci profile into ``book/_build/html``."""
    return _build_ci_book()


def _page(docname: str) -> Path:
    return HTML / f"{docname}.html"


@pytest.mark.slow
def test_book_builds_without_warnings(ci_book: BookBuild) -> None:
    assert ci_book.returncode == 0, ci_book.output[-5000:]
    assert not re.search(r"WARNING: ", ci_book.output)  # Sphinx's warning format
    assert re.search(r"\[\d+/\d+\] .*pipeline_check\.md \(ci\)", ci_book.output)
    assert re.search(r"done in \d+\.\d s", ci_book.output)


@pytest.mark.slow
def test_every_page_of_the_toc_is_rendered(ci_book: BookBuild) -> None:
    assert ci_book.returncode == 0, ci_book.output[-5000:]
    for docname in ["book/intro", "book/rerun", "book/methods/index", "book/references"]:
        assert _page(docname).is_file(), docname
    for notebook in toc_notebooks(ROOT):
        assert _page(f"book/executed/{notebook.name}").is_file(), notebook.name
    assert (HTML / "index.html").is_file()


@pytest.mark.slow
def test_charts_are_served_from_the_books_own_files(ci_book: BookBuild) -> None:
    assert ci_book.returncode == 0, ci_book.output[-5000:]
    page = _page("book/executed/pipeline_check").read_text(encoding="utf-8")
    assert (HTML / "_static" / BUNDLE_NAME).stat().st_size > 100_000
    assert f"_static/{BUNDLE_NAME}" in page
    assert 'class="clipbias-chart"' in page
    scripts = re.findall(r'<script[^>]*\ssrc="([^"]+)"', page)
    assert scripts and not [s for s in scripts if s.startswith(("http:", "https:", "//"))]


@pytest.mark.slow
def test_glued_numbers_are_printed_in_the_page(ci_book: BookBuild) -> None:
    assert ci_book.returncode == 0, ci_book.output[-5000:]
    glued = read_glued(ROOT / "book" / "executed" / "pipeline_check.ipynb")
    text = _page("book/executed/pipeline_check").read_text(encoding="utf-8")
    for key in ["mean_planted", "mean_neutral", "gap", "expected_planted"]:
        assert f"{glued[key]:.3f}" in text, key
    assert glued["gap"] > 0.25  # the planted pull (shift 0.5) is recovered even with n = 50


@pytest.mark.slow
def test_references_page_lists_the_bibliography(ci_book: BookBuild) -> None:
    assert ci_book.returncode == 0, ci_book.output[-5000:]
    text = _page("book/references").read_text(encoding="utf-8")
    for title in ["Semantics derived automatically", "Permutation", "OpenCLIP"]:
        assert title in text, title


@pytest.mark.slow
def test_a_warning_fails_the_build(tmp_path: Path) -> None:
    (tmp_path / "_config.yml").write_text(
        "title: t\nonly_build_toc_files: true\nexecute:\n  execute_notebooks: 'off'\n",
        encoding="utf-8",
    )
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: index\n", encoding="utf-8")
    (tmp_path / "index.md").write_text(
        textwrap.dedent(
            """\
            # Index

            A reference to {doc}`a-page-that-does-not-exist`.
            """
        ),
        encoding="utf-8",
    )
    assert build_book(tmp_path, build_dir=tmp_path / "out") != 0
