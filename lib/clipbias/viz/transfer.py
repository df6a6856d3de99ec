"""Charts of the bias-transfer chapter: the transfer heatmap of Spearman rho, a scatter of
pretraining against downstream bias, the pairwise similarity matrices before and after
adaptation, and the causal grid. Tidy tables from :mod:`clipbias.studies.bias_transfer` in,
altair out; every chart takes the container's width, so it reads at phone width."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from clipbias.viz._tables import require_columns

__all__ = ["causal_grid_chart", "pretraining_wide", "similarity_chart", "transfer_heatmap",
           "transfer_scatter"]

_STAGE_TITLES = {"before": "before: image embeddings", "projector": "after: projector outputs",
                 "control": "control: shuffled-target projector",
                 "finetune_before": "fine-tuned subset, before",
                 "finetune_after": "fine-tuned subset, after"}


def pretraining_wide(pretraining: pd.DataFrame) -> pd.DataFrame:
    """The pretraining-bias table wide: one row per model (first-seen order), its planted
    association (NaN on real data, where nothing is planted) and one column per metric
    (first-seen order)."""
    require_columns(pretraining, ["model", "metric", "value"], what="pretraining")
    wide = pretraining.pivot_table(index="model", columns="metric", values="value", sort=False)
    wide = wide.reindex(index=pretraining["model"].unique(),
                        columns=pretraining["metric"].unique())
    wide.columns.name = None
    planted = pretraining["planted"] if "planted" in pretraining else np.nan
    wide.insert(0, "planted", pretraining.assign(planted=planted)
                .groupby("model", sort=False, dropna=False)["planted"].first())
    return wide.reset_index()


def _cell(t: pd.DataFrame) -> pd.Series:
    return t["task"] + " / " + t["metric"] + " / " + t["attribute"]


def transfer_heatmap(transfer: pd.DataFrame, *, title: str = "") -> alt.LayerChart:
    """Spearman rho between pretraining and downstream bias across models: one cell per
    pretraining metric (rows) x downstream task / metric / attribute (columns), colour = rho on
    a diverging scale fixed to [-1, 1], text = rho with a star where the Holm-adjusted p < 0.05;
    the tooltip carries the interval and both p-values."""
    require_columns(transfer, ["pretraining_metric", "task", "metric", "attribute", "rho",
                               "ci_low", "ci_high", "p_value", "p_holm", "n_models"],
                    what="transfer")
    data = transfer.assign(cell=_cell(transfer), label=[
        "" if pd.isna(r) else f"{r:.2f}" + ("*" if p < 0.05 else "")
        for r, p in zip(transfer["rho"], transfer["p_holm"].fillna(1.0), strict=True)])
    base = alt.Chart(data).encode(
        x=alt.X("cell:N", title="downstream task / metric / attribute",
                axis=alt.Axis(labelAngle=-30, labelLimit=160)),
        y=alt.Y("pretraining_metric:N", title="pretraining metric"))
    rect = base.mark_rect().encode(
        color=alt.Color("rho:Q", title="Spearman rho",
                        scale=alt.Scale(scheme="redblue", domain=[-1, 1], reverse=True)),
        tooltip=["pretraining_metric:N", "cell:N", "n_models:Q",
                 alt.Tooltip("rho:Q", format=".2f"), alt.Tooltip("ci_low:Q", format=".2f"),
                 alt.Tooltip("ci_high:Q", format=".2f"), alt.Tooltip("p_value:Q", format=".3g"),
                 alt.Tooltip("p_holm:Q", format=".3g")])
    text = base.mark_text(fontSize=11).encode(text="label:N")
    return alt.layer(rect, text).properties(width="container", title=title)


def transfer_scatter(pretraining: pd.DataFrame, downstream: pd.DataFrame, *,
                     pretraining_metric: str, task: str, metric: str, attribute: str = "group",
                     title: str = "") -> alt.Chart:
    """One point per model: its pretraining bias (x) against its downstream bias (y) for one
    transfer cell; colour = the planted pretraining association where the table has it."""
    require_columns(pretraining, ["model", "metric", "attribute", "value"], what="pretraining")
    require_columns(downstream, ["model", "task", "metric", "attribute", "value"],
                    what="downstream")
    pre = pretraining[(pretraining["metric"] == pretraining_metric)
                      & (pretraining["attribute"] == attribute)]
    down = downstream[(downstream["task"] == task) & (downstream["metric"] == metric)
                      & (downstream["attribute"] == attribute)]
    data = down.merge(pre.drop(columns=["metric"]), on=["model", "attribute"],
                      suffixes=("", "_pre"))
    if data.empty:
        raise ValueError(f"no model has both pretraining {pretraining_metric!r} and downstream "
                         f"{task!r}/{metric!r} values for attribute {attribute!r}")
    colour = alt.Color("planted:O", title="planted association") \
        if "planted" in data and data["planted"].notna().any() else alt.value("#4c78a8")
    return alt.Chart(data).mark_circle(size=70, opacity=0.85).encode(
        x=alt.X("value_pre:Q", title=f"pretraining {pretraining_metric}",
                scale=alt.Scale(zero=False)),
        y=alt.Y("value:Q", title=f"downstream {metric} ({task})", scale=alt.Scale(zero=False)),
        color=colour,
        tooltip=["model:N", alt.Tooltip("value_pre:Q", format=".3f"),
                 alt.Tooltip("value:Q", format=".3f")],
    ).properties(width="container", title=title)


def similarity_chart(similarity: pd.DataFrame, *, measure: str = "cka",
                     stages: tuple[str, ...] = ("before", "projector", "control"),
                     title: str = "") -> alt.Chart:
    """Pairwise similarity matrices of the models, one panel per stage (stacked, so each panel
    keeps the container's width); colour = the similarity on a [0, 1] scale shared by panels."""
    require_columns(similarity, ["measure", "stage", "model_a", "model_b", "value"],
                    what="similarity")
    data = similarity[(similarity["measure"] == measure) & similarity["stage"].isin(stages)]
    if data.empty:
        raise ValueError(f"similarity has no rows for measure {measure!r} and stages {stages}")
    data = data.assign(panel=data["stage"].map(_STAGE_TITLES).fillna(data["stage"]))
    order = [_STAGE_TITLES.get(s, s) for s in stages]
    return alt.Chart(data).mark_rect().encode(
        x=alt.X("model_a:N", title=None, axis=alt.Axis(labels=False, ticks=False)),
        y=alt.Y("model_b:N", title=None, axis=alt.Axis(labelLimit=140)),
        color=alt.Color("value:Q", title=measure, scale=alt.Scale(domain=[0, 1],
                                                                  scheme="viridis")),
        tooltip=["model_a:N", "model_b:N", alt.Tooltip("value:Q", format=".3f")],
    ).properties(width="container", height=180).facet(
        row=alt.Row("panel:N", title=None, sort=order)).properties(title=title)


def causal_grid_chart(grid: pd.DataFrame, *, metric: str = "error_gap",
                      title: str = "") -> alt.LayerChart:
    """Downstream bias of every run (points) and its mean per cell (lines) against the planted
    downstream-data bias, one colour per planted pretraining association. An empty grid (real
    data: nothing is planted) gives a text chart saying so."""
    if isinstance(grid, pd.DataFrame) and grid.empty:
        note = pd.DataFrame({"text": ["No causal grid: it plants its levels in the synthetic "
                                      "world, so it runs on synthetic data only."]})
        return alt.layer(alt.Chart(note).mark_text(fontSize=13).encode(text="text:N")
                         ).properties(width="container", height=60, title=title)
    require_columns(grid, ["pretraining_level", "downstream_level", "metric", "value", "model"],
                    what="grid")
    data = grid[grid["metric"] == metric]
    if data.empty:
        raise ValueError(f"grid has no runs of metric {metric!r}")
    colour = alt.Color("pretraining_level:O", title="pretraining association",
                       scale=alt.Scale(scheme="oranges"))
    x = alt.X("downstream_level:Q", title="planted downstream-data bias")
    points = alt.Chart(data).mark_circle(size=35, opacity=0.6).encode(
        x=x, y=alt.Y("value:Q", title=f"downstream {metric}"), color=colour,
        tooltip=["model:N", "downstream_level:Q", alt.Tooltip("value:Q", format=".3f")])
    lines = alt.Chart(data).mark_line().encode(x=x, y="mean(value):Q", color=colour)
    return alt.layer(points, lines).properties(width="container", title=title)
