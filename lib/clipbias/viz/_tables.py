"""Checks of the tidy tables the chart builders take (one place for their error messages)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

__all__ = ["require_columns"]


def require_columns(table: pd.DataFrame, columns: Sequence[str], *, what: str = "table") -> None:
    """Raise ``ValueError`` unless ``table`` is a non-empty DataFrame with every column of
    ``columns``; the message names the missing columns and the ones ``table`` has."""
    if not isinstance(table, pd.DataFrame):
        raise ValueError(f"{what} must be a pandas DataFrame (got {type(table).__name__})")
    missing = [c for c in dict.fromkeys(columns) if c not in table.columns]
    if missing:
        raise ValueError(f"{what} lacks column(s) {missing}; it has {list(table.columns)}. "
                         "Pass the names of existing columns or add them to the table.")
    if table.empty:
        raise ValueError(f"{what} is empty: nothing to draw")
