"""The papermill engine of the book: a progress bar over a notebook's code cells and a time limit
for the whole notebook.

Papermill calls the execution manager's ``cell_start``/``cell_complete`` around every cell; the
engine registered here as ``"clipbias"`` forwards those calls to a :class:`CellProgress` bar, whose
elapsed time keeps ticking while a long cell runs (a chapter that trains models spends minutes in
one cell).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import nbformat
from papermill.engines import NBClientEngine, papermill_engines
from tqdm import tqdm

from clipbias.progress import progress

__all__ = ["ENGINE_NAME", "CellProgress", "deadline_timeout"]

#: The name under which :class:`_ReportingEngine` is registered with papermill.
ENGINE_NAME = "clipbias"


class CellProgress:
    """A bar over a notebook's code cells: ``desc: 40%|####  | 4/10 [01:12, cell 7: 65 s]``.

    A background thread redraws the bar every ``tick_s`` seconds so the elapsed times move during a
    long cell (``tick_s`` defaults to 1 s on a terminal and 30 s in a log file). The bar obeys
    ``CLIPBIAS_PROGRESS=0`` (:func:`clipbias.progress.progress`). Use it as a context manager;
    the engine calls :meth:`begin` with the parameterized notebook, then the cell hooks. ``clock``
    (seconds, monotonic) times the running cell.
    """

    def __init__(
        self, *, desc: str, tick_s: float | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._desc = desc
        self._clock = clock
        self._bar: tqdm | None = None  # made by begin(), when the number of cells is known
        if tick_s is None:
            tick_s = 1.0 if sys.stderr.isatty() else 30.0
        if tick_s <= 0:
            raise ValueError(f"tick_s must be positive (got {tick_s})")
        self._tick_s = tick_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._cell: tuple[int, float] | None = None  # (index, monotonic start) of the running cell

    def __enter__(self) -> CellProgress:
        self._thread = threading.Thread(target=self._tick, name="cell-progress", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._bar is not None:
            self._bar.close()

    def _show_running(self) -> None:
        bar, running = self._bar, self._cell
        if bar is not None and running is not None:
            index, started = running
            bar.set_postfix_str(f"cell {index}: {self._clock() - started:.0f} s")

    def _tick(self) -> None:
        while not self._stop.wait(self._tick_s):
            self._show_running()

    def begin(self, notebook: nbformat.NotebookNode) -> None:
        """Papermill starts ``notebook`` (parameters injected): its code cells are the total."""
        total = sum(cell.cell_type == "code" for cell in notebook.cells)
        self._bar = progress(desc=self._desc, total=total, unit="cell")

    def cell_start(self, cell: nbformat.NotebookNode, index: int) -> None:
        """Papermill starts cell ``index``."""
        if cell.cell_type == "code":
            self._cell = (index, self._clock())
            self._show_running()

    def cell_complete(self, cell: nbformat.NotebookNode, index: int) -> None:
        """Papermill finished cell ``index`` (also after an error)."""
        if cell.cell_type == "code" and self._bar is not None:
            self._cell = None
            self._bar.set_postfix_str("", refresh=False)
            self._bar.update(1)


def deadline_timeout(limit_s: float, *, clock: Callable[[], float] = time.monotonic) -> Callable[
    [nbformat.NotebookNode], int
]:
    """A per-cell timeout function (nbclient's ``timeout_func``) that spends one budget of
    ``limit_s`` seconds over the whole notebook: each cell may run for the seconds left since the
    function was made (at least 1).
    """
    if limit_s <= 0:
        raise ValueError(f"limit_s must be positive (got {limit_s})")
    deadline = clock() + limit_s

    def timeout(cell: nbformat.NotebookNode) -> int:
        return max(1, int(deadline - clock() + 0.999))

    return timeout


class _ReportingEngine(NBClientEngine):
    """nbclient engine that reports cell starts and completions to a :class:`CellProgress`."""

    @classmethod
    def execute_managed_notebook(
        cls, nb_man: Any, kernel_name: str, cell_progress: CellProgress | None = None, **kwargs: Any
    ) -> nbformat.NotebookNode:
        if cell_progress is not None:
            cell_progress.begin(nb_man.nb)
            start, complete = nb_man.cell_start, nb_man.cell_complete

            def cell_start(cell: Any, cell_index: int | None = None, **kw: Any) -> Any:
                cell_progress.cell_start(cell, cell_index)
                return start(cell, cell_index, **kw)

            def cell_complete(cell: Any, cell_index: int | None = None, **kw: Any) -> Any:
                cell_progress.cell_complete(cell, cell_index)
                return complete(cell, cell_index, **kw)

            nb_man.cell_start, nb_man.cell_complete = cell_start, cell_complete
        return super().execute_managed_notebook(nb_man, kernel_name, **kwargs)


papermill_engines.register(ENGINE_NAME, _ReportingEngine)
