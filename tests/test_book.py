"""The whole book, built with the ``ci`` profile the way ``make book PROFILE=ci`` builds it.

The session fixture ``ci_book`` (tests/conftest.py) builds it once per pytest run from the ci
notebooks the session executed once (``ci_notebooks``), with ``--skip-execute``; the browser tests
share the same build.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from clipbias.publish import build_book, read_glued, toc_notebooks
from clipbias.publish.offline import BUNDLE_NAME

if TYPE_CHECKING:
    from conftest import BookBuild

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "book" / "_build" / "html"


def _page(docname: str) -> Path:
    return HTML / f"{docname}.html"


@pytest.mark.slow
def test_book_builds_without_warnings(ci_book: BookBuild) -> None:
    assert ci_book.returncode == 0, ci_book.output[-5000:]
    assert not re.search(r"WARNING: ", ci_book.output)  # Sphinx's warning format
    assert re.search(r"book built in \d+\.\d s", ci_book.output)


@pytest.mark.slow
def test_the_run_ends_with_each_chapters_time_against_its_budget(ci_book: BookBuild) -> None:
    assert ci_book.returncode == 0, ci_book.output[-5000:]
    summary = ci_book.output[ci_book.output.index("time per chapter:") :]
    assert re.search(r"chapter\s+profile\s+seconds\s+budget\s+cache", summary)
    for notebook in toc_notebooks(ROOT):
        # reused: executed once by the session fixture, with its recorded time and its ci budget
        assert re.search(rf"\n{notebook.stem}\s+ci\s+\d+\.\d\s+\d+\s+reused", summary), (
            notebook.stem
        )
    assert re.search(r"\n\(book build\)\s+ci\s+\d+\.\d\s+\d+", summary)


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
def test_glued_numbers_are_printed_in_the_page(ci_book: BookBuild, ci_glued) -> None:
    assert ci_book.returncode == 0, ci_book.output[-5000:]
    glued = ci_glued("pipeline_check")
    assert glued == read_glued(ROOT / "book" / "executed" / "pipeline_check.ipynb")
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
