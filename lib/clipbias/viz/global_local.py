"""Charts of the global-vs-local chapter: global and local values per model, Kendall tau of the
model rankings, the context-correlation sweep, the oracle subsets' group mixes and a gallery of
the most biased subsets. Tidy tables from :mod:`clipbias.studies.global_vs_local` in, altair out;
every chart takes the container's width, so it reads at phone width."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from clipbias.data.synthetic import World
from clipbias.viz._tables import require_columns
from clipbias.viz.charts import model_labels
from clipbias.viz.gallery import _data_url

__all__ = ["DEPARTURE_COLUMNS", "departure_summary", "global_local_chart", "subset_gallery",
           "sweep_chart", "sweep_mix_chart", "tau_chart", "with_model_labels"]
#: The per-model departure measures :func:`departure_summary` averages.
DEPARTURE_COLUMNS = ("spread", "max_abs_dev", "share_sign_flips", "share_outside_ci",
                     "share_outside_ci_matched")

_METRIC_TITLES = {"recall_kl": "recall-KL@k", "max_skew": "MaxSkew@k", "ndkl": "NDKL@k"}


def _one(table: pd.DataFrame, what: str, **where) -> pd.DataFrame:
    out = table
    for column, value in where.items():
        out = out[out[column] == value]
    if out.empty:
        raise ValueError(f"{what} has no rows for {where}; check the metric, target and view")
    return out


def departure_summary(departures: pd.DataFrame) -> pd.DataFrame:
    """The mean over models of each departure measure (:data:`DEPARTURE_COLUMNS`), one row per
    view, metric and target (metric names as the chapter writes them).

    ``departures``: columns ``view, model, metric, target`` and the measures, one row per model
    (``global_vs_local.Result.departures``). Returns ``(views x metrics x targets, 3 + 5)``.
    """
    keys = ["view", "metric", "target"]
    require_columns(departures, [*keys, "model", *DEPARTURE_COLUMNS], what="departures")
    if departures.empty:
        raise ValueError("departures has no rows: nothing to summarise")
    out = departures.groupby(keys)[list(DEPARTURE_COLUMNS)].mean().reset_index()
    return out.assign(metric=out["metric"].map(_METRIC_TITLES).fillna(out["metric"]))


def with_model_labels(*tables: pd.DataFrame) -> list[pd.DataFrame]:
    """The tables with their ``model`` column replaced by readable names: one
    :func:`~clipbias.viz.charts.model_labels` over the distinct models of all the tables (so a
    model repeated over rows keeps one name, and the seed shows only where it tells models
    apart)."""
    for t in tables:
        require_columns(t, ["model"])
    ids = list(dict.fromkeys(str(m) for t in tables for m in t["model"]))
    names = dict(zip(ids, model_labels(ids), strict=True))
    return [t.assign(model=t["model"].astype(str).map(names)) for t in tables]


def global_local_chart(global_table: pd.DataFrame, local_table: pd.DataFrame, *,
                       metric: str = "max_skew", target: str = "uniform",
                       view: str = "oracle", title: str = "") -> alt.LayerChart:
    """One row per model (readable names, :func:`~clipbias.viz.charts.model_labels`): the global
    value (black diamond, with its bootstrap interval) and each non-degenerate subset's value
    (coloured dots, tooltip with the subset)."""
    require_columns(global_table, ["model", "metric", "target", "value", "ci_low", "ci_high"],
                    what="global_table")
    require_columns(local_table, ["view", "model", "subset", "metric", "target", "value",
                                  "degenerate"], what="local_table")
    glob = _one(global_table, "global_table", metric=metric, target=target)
    loc = _one(local_table[~local_table["degenerate"]], "local_table", metric=metric,
               target=target, view=view)
    glob, loc = with_model_labels(glob, loc)
    x_title = f"{_METRIC_TITLES.get(metric, metric)} ({target} target)"
    y = alt.Y("model:N", title=None, sort=list(glob.sort_values("value")["model"]))
    rule = alt.Chart(glob).mark_rule(color="black").encode(
        y=y, x=alt.X("ci_low:Q", title=x_title), x2="ci_high:Q")
    diamond = alt.Chart(glob).mark_point(shape="diamond", filled=True, color="black",
                                         size=70).encode(
        y=y, x="value:Q", tooltip=["model:N", alt.Tooltip("value:Q", format=".3f")])
    dots = alt.Chart(loc).mark_circle(size=40, opacity=0.7).encode(
        y=y, x="value:Q", color=alt.Color("subset:N", title="subset"),
        tooltip=["model:N", "subset:N", alt.Tooltip("value:Q", format=".3f")])
    return alt.layer(rule, dots, diamond).properties(width="container", title=title)


def tau_chart(taus: pd.DataFrame, *, title: str = "") -> alt.Chart:
    """Kendall tau between the global and each subset's ranking of the models: one tick per
    subset, rows by metric and target, colour by view."""
    require_columns(taus, ["view", "metric", "target", "subset", "tau"], what="taus")
    data = taus.dropna(subset=["tau"]).assign(
        row=lambda t: t["metric"].map(_METRIC_TITLES).fillna(t["metric"]) + " / "
        + t["target"])
    return alt.Chart(data).mark_tick(thickness=2, size=14).encode(
        x=alt.X("tau:Q", title="Kendall tau (global vs subset ranking)",
                scale=alt.Scale(domain=[-1, 1])),
        y=alt.Y("row:N", title=None),
        color=alt.Color("view:N", title="view"),
        yOffset="view:N",
        tooltip=["view:N", "metric:N", "target:N", "subset:N",
                 alt.Tooltip("tau:Q", format=".2f")],
    ).properties(width="container", title=title)


def sweep_chart(sweep: pd.DataFrame, *, title: str = "") -> alt.Chart:
    """Share of oracle subsets whose interval excludes the global value, against the evaluation
    set's group-context correlation: mean over models, one line per metric, one panel per
    target."""
    require_columns(sweep, ["level", "model", "metric", "target", "share_outside_ci"],
                    what="sweep")
    data = (sweep.groupby(["level", "metric", "target"])["share_outside_ci"].mean()
            .reset_index())
    data["metric"] = data["metric"].map(_METRIC_TITLES).fillna(data["metric"])
    return alt.Chart(data).mark_line(point=True).encode(
        x=alt.X("level:Q", title="group-context correlation r of the evaluation set"),
        y=alt.Y("share_outside_ci:Q", title="share outside the interval",
                scale=alt.Scale(domain=[0, 1])),
        color=alt.Color("metric:N", title="metric"),
        column=alt.Column("target:N", title="target"),
        tooltip=["level:Q", "metric:N", "target:N",
                 alt.Tooltip("share_outside_ci:Q", format=".2f")],
    ).properties(width=150, title=title)


def sweep_mix_chart(mix: pd.DataFrame, *, title: str = "") -> alt.Chart:
    """Group shares of each oracle subset (context) at each sweep level: stacked bars."""
    require_columns(mix, ["level", "subset", "group", "share"], what="mix")
    return alt.Chart(mix).mark_bar().encode(
        x=alt.X("share:Q", title="share of the subset's images", stack="normalize"),
        y=alt.Y("subset:N", title="context"),
        color=alt.Color("group:N", title="group"),
        row=alt.Row("level:O", title="correlation r"),
        tooltip=["level:O", "subset:N", "group:N", alt.Tooltip("share:Q", format=".2f")],
    ).properties(width="container", title=title)


def subset_gallery(world: World, labels: np.ndarray, subsets: list, *, n: int = 6,
                   scale: int = 3) -> pd.DataFrame:
    """A gallery table (for :func:`~clipbias.viz.scene_gallery_chart`): row ``r`` shows the
    first ``n`` scenes of subset ``subsets[r]`` (scenes where ``labels == subsets[r]``), with
    ``url``, ``subset``, ``caption``, ``group``, ``concept`` and ``context``."""
    labels = np.asarray(labels, dtype=object)
    if labels.shape != (len(world),):
        raise ValueError(f"labels must hold one subset per scene ({len(world)}), got "
                         f"{labels.shape}")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be an integer >= 1, got {n!r}")
    table = world.table()
    rows = []
    for r, subset in enumerate(subsets):
        members = np.flatnonzero(labels.astype(str) == str(subset))[:n]
        if members.size == 0:
            raise ValueError(f"subset {subset!r} has no scene")
        for c, i in enumerate(members):
            rows.append({"row": r, "col": c, "url": _data_url(world.images[i], scale),
                         "subset": str(subset), "caption": table["caption"].iloc[i],
                         "group": table["group"].iloc[i], "concept": table["concept"].iloc[i],
                         "context": table["context"].iloc[i]})
    return pd.DataFrame(rows)
