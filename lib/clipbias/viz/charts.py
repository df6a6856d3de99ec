"""Small chart builders shared by the chapters (tidy ``pandas.DataFrame`` in, altair chart out)."""

from __future__ import annotations

import re
from collections.abc import Sequence

import altair as alt
import pandas as pd

from clipbias.viz._tables import require_columns

__all__ = ["coverage_heatmap", "dot_chart", "interval_chart", "model_labels"]

_SEED_TAG = re.compile(r"^(?P<stem>.+)_s(?P<seed>\d+)$")


def model_labels(model_ids: Sequence[str]) -> list[str]:
    """Readable labels for model ids, in order: the seed only where it tells models apart.

    An id ``"ARCH/TAG_sN"`` (a synthetic model trained with seed ``N``) becomes ``"ARCH/TAG"`` when
    no other id in ``model_ids`` shares its ``ARCH/TAG``, and ``"ARCH/TAG (seed N)"`` when several
    do; other ids are kept as they are. Labels are unique whenever the ids are.
    """
    ids = [str(m) for m in model_ids]
    stems = [m.rsplit("_s", 1)[0] if _SEED_TAG.match(m) else m for m in ids]
    labels = []
    for model_id, stem in zip(ids, stems, strict=True):
        match = _SEED_TAG.match(model_id)
        if match is None:
            labels.append(model_id)
        elif stems.count(stem) > 1:
            labels.append(f"{match['stem']} (seed {int(match['seed'])})")
        else:
            labels.append(match["stem"])
    return labels


def dot_chart(
    table: pd.DataFrame,
    *,
    category: str,
    value: str,
    color: str | None = None,
    color_order: Sequence[str] | None = None,
    low: str | None = None,
    high: str | None = None,
    title: str = "",
    value_title: str | None = None,
    category_title: str | None = None,
    value_format: str = ".3f",
) -> alt.LayerChart:
    """One dot per row on an axis fitted to the values (not from zero), rows sorted by value.

    Use it instead of bars when the values sit close together (for example 24 accuracies between
    0.95 and 1): bars from zero would hide their differences. ``table`` has one row per
    ``category`` (shown on the y axis, largest value first); ``value`` is numeric. ``color`` names
    a nominal column; ``color_order`` fixes the order of its legend (the order the prose uses).
    With ``low`` and ``high`` each dot gets an interval bar (``low <= value <= high``; say in the
    figure caption what the interval is and over how many runs).
    """
    if (low is None) != (high is None):
        raise ValueError("give both low and high (an interval), or neither")
    needed = [category, value, *(c for c in (color, low, high) if c is not None)]
    require_columns(table, needed)
    if table[category].duplicated().any():
        raise ValueError(f"column {category!r} must name each row once (one dot per category)")
    if color_order is not None:
        if color is None:
            raise ValueError("color_order needs color (the column it orders)")
        unknown = sorted(set(table[color].astype(str)) - {str(c) for c in color_order})
        if unknown:
            raise ValueError(f"color_order lacks the level(s) {unknown} of column {color!r}")
    if low is not None:
        values = table[[value, low, high]].astype(float)
        if ((values[low] > values[value]) | (values[value] > values[high])).any():
            raise ValueError(f"every row needs {low} <= {value} <= {high}")
    tooltip = [alt.Tooltip(f"{category}:N"), alt.Tooltip(f"{value}:Q", format=value_format)]
    if color is not None:
        tooltip.append(alt.Tooltip(f"{color}:N"))
    base = alt.Chart(table).encode(
        y=alt.Y(f"{category}:N", title=category_title or category, sort="-x",
                axis=alt.Axis(labelLimit=220)),
    )
    axis = alt.X(f"{value}:Q", title=value_title or value,
                 scale=alt.Scale(zero=False, nice=True, padding=8))
    encoding = {"x": axis, "tooltip": tooltip}
    if color is not None:
        encoding["color"] = alt.Color(
            f"{color}:N", title=color, sort=list(color_order) if color_order else "ascending",
            scale=alt.Scale(domain=list(color_order)) if color_order else alt.Undefined,
        )
    points = base.mark_point(size=70, filled=True).encode(**encoding)
    layers = [points]
    if low is not None:
        layers.insert(0, base.mark_rule(strokeWidth=2, color="#999999").encode(
            x=alt.X(f"{low}:Q", scale=alt.Scale(zero=False, nice=True, padding=8)),
            x2=alt.X2(f"{high}:Q")))
    height = alt.Step(18)
    return alt.layer(*layers).properties(title=title, height=height)


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
