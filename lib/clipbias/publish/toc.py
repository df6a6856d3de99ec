"""Which study notebooks the book contains: read them from ``_toc.yml``.

Convention: the table of contents lists the *executed* copy of a study, ``book/executed/<name>``,
and its source is ``notebooks/<name>.md`` (MyST markdown, jupytext). Sphinx therefore renders the
outputs papermill produced, while the sources stay in ``notebooks/``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

__all__ = ["EXECUTED_DIR", "NOTEBOOK_DIR", "TocNotebook", "toc_notebooks"]

#: Folder (relative to the book root) that holds the executed notebooks; git-ignored.
EXECUTED_DIR = "book/executed"
#: Folder (relative to the book root) that holds the study notebooks' MyST sources.
NOTEBOOK_DIR = "notebooks"


@dataclass(frozen=True)
class TocNotebook:
    """One study notebook of the book: its ``source`` markdown and its ``executed`` ``.ipynb``."""

    name: str
    source: Path
    executed: Path

    @property
    def stem(self) -> str:
        """The notebook's file stem: the key of its section in a parameter profile."""
        return self.source.stem


def _toc_files(node: Any) -> Iterator[str]:
    """Yield every ``root``/``file`` value of a parsed ``_toc.yml``, in document order."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("root", "file") and isinstance(value, str):
                yield value
            else:
                yield from _toc_files(value)
    elif isinstance(node, list):
        for item in node:
            yield from _toc_files(item)


def toc_notebooks(root: str | Path = ".", *, toc: str | Path = "_toc.yml") -> list[TocNotebook]:
    """Return the study notebooks that ``<root>/<toc>`` lists, in table-of-contents order.

    Every entry under ``book/executed/`` must have its source at ``notebooks/<name>.md``; a
    ``ValueError`` names the entry otherwise.
    """
    root = Path(root)
    toc_path = root / toc
    if not toc_path.is_file():
        raise ValueError(f"no table of contents at {toc_path}")
    parsed = yaml.safe_load(toc_path.read_text(encoding="utf-8"))
    prefix = EXECUTED_DIR + "/"
    found: list[TocNotebook] = []
    for entry in _toc_files(parsed):
        entry = entry.removesuffix(".ipynb")
        if not entry.startswith(prefix):
            continue
        name = entry[len(prefix) :]
        source = root / NOTEBOOK_DIR / f"{name}.md"
        if not source.is_file():
            raise ValueError(
                f"{toc_path} lists {entry!r} but its source {source} does not exist "
                f"(the source of {EXECUTED_DIR}/<name> is {NOTEBOOK_DIR}/<name>.md)"
            )
        found.append(TocNotebook(name, source, root / EXECUTED_DIR / f"{name}.ipynb"))
    stems = [nb.stem for nb in found]
    duplicates = sorted({s for s in stems if stems.count(s) > 1})
    if duplicates:
        raise ValueError(f"{toc_path} lists notebooks with the same stem twice: {duplicates}")
    return found
