"""Small chart builders shared by the chapters (tidy ``pandas.DataFrame`` in, altair chart out)."""

from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import pandas as pd

__all__ = ["interval_chart"]


def _require_columns(table: pd.DataFrame, columns: Sequence[str]) -> None:
    """Raise ``ValueError`` naming every column of ``columns`` missing from ``table``."""
    if not isinstance(table, pd.DataFrame):
        raise ValueError(f"expected a pandas DataFrame (got {type(table).__name__})")
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"table lacks column(s) {missing}; it has {list(table.columns)}")
    if table.empty:
        raise ValueError("table is empty: nothing to draw")


def interval_chart(
    table: pd.DataFrame,
    *,
    category: str,
    estimate: str,
    low: str,
    high: str,
    title: str = "",
    estimate_title: str | None = None,
) -> alt.LayerChart:
    """Point estimates with interval bars, one row per category (a forest-plot layout).

    ``table`` has one row per category with the columns named by ``category`` (nominal),
    ``estimate``, ``low`` and ``high`` (numbers with ``low <= estimate <= high``). Hovering a point
    shows all four values.
    """
    _require_columns(table, [category, estimate, low, high])
    values = table[[estimate, low, high]].astype(float)
    if ((values[low] > values[estimate]) | (values[estimate] > values[high])).any():
        raise ValueError(f"every row needs {low} <= {estimate} <= {high}")
    axis_title = estimate_title or estimate
    base = alt.Chart(table).encode(
        y=alt.Y(f"{category}:N", title=category, sort=None),
        color=alt.Color(f"{category}:N", legend=None),
    )
    bars = base.mark_rule(strokeWidth=2).encode(
        x=alt.X(f"{low}:Q", title=axis_title, scale=alt.Scale(zero=False)),
        x2=alt.X2(f"{high}:Q"),
    )
    points = base.mark_point().encode(
        x=alt.X(f"{estimate}:Q"),
        tooltip=[
            alt.Tooltip(f"{category}:N"),
            alt.Tooltip(f"{estimate}:Q", format=".3f"),
            alt.Tooltip(f"{low}:Q", format=".3f"),
            alt.Tooltip(f"{high}:Q", format=".3f"),
        ],
    )
    return alt.layer(bars, points).properties(title=title)
