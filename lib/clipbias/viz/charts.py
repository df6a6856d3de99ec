"""Small chart builders shared by the chapters (tidy ``pandas.DataFrame`` in, altair chart out)."""

from __future__ import annotations

import altair as alt
import pandas as pd

from clipbias.viz._tables import require_columns

__all__ = ["coverage_heatmap", "interval_chart"]


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
    require_columns(table, [category, estimate, low, high])
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


def _levels(column: pd.Series) -> list:
    """The distinct values of ``column``, sorted (as text when the values do not compare)."""
    values = list(column.unique())
    try:
        return sorted(values)
    except TypeError:
        return sorted(values, key=str)


#: Name of the count column in the data of :func:`coverage_heatmap`.
COUNT = "count"


def coverage_heatmap(
    table: pd.DataFrame,
    *,
    x: str,
    y: str,
    title: str = "",
    x_title: str | None = None,
    y_title: str | None = None,
    count_title: str = "rows",
) -> alt.LayerChart:
    """How many rows of ``table`` fall in each cell of ``x`` by ``y`` (nominal columns).

    ``table`` has one row per counted item (a model, an image). The chart's data has one row per
    pair of an observed level of ``x`` with an observed level of ``y``, columns ``x``, ``y`` and
    ``count`` (``count[i, j] = #{rows with x = x_i and y = y_j}``), so combinations that no row
    covers are drawn too, as empty grey cells without a number; the other cells are shaded by
    their count and labelled with it. Levels are sorted. Missing values in ``x`` or ``y`` are an
    error (label them first, e.g. ``"unknown"``).
    """
    require_columns(table, [x, y])
    if x == y:
        raise ValueError(f"x and y must be two different columns (both are {x!r})")
    if COUNT in (x, y):
        raise ValueError(f"a column named {COUNT!r} cannot be an axis here (the chart's counts use "
                         "that name); rename it")
    for column in (x, y):
        if table[column].isna().any():
            raise ValueError(f"column {column!r} has missing values; label them (e.g. "
                             "table.fillna({column!r: 'unknown'})) so that they are counted")
    counts = (table.groupby([x, y], observed=True).size()
              .reindex(pd.MultiIndex.from_product([_levels(table[x]), _levels(table[y])],
                                                  names=[x, y]), fill_value=0)
              .rename(COUNT).reset_index())
    base = alt.Chart(counts).encode(
        x=alt.X(f"{x}:N", title=x_title or x, axis=alt.Axis(labelAngle=-40)),
        y=alt.Y(f"{y}:N", title=y_title or y),
    )
    empty = alt.datum[COUNT] == 0
    cells = base.mark_rect(stroke="white", strokeWidth=1).encode(
        color=alt.condition(empty, alt.value("#f2f2f2"),
                            alt.Color(f"{COUNT}:Q", title=count_title,
                                      scale=alt.Scale(scheme="blues", domainMin=0))),
        tooltip=[alt.Tooltip(f"{y}:N"), alt.Tooltip(f"{x}:N"),
                 alt.Tooltip(f"{COUNT}:Q", title=count_title)],
    )
    dark = alt.datum[COUNT] > counts[COUNT].max() / 2
    labels = base.mark_text(fontSize=11).encode(
        text=alt.Text(f"{COUNT}:Q"),
        color=alt.condition(dark, alt.value("white"), alt.value("black")),
    ).transform_filter(alt.datum[COUNT] > 0)
    return alt.layer(cells, labels).properties(title=title)
