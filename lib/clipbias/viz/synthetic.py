"""Charts of the synthetic-world chapter: the measured null, the slopes, the per-order response.

Every builder takes a table of :func:`clipbias.studies.synthetic_validation.run`'s result (tidy,
one row per model and metric, or its summaries) and returns an altair chart narrow enough for a
phone.
"""

from __future__ import annotations

import altair as alt
import pandas as pd

from clipbias.viz._tables import require_columns
from clipbias.viz.charts import dot_chart, model_labels

__all__ = ["FAMILY_ORDER", "metric_response_chart", "null_distribution_chart",
           "order_response_chart", "slope_chart", "zoo_accuracy_chart"]

_KEYS = ["metric", "category", "order"]
#: Dataset families in the order of their planted association (the order the prose uses).
FAMILY_ORDER = ("fair", "web", "skew")
#: Axis titles of the metrics (a metric not listed is shown by its name).
_METRIC_TITLES = {"eat_d": "EAT effect size d"}


def _metric_title(metric: str) -> str:
    return _METRIC_TITLES.get(metric, metric)


def _pick(table: pd.DataFrame, metric: str, category: str | None, what: str) -> pd.DataFrame:
    """Rows of one metric (and category); a clear error when there are none."""
    rows = table[table["metric"] == metric]
    if category is not None:
        rows = rows[rows["category"] == category]
    if rows.empty:
        raise ValueError(f"{what} has no rows for metric {metric!r}"
                         + (f", category {category!r}" if category else "")
                         + f"; metrics present: {sorted(table['metric'].unique())}")
    return rows


def null_distribution_chart(models: pd.DataFrame, null: pd.DataFrame, *, metric: str = "eat_d",
                            category: str = "Concept", title: str = "") -> alt.LayerChart:
    """Each seed's value at planted level 0 (ticks), the null mean (point) and the 95%
    prediction interval of one more seed (bar), one row per modality order.

    ``models``: columns ``level, seed, metric, category, order, value``; ``null``: columns
    ``metric, category, order, n, mean, sd, low, high`` (``synthetic_validation.null_summary``).
    """
    require_columns(models, ["level", "seed", *_KEYS, "value"], what="models")
    require_columns(null, [*_KEYS, "n", "mean", "sd", "low", "high"], what="null")
    seeds = _pick(models[models["level"] == 0.0], metric, category, "models at level 0")
    summary = _pick(null, metric, category, "null")
    y = alt.Y("order:N", title=None, sort=sorted(summary["order"].unique()))
    ticks = alt.Chart(seeds).mark_tick(opacity=0.7, thickness=2).encode(
        x=alt.X("value:Q", title=f"{_metric_title(metric)}, nothing planted"), y=y,
        tooltip=[alt.Tooltip("order:N"), alt.Tooltip("value:Q", format=".3f"),
                 alt.Tooltip("seed:N")])
    base = alt.Chart(summary).encode(y=y)
    band = base.mark_rule(strokeWidth=2, opacity=0.5).encode(x="low:Q", x2="high:Q")
    mean = base.mark_point(filled=True, size=60, color="black").encode(
        x="mean:Q", tooltip=[alt.Tooltip("order:N"), alt.Tooltip("n:Q", title="seeds"),
                             alt.Tooltip("mean:Q", format=".3f"),
                             alt.Tooltip("sd:Q", format=".3f")])
    return alt.layer(band, ticks, mean).properties(width=300, title=title)


def slope_chart(slopes: pd.DataFrame, *, metric: str = "eat_d", category: str = "Concept",
                title: str = "") -> alt.LayerChart:
    """The OLS slope of the metric on the planted level with its 95% interval, one row per
    order, and a rule at 0. ``slopes``: columns ``metric, category, order, slope, ci_low,
    ci_high, snr`` (``synthetic_validation.slope_table``)."""
    require_columns(slopes, [*_KEYS, "slope", "ci_low", "ci_high", "snr"], what="slopes")
    rows = _pick(slopes, metric, category, "slopes")
    y = alt.Y("order:N", title=None, sort=sorted(rows["order"].unique()))
    base = alt.Chart(rows).encode(y=y)
    bars = base.mark_rule(strokeWidth=2).encode(
        x=alt.X("ci_low:Q", title=f"slope of {_metric_title(metric)} on s"), x2="ci_high:Q")
    points = base.mark_point(filled=True, size=60).encode(
        x="slope:Q", tooltip=[alt.Tooltip("order:N"), alt.Tooltip("slope:Q", format=".3f"),
                              alt.Tooltip("ci_low:Q", format=".3f"),
                              alt.Tooltip("ci_high:Q", format=".3f"),
                              alt.Tooltip("snr:Q", format=".2f", title="SNR at s = 0.5")])
    zero = alt.Chart(pd.DataFrame({"x": [0.0]})).mark_rule(strokeDash=[4, 3], color="grey"
                                                           ).encode(x="x:Q")
    return alt.layer(zero, bars, points).properties(width=300, title=title)


def order_response_chart(models: pd.DataFrame, *, metric: str = "eat_d",
                         category: str = "Concept", title: str = "") -> alt.LayerChart:
    """The metric of every model against its planted level (points) and the per-level mean
    (lines), coloured by modality order. ``models``: columns ``level, seed, metric, category,
    order, value``."""
    require_columns(models, ["level", "seed", *_KEYS, "value"], what="models")
    rows = _pick(models, metric, category, "models")
    base = alt.Chart(rows).encode(
        x=alt.X("level:Q", title="planted association s"),
        color=alt.Color("order:N", title="modality order"))
    points = base.mark_circle(size=25, opacity=0.45).encode(
        y=alt.Y("value:Q", title=_metric_title(metric)),
        tooltip=[alt.Tooltip("order:N"), alt.Tooltip("level:Q"), alt.Tooltip("seed:N"),
                 alt.Tooltip("value:Q", format=".3f")])
    lines = base.mark_line().encode(y="mean(value):Q")
    return alt.layer(points, lines).properties(width=320, title=title)


def metric_response_chart(levels: pd.DataFrame, *, metrics: dict[str, str],
                          title: str = "") -> alt.FacetChart:
    """Per-level mean (line) and mean -/+ one standard deviation over the models of that level
    (band: ``sd`` with ddof 1, the spread between training seeds, not a standard error of the
    mean) of several metrics, one small panel each. A level with one model has no band.

    ``levels``: columns ``metric, category, order, level, mean, sd, n`` (one row per metric and
    level for the metrics named, ``n`` the models at that level, as
    ``synthetic_validation.Result.levels``); ``metrics``: metric name -> panel title.
    """
    require_columns(levels, [*_KEYS, "level", "mean", "sd", "n"], what="levels")
    rows = levels[levels["metric"].isin(list(metrics))]
    if rows.empty:
        raise ValueError(f"levels has none of the metrics {list(metrics)}")
    rows = rows.assign(panel=rows["metric"].map(metrics), sd=rows["sd"].fillna(0.0))
    rows = rows.assign(low=rows["mean"] - rows["sd"], high=rows["mean"] + rows["sd"])
    base = alt.Chart().encode(x=alt.X("level:Q", title="planted association s"))
    band = base.mark_errorband().encode(y=alt.Y("low:Q", title=None), y2="high:Q")
    line = base.mark_line(point=True).encode(
        y="mean:Q", tooltip=[alt.Tooltip("panel:N"), alt.Tooltip("level:Q"),
                             alt.Tooltip("mean:Q", format=".3f"),
                             alt.Tooltip("sd:Q", format=".3f", title="SD over seeds"),
                             alt.Tooltip("n:Q", title="models")])
    return alt.layer(band, line, data=rows).properties(width=140, height=120).facet(
        facet=alt.Facet("panel:N", title=None), columns=2, title=title
    ).resolve_scale(y="independent")


def zoo_accuracy_chart(catalog: pd.DataFrame, *, title: str = "") -> alt.LayerChart:
    """Zero-shot accuracy of each zoo model as a dot on an axis fitted to the values (the
    accuracies sit close together), coloured by dataset family in :data:`FAMILY_ORDER`.

    ``catalog``: columns ``model_id, downstream_score, dataset_family`` (one row per model);
    model ids are shown with :func:`~clipbias.viz.charts.model_labels`.
    """
    require_columns(catalog, ["model_id", "downstream_score", "dataset_family"], what="catalog")
    families = [str(f) for f in catalog["dataset_family"].unique()]
    order = [f for f in FAMILY_ORDER if f in families] + sorted(
        f for f in families if f not in FAMILY_ORDER)
    table = pd.DataFrame({
        "model": model_labels(catalog["model_id"].tolist()),
        "accuracy": catalog["downstream_score"].astype(float).to_numpy(),
        "dataset family": catalog["dataset_family"].astype(str).to_numpy(),
    })
    return dot_chart(table, category="model", value="accuracy", color="dataset family",
                     color_order=order, title=title,
                     value_title="zero-shot accuracy (held-out scenes)", category_title="model")
