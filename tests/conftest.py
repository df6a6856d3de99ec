"""Test-wide settings and session fixtures.

Caches go to a fresh temporary folder and progress bars stay quiet. Session fixtures:

- ``ci_notebooks``: the study notebooks of ``_toc.yml`` executed with the ``ci`` profile, each at
  most once per test session, on first use (``ci_notebooks.executed(stem) -> Path``), with a time
  limit derived from ``notebooks/budgets.yaml`` (:func:`ci_timeout_s`).
- ``ci_glued``: ``ci_glued(stem) -> {glue key: value}``, the numbers a ``ci`` notebook glued, read
  with :func:`clipbias.publish.read_glued` from its one execution. A study's tests check their
  chapter's glued values with it, e.g. ``ci_glued("zoo_intrinsic_bias")["n_models"]``.
- ``ci_book``: the whole book built from those executed notebooks by
  ``python -m clipbias book --profile ci --skip-execute`` (a :class:`BookBuild`).
- ``real_path``: the real-data path fixture (``tests/realpath.py``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


#: The per-run cache folder this session made (removed at the end of the session), if any.
_SESSION_CACHE: list[str] = []


def pytest_configure(config) -> None:
    """Point every clipbias cache at a per-run temporary folder before any test imports run."""
    if "CLIPBIAS_CACHE" not in os.environ:
        os.environ["CLIPBIAS_CACHE"] = tempfile.mkdtemp(prefix="clipbias-test-cache-")
        _SESSION_CACHE.append(os.environ["CLIPBIAS_CACHE"])
    os.environ.setdefault("CLIPBIAS_PROGRESS", "0")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")



def pytest_unconfigure(config) -> None:
    """Remove the per-run cache folder (trained models, embeddings) that this session made."""
    for folder in _SESSION_CACHE:
        shutil.rmtree(folder, ignore_errors=True)

# --- executed ci notebooks and the ci book: each runs once per test session -----------------

#: A test may take this many times a chapter's ci budget, plus :data:`TIMEOUT_MARGIN_S`, before it
#: fails: the budgets are for an unloaded 2-core machine, a test run shares it.
TIMEOUT_FACTOR = 3
TIMEOUT_MARGIN_S = 60


def ci_timeout_s(stem: str | None) -> float:
    """Time limit in seconds for executing notebook ``stem`` with the ci profile (``None``: for
    the Sphinx build): ``TIMEOUT_FACTOR x budget + TIMEOUT_MARGIN_S``, budget from
    ``notebooks/budgets.yaml``. A notebook without a ci budget fails the test that runs it."""
    from clipbias.publish import BUDGETS_FILE, load_budgets

    budgets = load_budgets(ROOT / BUDGETS_FILE)
    budget = budgets.build_s("ci") if stem is None else budgets.chapter_s(stem, "ci")
    if budget is None:
        what = "build" if stem is None else f"chapters.{stem}"
        pytest.fail(f"{BUDGETS_FILE} has no ci budget for {what}: add one")
    return TIMEOUT_FACTOR * budget + TIMEOUT_MARGIN_S


class CiNotebooks:
    """The toc's notebooks executed with the ci profile into ``folder``, each on first request."""

    def __init__(self, folder: Path) -> None:
        from clipbias.publish import toc_notebooks

        self.folder = folder
        self.notebooks = {nb.stem: nb for nb in toc_notebooks(ROOT)}
        self._done: dict[str, Path | BaseException] = {}

    def executed(self, stem: str) -> Path:
        """The executed ``<folder>/<stem>.ipynb``; a failed execution fails every later request.

        The notebooks before ``stem`` in the toc run first, as in the book: later chapters reuse
        the synthetic zoo that the synthetic-world chapter trains, and their budgets assume it is
        cached. A failure of an earlier notebook is reported by its own test, not here.
        """
        if stem not in self.notebooks:
            raise KeyError(f"{stem!r} is not a notebook of _toc.yml ({sorted(self.notebooks)})")
        order = list(self.notebooks)
        for earlier in order[: order.index(stem) + 1]:
            self._execute(earlier)
        outcome = self._done[stem]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def _execute(self, stem: str) -> None:
        """Execute ``stem`` once, recording its path or the exception it raised."""
        from clipbias.publish import execute_notebook

        if stem not in self._done:
            try:
                self._done[stem] = execute_notebook(
                    self.notebooks[stem].source, "ci", output_dir=self.folder,
                    timeout_s=ci_timeout_s(stem),
                )
            except Exception as exc:
                self._done[stem] = exc


@pytest.fixture(scope="session")
def ci_notebooks(tmp_path_factory) -> CiNotebooks:
    """Every toc notebook executed once per session with the ci profile (see the module doc)."""
    return CiNotebooks(tmp_path_factory.mktemp("ci-executed"))


@pytest.fixture(scope="session")
def ci_glued(ci_notebooks: CiNotebooks) -> Callable[[str], dict[str, object]]:
    """``ci_glued(stem) -> {glue key: value}`` of the notebook executed with the ci profile."""
    from clipbias.publish import read_glued

    return lambda stem: read_glued(ci_notebooks.executed(stem))


@dataclass(frozen=True)
class BookBuild:
    """Outcome of `python -m clipbias book --profile ci --skip-execute` on the session notebooks."""

    returncode: int
    output: str
    html: Path


@pytest.fixture(scope="session")
def ci_book(ci_notebooks: CiNotebooks) -> BookBuild:
    """The book built once into ``book/_build/html`` from the session's executed ci notebooks."""
    for stem, notebook in ci_notebooks.notebooks.items():
        notebook.executed.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ci_notebooks.executed(stem), notebook.executed)
    proc = subprocess.run(
        [sys.executable, "-m", "clipbias", "book", "--profile", "ci", "--skip-execute"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=ci_timeout_s(None),
        check=False,
    )
    return BookBuild(proc.returncode, proc.stdout + proc.stderr, ROOT / "book" / "_build" / "html")


# The real-data path (tests/realpath.py): a user-style checkpoint of a tiny open_clip model and
# dataset folders in the real layouts, filled with synthetic scenes; built once per session.
# Study tests run their `full` code path on it (see realpath.py's docstring).
@pytest.fixture(scope="session")
def real_path(tmp_path_factory):
    """The :class:`realpath.RealPathFixture` of this test session."""
    from realpath import build_fixture

    return build_fixture(tmp_path_factory.mktemp("real-path"))
