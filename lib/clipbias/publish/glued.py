"""Read back the values a notebook glued with ``myst_nb.glue``: the numbers the book prints."""

from __future__ import annotations

import ast
import os
from typing import Any

import nbformat

__all__ = ["read_glued"]


def _plain_value(text: str) -> object:
    """A Python literal when ``text`` is one (as MyST-NB's ``{glue:text}`` reads it), else ``text``."""
    try:
        return ast.literal_eval(text)
    except (SyntaxError, ValueError):
        return text


def read_glued(executed_ipynb: str | os.PathLike[str]) -> dict[str, object]:
    """Return ``{glue key: value}`` for every ``myst_nb.glue`` call in an executed notebook.

    A value is the Python literal of its ``text/plain`` form (``0.25``, ``12``, ``'label'``),
    which is exactly what the book's ``{glue:text}`` role formats; a value without a literal form
    (a DataFrame, a numpy scalar repr) comes back as its ``text/plain`` string, and one without
    ``text/plain`` (a chart) as its mime bundle. A key glued twice raises ``ValueError``, as it
    would fail the book build.
    """
    notebook = nbformat.read(os.fspath(executed_ipynb), as_version=4)
    values: dict[str, object] = {}
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        for output in cell.get("outputs", []):
            record = output.get("metadata", {}).get("scrapbook")
            if not record:
                continue
            key = record["name"]
            if key in values:
                raise ValueError(f"{executed_ipynb}: glue key {key!r} is glued more than once")
            prefix = record.get("mime_prefix", "")
            data: dict[str, Any] = {k.removeprefix(prefix): v for k, v in output["data"].items()}
            plain = data.get("text/plain")
            values[key] = _plain_value(plain) if isinstance(plain, str) else data
    return values
