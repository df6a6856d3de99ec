"""``python -m clipbias book``: execute the study notebooks with a profile, then build the book.

While a notebook runs, a bar over its code cells shows the elapsed time (and the running cell's);
the run ends with a table of each chapter's time against its budget (``notebooks/budgets.yaml``).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from clipbias.paths import cache_dir
from clipbias.publish.budgets import (
    BUDGETS_FILE,
    CacheState,
    ChapterTime,
    TimeBudgets,
    load_budgets,
    summary_table,
)
from clipbias.publish.build import build_book
from clipbias.publish.execute import NotebookExecutionError, execute_notebook, run_record
from clipbias.publish.profiles import PROFILES
from clipbias.publish.toc import EXECUTED_DIR, TocNotebook, toc_notebooks

__all__ = ["main"]

#: The chapter name of the Sphinx build in the time summary.
BUILD_ROW = "(book build)"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m clipbias book",
        description=(
            "Execute every study notebook listed in _toc.yml with papermill and a parameter "
            "profile, write them to book/executed/, then build the HTML book strictly. Ends with "
            "each chapter's time against its budget (notebooks/budgets.yaml)."
        ),
    )
    parser.add_argument(
        "--profile", choices=PROFILES, default="embedded",
        help="parameter profile, notebooks/profiles/<profile>.yaml (default: embedded)",
    )
    parser.add_argument(
        "--only", action="append", metavar="NOTEBOOK", default=None,
        help="execute only this notebook (its stem, e.g. pipeline_check); repeatable",
    )
    parser.add_argument(
        "--skip-execute", action="store_true",
        help=(
            "execute nothing: build from the notebooks already executed in book/executed/ "
            "(the summary shows the times recorded when they were executed)"
        ),
    )
    parser.add_argument(
        "--skip-build", action="store_true", help="execute the notebooks but do not build the book"
    )
    parser.add_argument("--root", default=".", help="book root holding _toc.yml (default: .)")
    parser.add_argument(
        "--build-dir", default="book",
        help="jupyter-book --path-output; HTML goes to <build-dir>/_build/html (default: book)",
    )
    return parser


def cache_state() -> CacheState:
    """``"warm"`` when the clipbias cache (``CLIPBIAS_CACHE``) holds any file outside ``data/``
    (trained models, embeddings, ... from an earlier run), else ``"cold"``: the budgets'
    condition."""
    root = cache_dir()
    for folder, subfolders, files in os.walk(root):
        if Path(folder) == root:
            subfolders[:] = [name for name in subfolders if name != "data"]
        if files:
            return "warm"
    return "cold"


def _budgets(root: Path) -> TimeBudgets:
    """The book's budgets; none when the book root has no budgets file."""
    path = root / BUDGETS_FILE
    return load_budgets(path) if path.is_file() else TimeBudgets({}, {})


def _reused_row(notebook: TocNotebook, budgets: TimeBudgets) -> ChapterTime:
    """The summary row of a notebook executed by an earlier run (its recorded profile and time)."""
    record = run_record(notebook.executed)
    profile = record["profile"] or "?"
    budget = budgets.chapter_s(notebook.stem, profile)
    return ChapterTime(notebook.stem, profile, record["seconds"], "reused", budget)


def _print_summary(rows: list[ChapterTime]) -> None:
    print(f"\ntime per chapter:\n{summary_table(rows)}", flush=True)


def main(argv: list[str] | None = None) -> int:
    """Run the book; return 0 on success, 1 on a cell error or build warning, 2 on usage."""
    parser = _parser()
    args = parser.parse_args(argv)
    root = Path(args.root)
    try:
        notebooks = toc_notebooks(root)
        budgets = _budgets(root)
    except ValueError as exc:
        parser.error(str(exc))
    stems = [nb.stem for nb in notebooks]
    selected = notebooks
    if args.only:
        if args.skip_execute:
            parser.error("--only selects notebooks to execute; it cannot go with --skip-execute")
        unknown = sorted(set(args.only) - set(stems))
        if unknown:
            parser.error(f"--only {unknown}: not in _toc.yml (its notebooks: {stems})")
        selected = [nb for nb in notebooks if nb.stem in args.only]
    if args.skip_execute:
        selected = []
    cache = cache_state()
    times: dict[str, ChapterTime] = {}
    started = time.perf_counter()
    for index, notebook in enumerate(selected, start=1):
        budget = budgets.chapter_s(notebook.stem, args.profile)
        allowed = "no budget" if budget is None else f"budget {budget:.0f} s"
        print(
            f"[{index}/{len(selected)}] {notebook.source} ({args.profile}, {allowed}) ...",
            flush=True,
        )
        try:
            execute_notebook(
                notebook.source, args.profile, output_dir=notebook.executed.parent,
                show_progress=True,
            )
        except (NotebookExecutionError, ValueError) as exc:
            print(f"FAILED {notebook.source}:\n{exc}", flush=True)
            _print_summary(list(times.values()))
            return 1
        row = ChapterTime(
            notebook.stem, args.profile, run_record(notebook.executed)["seconds"], cache, budget
        )
        times[notebook.stem] = row
        late = "  OVER BUDGET" if row.over_budget else ""
        print(f"    done in {row.seconds:.1f} s{late}", flush=True)
    if selected:
        print(
            f"executed {len(selected)} notebook(s) in {time.perf_counter() - started:.1f} s",
            flush=True,
        )
    missing = [str(nb.executed) for nb in notebooks if not nb.executed.is_file()]
    rows = [
        times[nb.stem] if nb.stem in times else _reused_row(nb, budgets)
        for nb in notebooks
        if nb.executed.is_file()
    ]
    if args.skip_build:
        _print_summary(rows)
        return 0
    if missing:
        print(
            f"cannot build: {missing} not executed yet (run once without --only or "
            f"--skip-execute, or pass --skip-build); executed notebooks live in {EXECUTED_DIR}/",
            flush=True,
        )
        return 1
    profiles = {row.profile for row in rows}
    build_profile = profiles.pop() if len(profiles) == 1 else args.profile
    tick = time.perf_counter()
    status = build_book(root, build_dir=Path(args.build_dir))
    seconds = time.perf_counter() - tick
    verdict = "built" if status == 0 else f"FAILED (exit {status})"
    print(f"book {verdict} in {seconds:.1f} s", flush=True)
    budget = budgets.build_s(build_profile)
    rows.append(ChapterTime(BUILD_ROW, build_profile, seconds, None, budget))
    _print_summary(rows)
    return 0 if status == 0 else 1
