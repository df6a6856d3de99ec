"""``python -m clipbias book``: execute the study notebooks with a profile, then build the book."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from clipbias.publish.build import build_book
from clipbias.publish.execute import NotebookExecutionError, execute_notebook
from clipbias.publish.profiles import PROFILES
from clipbias.publish.toc import EXECUTED_DIR, toc_notebooks

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m clipbias book",
        description=(
            "Execute every study notebook listed in _toc.yml with papermill and a parameter "
            "profile, write them to book/executed/, then build the HTML book strictly."
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
        "--skip-build", action="store_true", help="execute the notebooks but do not build the book"
    )
    parser.add_argument("--root", default=".", help="book root holding _toc.yml (default: .)")
    parser.add_argument(
        "--build-dir", default="book",
        help="jupyter-book --path-output; HTML goes to <build-dir>/_build/html (default: book)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the book pipeline; return 0 on success, 1 on a cell error or a build warning, 2 on usage."""
    parser = _parser()
    args = parser.parse_args(argv)
    root = Path(args.root)
    try:
        notebooks = toc_notebooks(root)
    except ValueError as exc:
        parser.error(str(exc))
    stems = [nb.stem for nb in notebooks]
    selected = notebooks
    if args.only:
        unknown = sorted(set(args.only) - set(stems))
        if unknown:
            parser.error(f"--only {unknown}: not in _toc.yml (its notebooks: {stems})")
        selected = [nb for nb in notebooks if nb.stem in args.only]
    started = time.perf_counter()
    for index, notebook in enumerate(selected, start=1):
        print(f"[{index}/{len(selected)}] {notebook.source} ({args.profile}) ...", flush=True)
        tick = time.perf_counter()
        try:
            execute_notebook(notebook.source, args.profile, output_dir=notebook.executed.parent)
        except (NotebookExecutionError, ValueError) as exc:
            print(f"FAILED {notebook.source}:\n{exc}", flush=True)
            return 1
        print(f"    done in {time.perf_counter() - tick:.1f} s", flush=True)
    print(f"executed {len(selected)} notebook(s) in {time.perf_counter() - started:.1f} s", flush=True)
    if args.skip_build:
        return 0
    missing = [str(nb.executed) for nb in notebooks if not nb.executed.is_file()]
    if missing:
        print(
            f"cannot build: {missing} not executed yet (run once without --only, or --skip-build); "
            f"executed notebooks live in {EXECUTED_DIR}/",
            flush=True,
        )
        return 1
    tick = time.perf_counter()
    status = build_book(root, build_dir=Path(args.build_dir))
    verdict = "built" if status == 0 else f"FAILED (exit {status})"
    print(f"book {verdict} in {time.perf_counter() - tick:.1f} s", flush=True)
    return 0 if status == 0 else 1
