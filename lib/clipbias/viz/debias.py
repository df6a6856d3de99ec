"""Charts of the joint-debiasing chapter: the bias-alignment trade-off, per-prompt skew before and
after, and generalisation to images the debiasers never saw.

Every builder takes a table of :func:`clipbias.studies.joint_debiasing.run`'s result (``summary``:
one row per model, method, set and metric with ``estimate, ci_low, ci_high``; ``per_prompt``: one
row per model, method, set and prompt) and returns an altair chart narrow enough for a phone.
"""

from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import pandas as pd

from clipbias.viz._tables import require_columns

__all__ = ["generalisation_chart", "per_prompt_skew_chart", "trade_off_chart"]

_SUMMARY = ["model", "method", "set", "metric", "estimate", "ci_low", "ci_high"]


def _model_rows(summary: pd.DataFrame, model: str | None) -> tuple[pd.DataFrame, str]:
    require_columns(summary, _SUMMARY, what="summary")
    model = model if model is not None else str(summary["model"].iloc[0])
    rows = summary[summary["model"] == model]
    if rows.empty:
        raise ValueError(f"summary has no rows for model {model!r}; models present: "
                         f"{sorted(summary['model'].unique())}")
    return rows, model


def trade_off_chart(summary: pd.DataFrame, *, model: str | None = None, bias_set: str = "in_domain",
                    title: str = "") -> alt.LayerChart:
    """One point per method: MaxSkew@k on ``bias_set`` (x, lower is fairer) against zero-shot
    accuracy (y, percent), each with its 95% bootstrap interval as a cross of rules."""
    rows, model = _model_rows(summary, model)
    skew = rows[(rows["metric"] == "max_skew") & (rows["set"] == bias_set)]
    acc = rows[rows["metric"] == "accuracy"]
    if skew.empty or acc.empty:
        raise ValueError(f"summary lacks max_skew on {bias_set!r} or accuracy rows for {model!r}")
    cols = ["method", "estimate", "ci_low", "ci_high"]
    points = skew[cols].merge(acc[cols], on="method", suffixes=("_skew", "_acc"))
    base = alt.Chart(points).encode(color=alt.Color("method:N", title="method",
                                                    legend=alt.Legend(orient="bottom",
                                                                      columns=2)))
    x = alt.X("estimate_skew:Q", title="MaxSkew@k (lower is fairer)",
              scale=alt.Scale(zero=False))
    y = alt.Y("estimate_acc:Q", title="zero-shot accuracy (%)", scale=alt.Scale(zero=False))
    h = base.mark_rule().encode(x=alt.X("ci_low_skew:Q"), x2="ci_high_skew:Q", y=y)
    v = base.mark_rule().encode(x=x, y=alt.Y("ci_low_acc:Q"), y2="ci_high_acc:Q")
    dots = base.mark_point(filled=True, size=70).encode(
        x=x, y=y, shape=alt.Shape("method:N", legend=None),
        tooltip=[alt.Tooltip("method:N"), alt.Tooltip("estimate_skew:Q", format=".3f",
                                                      title="MaxSkew"),
                 alt.Tooltip("estimate_acc:Q", format=".1f", title="accuracy (%)")])
    return alt.layer(h, v, dots).properties(width=300, height=260, title=title)


def per_prompt_skew_chart(per_prompt: pd.DataFrame, *, model: str | None = None,
                          methods: Sequence[str] = ("original", "joint"),
                          bias_set: str = "in_domain", title: str = "") -> alt.LayerChart:
    """Per concept (rows), the MaxSkew@k of its prompts averaged over templates, one point per
    method in ``methods`` joined by a line: how far each query moved."""
    require_columns(per_prompt, ["model", "method", "set", "prompt", "concept", "max_skew"],
                    what="per_prompt")
    model = model if model is not None else str(per_prompt["model"].iloc[0])
    rows = per_prompt[(per_prompt["model"] == model) & (per_prompt["set"] == bias_set)
                      & per_prompt["method"].isin(list(methods))]
    missing = set(methods) - set(rows["method"])
    if missing:
        raise ValueError(f"per_prompt has no rows of method(s) {sorted(missing)} on "
                         f"{bias_set!r} for {model!r}")
    means = rows.groupby(["concept", "method"], as_index=False)["max_skew"].mean()
    y = alt.Y("concept:N", title=None, sort=alt.EncodingSortField("max_skew", op="max",
                                                                   order="descending"))
    line = alt.Chart(means).mark_line(color="gray", opacity=0.6).encode(
        x="max_skew:Q", y=y, detail="concept:N")
    dots = alt.Chart(means).mark_point(filled=True, size=60).encode(
        x=alt.X("max_skew:Q", title="MaxSkew@k (mean over templates)"), y=y,
        color=alt.Color("method:N", sort=list(methods), legend=alt.Legend(orient="bottom")),
        tooltip=[alt.Tooltip("concept:N"), alt.Tooltip("method:N"),
                 alt.Tooltip("max_skew:Q", format=".3f")])
    return alt.layer(line, dots).properties(width=300, title=title)


def generalisation_chart(summary: pd.DataFrame, *, model: str | None = None,
                         title: str = "") -> alt.LayerChart:
    """MaxSkew@k of every method on every bias set (in-domain first), points with 95% bootstrap
    intervals, one row per method and one colour per set."""
    rows, model = _model_rows(summary, model)
    skew = rows[rows["metric"] == "max_skew"]
    if skew["set"].nunique() < 2:
        raise ValueError(f"summary has one bias set for {model!r}; generalisation needs an "
                         "out-of-domain set")
    sets = list(dict.fromkeys(skew["set"]))
    y = alt.Y("method:N", title=None, sort=list(dict.fromkeys(skew["method"])))
    offset = alt.YOffset("set:N", sort=sets)
    color = alt.Color("set:N", sort=sets, title="images",
                      legend=alt.Legend(orient="bottom"))
    base = alt.Chart(skew).encode(y=y, yOffset=offset, color=color)
    rule = base.mark_rule().encode(x=alt.X("ci_low:Q"), x2="ci_high:Q")
    dots = base.mark_point(filled=True, size=50).encode(
        x=alt.X("estimate:Q", title="MaxSkew@k (95% bootstrap interval)"),
        tooltip=[alt.Tooltip("method:N"), alt.Tooltip("set:N"),
                 alt.Tooltip("estimate:Q", format=".3f"), alt.Tooltip("ci_low:Q", format=".3f"),
                 alt.Tooltip("ci_high:Q", format=".3f")])
    return alt.layer(rule, dots).properties(width=300, title=title)
