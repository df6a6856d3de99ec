"""Charts of the zoo chapter (intrinsic bias across the model zoo).

Every builder takes a table of :func:`clipbias.studies.zoo_intrinsic_bias.run`'s result and
returns an altair chart that fits a phone's width (``width="container"`` or a few columns).
"""

from __future__ import annotations

from collections.abc import Mapping

import altair as alt
import pandas as pd

from clipbias.metrics.regression import MixedLMFit
from clipbias.viz._tables import require_columns

__all__ = ["correlation_heatmap", "effect_size_heatmap", "fit_attempts", "fit_forest_chart",
           "random_init_chart", "sensitivity_chart"]


def fit_attempts(fits: Mapping[str, MixedLMFit]) -> pd.DataFrame:
    """What each mixed-model fit tried, as one table for display (the fits' warnings are kept
    here instead of on stderr).

    ``fits``: fit name -> :class:`~clipbias.metrics.regression.MixedLMFit`. Returns one row per
    optimiser attempt of each fit, in order: ``fit``, ``optimizer``, ``outcome`` (``accepted``,
    ``error``, ``not converged``, ``degenerate``), ``converged``, ``loglik``, ``detail``, and
    ``singular`` (whether the accepted fit's random-effects covariance is singular) and
    ``warnings`` (the accepted fit's warning messages joined with ``"; "``, ``"none"`` when it
    raised none); both missing on the other attempts.
    """
    if not fits:
        raise ValueError("fits is empty: pass fit name -> MixedLMFit")
    parts = []
    for name, fit in fits.items():
        if not isinstance(fit, MixedLMFit):
            raise ValueError(f"fits[{name!r}] must be a MixedLMFit (got {type(fit).__name__})")
        require_columns(fit.attempts, ["optimizer", "outcome", "converged", "loglik", "detail"],
                        what=f"fits[{name!r}].attempts")
        rows = fit.attempts.copy()
        accepted = rows["outcome"] == "accepted"
        said = "; ".join(dict.fromkeys(fit.warnings)) or "none"
        rows["singular"] = pd.Series([fit.singular if a else None for a in accepted],
                                     index=rows.index, dtype=object)
        rows["warnings"] = pd.Series([said if a else None for a in accepted],
                                     index=rows.index, dtype=object)
        parts.append(rows.assign(fit=str(name)))
    columns = ["fit", "optimizer", "outcome", "converged", "singular", "warnings", "loglik",
               "detail"]
    return pd.concat(parts, ignore_index=True)[columns]


def _heatmap(table: pd.DataFrame, *, value: str, text: str, title: str, value_title: str,
             domain: tuple[float, float] | None, tooltip: list) -> alt.LayerChart:
    scale = alt.Scale(scheme="redblue", reverse=True, domainMid=0,
                      **({"domain": list(domain)} if domain else {}))
    base = alt.Chart(table).encode(
        x=alt.X("order:N", title="modality order (targets-attributes)",
                axis=alt.Axis(labelAngle=-40)),
        y=alt.Y("category:N", title=None))
    cells = base.mark_rect(stroke="white").encode(
        color=alt.Color(f"{value}:Q", title=value_title, scale=scale), tooltip=tooltip)
    labels = base.mark_text(fontSize=11).encode(text=alt.Text(f"{text}:N"))
    return alt.layer(cells, labels).properties(title=title, width="container")


def effect_size_heatmap(aggregate: pd.DataFrame, *, title: str = "") -> alt.LayerChart:
    """Mean d per category x order (colour, diverging at 0), labelled ``mean ± sd`` (the paper's
    Fig. 2). ``aggregate``: columns ``category, order, n, mean, sd``."""
    require_columns(aggregate, ["category", "order", "n", "mean", "sd"], what="aggregate")
    data = aggregate.assign(label=[f"{m:.2f} ± {s:.2f}" if pd.notna(s) else f"{m:.2f}"
                                   for m, s in zip(aggregate["mean"], aggregate["sd"],
                                                   strict=True)])
    return _heatmap(data, value="mean", text="label", title=title, value_title="mean d",
                    domain=None,
                    tooltip=[alt.Tooltip("category:N"), alt.Tooltip("order:N"),
                             alt.Tooltip("n:Q", title="cases"),
                             alt.Tooltip("mean:Q", format=".3f"),
                             alt.Tooltip("sd:Q", format=".3f")])


def correlation_heatmap(correlations: pd.DataFrame, *, score: str = "vtab_plus",
                        alpha: float = 0.05, title: str = "") -> alt.LayerChart:
    """Pearson r of d with the downstream ``score`` per category x order (colour in [-1, 1]),
    labelled with r and ``*`` where p < ``alpha`` (the paper's Fig. 4).

    ``correlations``: columns ``category, order, score, estimate, p_value, ci_low, ci_high, n,
    p_holm``.
    """
    require_columns(correlations, ["category", "order", "score", "estimate", "p_value",
                                   "ci_low", "ci_high", "n", "p_holm"], what="correlations")
    data = correlations[correlations["score"] == score]
    if data.empty:
        raise ValueError(f"correlations has no rows for score {score!r}; scores present: "
                         f"{sorted(correlations['score'].unique())}")
    data = data.assign(label=[f"{r:.2f}{'*' if p < alpha else ''}"
                              for r, p in zip(data["estimate"], data["p_value"], strict=True)])
    return _heatmap(data, value="estimate", text="label", title=title, value_title="Pearson r",
                    domain=(-1.0, 1.0),
                    tooltip=[alt.Tooltip("category:N"), alt.Tooltip("order:N"),
                             alt.Tooltip("estimate:Q", title="r", format=".3f"),
                             alt.Tooltip("ci_low:Q", format=".3f"),
                             alt.Tooltip("ci_high:Q", format=".3f"),
                             alt.Tooltip("p_value:Q", title="p", format=".3g"),
                             alt.Tooltip("p_holm:Q", title="p (Holm)", format=".3g"),
                             alt.Tooltip("n:Q", title="models")])


def fit_forest_chart(coefficients: pd.DataFrame, *, title: str = "") -> alt.LayerChart:
    """Both fits side by side: each fixed effect (rows, intercept left out) with its 95% Wald
    interval, one colour per fit, a rule at 0.

    ``coefficients``: columns ``fit, term, label, estimate, ci_low, ci_high, p``.
    """
    require_columns(coefficients, ["fit", "term", "label", "estimate", "ci_low", "ci_high", "p"],
                    what="coefficients")
    data = coefficients[coefficients["term"] != "Intercept"]
    if data.empty:
        raise ValueError("coefficients has only the intercept: nothing to draw")
    order = list(dict.fromkeys(data["label"]))
    base = alt.Chart(data).encode(
        y=alt.Y("label:N", title=None, sort=order),
        yOffset=alt.YOffset("fit:N"),
        color=alt.Color("fit:N", title="fit", legend=alt.Legend(orient="bottom")))
    bars = base.mark_rule(strokeWidth=2).encode(
        x=alt.X("ci_low:Q", title="coefficient (95% Wald interval)"), x2="ci_high:Q")
    points = base.mark_point(filled=True, size=50).encode(
        x="estimate:Q",
        tooltip=[alt.Tooltip("fit:N"), alt.Tooltip("label:N", title="term"),
                 alt.Tooltip("estimate:Q", format=".3f"), alt.Tooltip("ci_low:Q", format=".3f"),
                 alt.Tooltip("ci_high:Q", format=".3f"), alt.Tooltip("p:Q", format=".3g")])
    zero = alt.Chart(pd.DataFrame({"x": [0.0]})).mark_rule(color="grey", strokeDash=[4, 4]
                                                            ).encode(x="x:Q")
    return alt.layer(zero, bars, points).properties(title=title, width="container")


def random_init_chart(trained: pd.DataFrame, untrained: pd.DataFrame, *,
                      title: str = "") -> alt.Chart:
    """|d| of every trained and untrained (random-initialisation) model and test, one row per
    modality order, as ticks coloured by which. Tables: battery rows with ``model, order, d``."""
    require_columns(trained, ["model", "order", "d"], what="trained")
    require_columns(untrained, ["model", "order", "d"], what="untrained")
    data = pd.concat([trained[["model", "order", "d"]].assign(weights="trained"),
                      untrained[["model", "order", "d"]].assign(weights="random init")],
                     ignore_index=True)
    data = data.assign(abs_d=data["d"].abs())
    return alt.Chart(data).mark_tick(thickness=2, opacity=0.6).encode(
        x=alt.X("abs_d:Q", title="|d|"),
        y=alt.Y("order:N", title=None),
        yOffset=alt.YOffset("weights:N"),
        color=alt.Color("weights:N", title=None, legend=alt.Legend(orient="bottom")),
        tooltip=[alt.Tooltip("model:N"), alt.Tooltip("order:N"),
                 alt.Tooltip("d:Q", format=".3f")],
    ).properties(title=title, width="container")


def sensitivity_chart(sensitivity: pd.DataFrame, *, title: str = "") -> alt.LayerChart:
    """Each dataset-family coefficient of the model-aware fit on all families and with one
    family left out at a time (colour), with its 95% interval.

    ``sensitivity``: columns ``fit, term, label, estimate, ci_low, ci_high`` (rows of failed
    fits, without an estimate, are skipped).
    """
    require_columns(sensitivity, ["fit", "term", "label", "estimate", "ci_low", "ci_high"],
                    what="sensitivity")
    data = sensitivity.dropna(subset=["estimate"])
    if data.empty:
        raise ValueError("sensitivity has no fitted coefficients: nothing to draw")
    base = alt.Chart(data).encode(
        y=alt.Y("label:N", title=None), yOffset=alt.YOffset("fit:N"),
        color=alt.Color("fit:N", title=None, legend=alt.Legend(orient="bottom", columns=2)))
    bars = base.mark_rule(strokeWidth=2).encode(
        x=alt.X("ci_low:Q", title="coefficient (95% interval)"), x2="ci_high:Q")
    points = base.mark_point(filled=True).encode(
        x="estimate:Q", tooltip=[alt.Tooltip("fit:N"), alt.Tooltip("label:N"),
                                 alt.Tooltip("estimate:Q", format=".3f")])
    return alt.layer(bars, points).properties(title=title, width="container")
