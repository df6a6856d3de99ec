"""Charts of the data-balancing chapter: data bias before and after M4, the keep-rate trade-off,
model bias by switch point, bias over training and quality against bias. Tidy tables from
:mod:`clipbias.studies.data_balancing` in, altair out; every chart takes the container's width."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from clipbias.viz._tables import require_columns

__all__ = ["data_bias_chart", "keep_rate_chart", "quality_bias_chart", "switch_chart",
           "trace_chart"]

#: The range each metric can take (the trace's interval bands are clipped to it).
_METRIC_RANGES = {"rep_bias": (0.0, 1.0), "assoc_bias": (-1.0, 1.0), "zero_shot": (0.0, 1.0),
                  "recall": (0.0, 1.0)}
_METRIC_TITLES = {"rep_bias": "representation bias (share preferring group 0; 0.5 = none)",
                  "assoc_bias": "association bias (preference gap between groups)",
                  "zero_shot": "zero-shot accuracy", "recall": "recall@k"}


def data_bias_chart(data_bias: pd.DataFrame, *, eps: float, title: str = "") -> alt.LayerChart:
    """Signed statistics of group 0 per label: the training table (``before``), the expected
    balanced distribution (``after``) and the mean of drawn subsets, with the tolerance band
    ``[-eps, eps]`` shaded. ``data_bias``: rows ``label, before, after, realised_mean``."""
    require_columns(data_bias, ["label", "before", "after", "realised_mean"], what="data_bias")
    long = data_bias.melt(id_vars=["label"], value_vars=["before", "after", "realised_mean"],
                          var_name="table", value_name="value")
    long["table"] = long["table"].map({"before": "training data", "after": "M4 (expected)",
                                       "realised_mean": "M4 (drawn subsets, mean)"})
    order = ["training data", "M4 (expected)", "M4 (drawn subsets, mean)"]
    y = alt.Y("label:N", title=None, sort=list(data_bias["label"]))
    band = alt.Chart(pd.DataFrame({"low": [-eps], "high": [eps]})).mark_rect(
        opacity=0.15, color="grey").encode(x="low:Q", x2="high:Q")
    dots = alt.Chart(long).mark_point(filled=True, size=60).encode(
        y=y, x=alt.X("value:Q", title="statistic of group 0 (signed; 0 = balanced)"),
        color=alt.Color("table:N", title=None, sort=order),
        shape=alt.Shape("table:N", title=None, sort=order),
        tooltip=["label:N", "table:N", alt.Tooltip("value:Q", format=".4f")])
    return alt.layer(band, dots).properties(width="container", title=title)


def keep_rate_chart(sweep: pd.DataFrame, *, title: str = "") -> alt.LayerChart:
    """Largest violation of a tolerance after M4 against the keep rate; feasible rates (violation
    0) filled. ``sweep``: rows ``keep_rate, violation, feasible``."""
    require_columns(sweep, ["keep_rate", "violation", "feasible"], what="sweep")
    data = sweep.assign(state=sweep["feasible"].map({True: "feasible", False: "infeasible"}))
    x = alt.X("keep_rate:Q", title="keep rate (share of examples kept)")
    line = alt.Chart(data).mark_line(color="grey").encode(x=x, y="violation:Q")
    dots = alt.Chart(data).mark_point(filled=True, size=70).encode(
        x=x, y=alt.Y("violation:Q", title="largest violation after M4"),
        color=alt.Color("state:N", title=None, sort=["feasible", "infeasible"]),
        tooltip=[alt.Tooltip("keep_rate:Q", format=".2f"),
                 alt.Tooltip("violation:Q", format=".4f"), "state:N"])
    return alt.layer(line, dots).properties(width="container", title=title)


def switch_chart(summary: pd.DataFrame, *, metrics: tuple[str, ...] = ("rep_bias", "assoc_bias"),
                 title: str = "") -> alt.FacetChart:
    """Mean over seeds with its interval per training condition, one panel per metric.
    ``summary``: rows ``condition, metric, mean, ci_low, ci_high`` (conditions in run order)."""
    require_columns(summary, ["condition", "metric", "mean", "ci_low", "ci_high"],
                    what="summary")
    data = summary[summary["metric"].isin(metrics)].copy()
    if data.empty:
        raise ValueError(f"summary has no rows for metrics {metrics}")
    data["measure"] = data["metric"].map(_METRIC_TITLES).fillna(data["metric"])
    order = list(dict.fromkeys(data["condition"]))
    y = alt.Y("condition:N", title=None, sort=order)
    rule = alt.Chart().mark_rule().encode(y=y, x=alt.X("ci_low:Q", title=None), x2="ci_high:Q")
    dot = alt.Chart().mark_point(filled=True, size=70).encode(
        y=y, x="mean:Q", color=alt.Color("condition:N", legend=None, sort=order),
        tooltip=["condition:N", alt.Tooltip("mean:Q", format=".3f"),
                 alt.Tooltip("ci_low:Q", format=".3f"), alt.Tooltip("ci_high:Q", format=".3f")])
    return alt.layer(rule, dot, data=data).properties(width="container").facet(
        row=alt.Row("measure:N", title=None, header=alt.Header(labelAngle=0, labelAlign="left",
                                                                labelOrient="top")),
    ).resolve_scale(x="independent").properties(title=title)


def quality_bias_chart(models: pd.DataFrame, *, quality: str = "zero_shot",
                       bias: str = "assoc_bias", title: str = "") -> alt.Chart:
    """One dot per trained model: its ``bias`` against its ``quality``, coloured by condition.
    ``models``: rows ``condition, replicate`` and the two metric columns."""
    require_columns(models, ["condition", "replicate", quality, bias], what="models")
    order = list(dict.fromkeys(models["condition"]))
    return alt.Chart(models).mark_point(filled=True, size=70).encode(
        x=alt.X(f"{quality}:Q", title=_METRIC_TITLES.get(quality, quality),
                scale=alt.Scale(zero=False)),
        y=alt.Y(f"{bias}:Q", title=_METRIC_TITLES.get(bias, bias), scale=alt.Scale(zero=False)),
        color=alt.Color("condition:N", title=None, sort=order),
        tooltip=["condition:N", "replicate:Q", alt.Tooltip(f"{quality}:Q", format=".3f"),
                 alt.Tooltip(f"{bias}:Q", format=".3f")],
    ).properties(width="container", title=title)


def trace_chart(trace_summary: pd.DataFrame, *,
                metrics: tuple[str, ...] = ("rep_bias", "assoc_bias", "zero_shot"),
                title: str = "") -> alt.FacetChart:
    """Each metric against the training step, one line per training condition (mean over seeds)
    with its interval as a band, one panel per metric; a dashed rule marks each condition's
    switch step. Bands are clipped to the metric's range (with few seeds a t interval can pass
    it). ``trace_summary``: rows ``condition, switch, step, fraction, metric, mean, ci_low,
    ci_high`` (conditions in run order)."""
    require_columns(trace_summary, ["condition", "switch", "step", "fraction", "metric", "mean",
                                    "ci_low", "ci_high"], what="trace_summary")
    data = trace_summary[trace_summary["metric"].isin(metrics)].copy()
    if data.empty:
        raise ValueError(f"trace_summary has no rows for metrics {metrics}")
    data["measure"] = data["metric"].map(_METRIC_TITLES).fillna(data["metric"])
    low = data["metric"].map(lambda m: _METRIC_RANGES.get(m, (-np.inf, np.inf))[0])
    high = data["metric"].map(lambda m: _METRIC_RANGES.get(m, (-np.inf, np.inf))[1])
    data["ci_low"] = data["ci_low"].clip(lower=low, upper=high)
    data["ci_high"] = data["ci_high"].clip(lower=low, upper=high)
    order = list(dict.fromkeys(data["condition"]))
    axis = alt.Axis(format="%", title="share of training steps done")
    x = alt.X("fraction:Q", axis=axis, scale=alt.Scale(domain=[0, 1]))
    color = alt.Color("condition:N", title=None, sort=order)
    band = alt.Chart().mark_area(opacity=0.15).encode(
        x=x, y=alt.Y("ci_low:Q", title=None, scale=alt.Scale(zero=False)), y2="ci_high:Q",
        color=color)
    line = alt.Chart().mark_line(point=True).encode(
        x=x, y="mean:Q", color=color,
        tooltip=["condition:N", "step:Q", alt.Tooltip("mean:Q", format=".3f"),
                 alt.Tooltip("ci_low:Q", format=".3f"), alt.Tooltip("ci_high:Q", format=".3f")])
    rules = alt.Chart().transform_filter("datum.switch > 0").mark_rule(
        strokeDash=[4, 3]).encode(x=alt.X("switch:Q", axis=axis), color=color)
    return alt.layer(band, line, rules, data=data).properties(width="container").facet(
        row=alt.Row("measure:N", title=None, sort=[_METRIC_TITLES.get(m, m) for m in metrics],
                    header=alt.Header(labelAngle=0, labelAlign="left", labelOrient="top")),
    ).resolve_scale(y="independent").properties(title=title)
