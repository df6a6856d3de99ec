"""Run ``jupyter-book build`` strictly: execution off, every warning an error."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

__all__ = ["STRICT_FLAGS", "build_book", "jupyter_book_command"]

#: Sphinx strictness passed through by jupyter-book: nitpicky, warnings are errors, report them all,
#: and read every page afresh (a cached page would hide its warnings).
STRICT_FLAGS: tuple[str, ...] = ("-n", "-W", "--keep-going", "--all")


def jupyter_book_command() -> list[str]:
    """The ``jupyter-book`` executable of this environment (beside ``sys.executable``), as argv."""
    beside = Path(sys.executable).with_name("jupyter-book")
    if beside.is_file():
        return [str(beside)]
    found = shutil.which("jupyter-book")
    if found is None:
        raise RuntimeError("jupyter-book is not installed in this environment (pip extra 'book')")
    return [found]


def build_book(
    root: str | os.PathLike[str] = ".",
    *,
    build_dir: str | os.PathLike[str] = "book",
    builder: str = "html",
) -> int:
    """Build the book at ``root`` into ``<build_dir>/_build/<builder>``; return the exit status.

    Notebooks are not executed here (``execute_notebooks: off`` in ``_config.yml``): the pages
    render the outputs that :func:`clipbias.publish.execute_notebook` wrote. Any Sphinx warning
    makes the status non-zero (:data:`STRICT_FLAGS`).
    """
    root = Path(root)
    if not (root / "_config.yml").is_file() or not (root / "_toc.yml").is_file():
        raise ValueError(f"{root} is not a book root: it needs _config.yml and _toc.yml")
    command = [
        *jupyter_book_command(),
        "build",
        str(root),
        "--path-output",
        str(build_dir),
        "--builder",
        builder,
        *STRICT_FLAGS,
    ]
    return subprocess.run(command, check=False).returncode
