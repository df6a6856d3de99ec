"""A thin wrapper around statsmodels ``MixedLM``: the zoo study's linear mixed-effects model.

It adds what the study needs around one ``MixedLM.from_formula(...).fit(...)`` call: grouping by
one or several columns (test x order), z-scoring of named columns, chosen reference levels of
categorical factors, a tidy coefficient table, and convergence warnings that are recorded on the
result *and* re-emitted, never swallowed. Specification and conventions:
``book/methods/statistics.md``.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps
from statsmodels.regression.mixed_linear_model import MixedLM

__all__ = ["MixedLMFit", "fit_mixedlm"]


@dataclass(frozen=True)
class MixedLMFit:
    """A fitted mixed model, reduced to tidy pieces.

    Attributes:
        coefficients: one row per fixed-effect term: term, estimate, std_error, z, p, ci_low,
            ci_high (Wald z, two-sided p, normal-theory interval).
        random_effects_cov: covariance matrix of the random effects (intercept and slopes).
        residual_variance: variance of the observation-level error.
        scaling: column -> (mean, standard deviation) used to z-score it (ddof=0).
        converged: the optimiser's convergence flag.
        warnings: messages of the warnings raised while fitting (also re-emitted).
        n_obs: rows used.
        n_groups: number of groups.
        result: the statsmodels ``MixedLMResults`` for anything further.
    """

    coefficients: pd.DataFrame
    random_effects_cov: pd.DataFrame
    residual_variance: float
    scaling: dict[str, tuple[float, float]]
    converged: bool
    warnings: tuple[str, ...]
    n_obs: int
    n_groups: int
    result: Any


def _prepare(
    data: pd.DataFrame,
    formulas: Sequence[str],
    groups: str | Sequence[str],
    standardize: Sequence[str],
    reference_levels: Mapping[str, Any],
) -> tuple[pd.DataFrame, np.ndarray, dict[str, tuple[float, float]]]:
    if not isinstance(data, pd.DataFrame):
        raise ValueError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    if data.empty:
        raise ValueError("data has no rows")
    group_cols = [groups] if isinstance(groups, str) else list(groups)
    if not group_cols:
        raise ValueError("groups must name at least one column")
    missing = [c for c in [*group_cols, *standardize, *reference_levels] if c not in data.columns]
    if missing:
        raise ValueError(f"columns not in data: {missing}")
    tokens = set(re.findall(r"[A-Za-z_][A-Za-z0-9_.]*", " ".join(formulas)))
    for col in (c for c in data.columns if c in tokens):
        if data[col].isna().any():
            raise ValueError(f"column {col!r} of the model has missing values: drop or impute "
                             "those rows first")
    frame = data.copy()
    scaling: dict[str, tuple[float, float]] = {}
    for col in standardize:
        if not pd.api.types.is_numeric_dtype(frame[col]):
            raise ValueError(f"column {col!r} to z-score is not numeric")
        values = frame[col].to_numpy(dtype=np.float64)
        if not np.isfinite(values).all():
            raise ValueError(f"column {col!r} to z-score contains NaN or infinite values")
        mean, std = float(values.mean()), float(values.std())
        if std == 0:
            raise ValueError(f"column {col!r} is constant: it cannot be z-scored")
        frame[col] = (values - mean) / std
        scaling[col] = (mean, std)
    for col, level in reference_levels.items():
        if frame[col].isna().any():
            raise ValueError(f"factor column {col!r} contains missing values")
        levels = sorted(pd.unique(frame[col]).tolist())
        if level not in levels:
            raise ValueError(f"reference level {level!r} is not a level of {col!r} "
                             f"(levels: {levels})")
        ordered = [level, *(v for v in levels if v != level)]
        frame[col] = pd.Categorical(frame[col], categories=ordered)
    if frame[group_cols].isna().any().any():
        raise ValueError(f"group columns {group_cols} contain missing values")
    labels = frame[group_cols].astype(str).agg(" x ".join, axis=1).to_numpy()
    return frame, labels, scaling


def fit_mixedlm(
    data: pd.DataFrame,
    formula: str,
    *,
    groups: str | Sequence[str],
    re_formula: str | None = None,
    reml: bool = True,
    standardize: Sequence[str] = (),
    reference_levels: Mapping[str, Any] | None = None,
    method: str | Sequence[str] = "lbfgs",
    maxiter: int = 1000,
    confidence: float = 0.95,
) -> MixedLMFit:
    """Fit a linear mixed-effects model and return a tidy coefficient table.

    Model: y = X beta + Z_g b_g + e, b_g ~ N(0, Sigma) per group g, e ~ N(0, sigma^2); X from
    ``formula`` (treatment coding of categorical terms), Z from ``re_formula`` (default: random
    intercept only; e.g. ``"~ log_params + log_dataset_size"`` adds correlated random slopes).
    Fitted by REML (default) or ML with statsmodels ``MixedLM``. Wald inference per fixed
    effect: z = estimate / se, p = 2 (1 - Phi(|z|)), interval estimate -/+ z_{(1+c)/2} se.

    Args:
        data: long-format rows (not modified).
        formula: fixed part, e.g. ``"d ~ log_params + architecture_family + dataset_family +
            log_dataset_size"``.
        groups: grouping column, or several columns whose combination defines a group (e.g.
            ``["test", "order"]``).
        re_formula: random-effects formula, or None for a random intercept.
        reml: REML (True) or maximum likelihood (False).
        standardize: numeric columns to z-score before fitting: (x - mean) / sd with ddof=0.
        reference_levels: factor column -> its reference (baseline) level; other levels keep
            sorted order. Factors not named here use their first sorted level.
        method: optimiser(s) passed to ``MixedLMResults.fit``.
        maxiter: iteration limit of the optimiser.
        confidence: coverage level of the coefficient intervals.

    Returns:
        :class:`MixedLMFit`. Warnings raised during fitting (e.g. ``ConvergenceWarning``) are
        recorded in ``.warnings`` and re-emitted to the caller.
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence!r}")
    formulas = [formula, re_formula or ""]
    frame, labels, scaling = _prepare(data, formulas, groups, standardize, reference_levels or {})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = MixedLM.from_formula(formula, data=frame, groups=labels, re_formula=re_formula,
                                     missing="raise")
        result = model.fit(reml=reml, method=method, maxiter=maxiter)
    messages = tuple(dict.fromkeys(str(w.message) for w in caught))
    for w in caught:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    estimate = result.fe_params
    se = result.bse_fe
    z = estimate / se
    half = sps.norm.ppf(0.5 + confidence / 2.0) * se
    coefficients = pd.DataFrame({
        "term": estimate.index.astype(str),
        "estimate": estimate.to_numpy(),
        "std_error": se.to_numpy(),
        "z": z.to_numpy(),
        "p": 2.0 * sps.norm.sf(np.abs(z.to_numpy())),
        "ci_low": (estimate - half).to_numpy(),
        "ci_high": (estimate + half).to_numpy(),
    })
    return MixedLMFit(
        coefficients=coefficients,
        random_effects_cov=pd.DataFrame(result.cov_re),
        residual_variance=float(result.scale),
        scaling=scaling,
        converged=bool(result.converged),
        warnings=messages,
        n_obs=int(result.nobs),
        n_groups=len(model.group_labels),
        result=result,
    )
