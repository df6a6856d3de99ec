"""Linear mixed-effects models of the zoo study, fitted with statsmodels ``MixedLM``.

Two specifications share one fitting engine and one tidy result (:class:`MixedLMFit`):

- :func:`fit_mixedlm`: the paper's specification, rows grouped by test x order with a random
  intercept and optional correlated random slopes;
- :func:`fit_model_aware`: the same fixed effects with the model as a variance component (rows
  nested in models, the test x order cells as fixed effects), because every model contributes a
  correlated row to every cell.

Around statsmodels the engine adds: z-scoring of named columns, chosen reference levels, a
full-rank check of the fixed-effects design that names the confounded columns, an optimiser
fallback that rejects degenerate fits, a repair of boundary fits (statsmodels computes the fixed
effects wrongly when a random-effect variance is exactly zero), a ``singular`` flag, and a table of
every optimiser attempt. Conventions: ``book/methods/statistics.md``.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps
from statsmodels.regression.mixed_linear_model import MixedLM, MixedLMParams

from clipbias.checks import check_int

__all__ = [
    "DEFAULT_OPTIMIZERS",
    "MixedLMFit",
    "MixedLMFitError",
    "check_full_rank",
    "fit_mixedlm",
    "fit_model_aware",
]

DEFAULT_OPTIMIZERS = ("bfgs", "lbfgs", "cg", "powell", "nm")
"""statsmodels' own order (bfgs, lbfgs, cg), then two derivative-free optimisers."""

_SM_SINGULAR_TOL = 1e-10  # below this statsmodels' GLS step treats a variance as infinite
_BOUNDARY_FLOOR = 1e-8  # relative variance at which a boundary fit is evaluated and held
_LOGLIK_TOL = 1e-7  # a boundary point at most this much worse in log-likelihood is preferred
_SE_EXPLOSION = 1e3  # a fixed-effect SE this many times its OLS SE marks a degenerate fit
_ATTEMPT_COLUMNS = ["optimizer", "outcome", "converged", "loglik", "detail"]


class MixedLMFitError(RuntimeError):
    """Every optimiser failed; ``attempts`` is the table of what was tried and why it failed."""

    def __init__(self, message: str, attempts: pd.DataFrame) -> None:
        super().__init__(message)
        self.attempts = attempts


@dataclass(frozen=True)
class MixedLMFit:
    """A fitted mixed model, reduced to tidy pieces.

    Attributes:
        coefficients: one row per fixed-effect term: term, estimate, std_error, z, p, ci_low,
            ci_high (Wald z, two-sided p, normal-theory interval).
        variance_components: component, variance: ``group`` (random intercept of the test x
            order groups) and ``group:<column>`` (random slopes) for the grouped fit, ``model``
            for the model-aware fit, and ``residual``.
        random_effects_cov: covariance matrix of the random effects per statsmodels group
            (grouped fit: intercept and slopes per test x order group; model-aware fit: the
            1 x 1 model variance).
        residual_variance: variance of the observation-level error.
        scaling: column -> (mean, standard deviation) used to z-score it (ddof=0).
        optimizer: the optimiser whose fit was accepted.
        converged: that optimiser's convergence flag.
        singular: the random-effects covariance is singular, on the boundary of the parameter
            space (a variance, or a direction of the covariance, estimated as zero). A legitimate
            estimate when the data show no such variation; the fixed effects stay valid.
        attempts: one row per optimiser tried: optimizer, outcome (``accepted``, ``error``,
            ``not converged``, ``degenerate``), converged, loglik, detail.
        warnings: messages of the warnings raised by the accepted fit (also re-emitted).
        n_obs: rows used.
        n_groups: number of test x order groups.
        n_models: number of models (model-aware fit; None for the paper's specification).
        specification: ``"grouped"`` (:func:`fit_mixedlm`) or ``"model-aware"``.
        result: the statsmodels ``MixedLMResults`` for anything further.
    """

    coefficients: pd.DataFrame
    variance_components: pd.DataFrame
    random_effects_cov: pd.DataFrame
    residual_variance: float
    scaling: dict[str, tuple[float, float]]
    optimizer: str
    converged: bool
    singular: bool
    attempts: pd.DataFrame
    warnings: tuple[str, ...]
    n_obs: int
    n_groups: int
    n_models: int | None
    specification: str
    result: Any


def _prepare(
    data: pd.DataFrame,
    formulas: Sequence[str],
    columns: Sequence[str],
    standardize: Sequence[str],
    reference_levels: Mapping[str, Any],
) -> tuple[pd.DataFrame, dict[str, tuple[float, float]]]:
    """Validate, z-score and set reference levels on a copy of ``data``."""
    if not isinstance(data, pd.DataFrame):
        raise ValueError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    if data.empty:
        raise ValueError("data has no rows")
    missing = [c for c in [*columns, *standardize, *reference_levels] if c not in data.columns]
    if missing:
        raise ValueError(f"columns not in data: {missing}")
    tokens = set(re.findall(r"[A-Za-z_][A-Za-z0-9_.]*", " ".join(formulas)))
    for col in (c for c in data.columns if c in tokens or c in columns):
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
            raise ValueError(f"reference level {level!r} is not a level of {col!r} present in "
                             f"the data (levels present: {levels}); choose one of these")
        ordered = [level, *(v for v in levels if v != level)]
        frame[col] = pd.Categorical(frame[col], categories=ordered)
    return frame, scaling


def _group_labels(frame: pd.DataFrame, groups: str | Sequence[str]) -> np.ndarray:
    """One label per row: the combination of the group columns, e.g. ``"t1 x image"``."""
    cols = [groups] if isinstance(groups, str) else list(groups)
    return frame[cols].astype(str).agg(" x ".join, axis=1).to_numpy()


def _group_columns(groups: str | Sequence[str]) -> list[str]:
    cols = [groups] if isinstance(groups, str) else list(groups)
    if not cols:
        raise ValueError("groups must name at least one column")
    return cols


def check_full_rank(exog: np.ndarray, names: Sequence[str]) -> None:
    """Raise ``ValueError`` naming the confounded columns if ``exog`` is not of full column rank.

    Columns are scanned left to right; a column whose unit-norm version lies in the span of the
    columns kept so far (``matrix_rank`` with NumPy's default tolerance) is reported as a linear
    combination of the kept columns with a non-zero least-squares weight (or as all zero).

    Args:
        exog: fixed-effects design, shape (n_rows, n_columns).
        names: the column names, length n_columns.
    """
    x = np.asarray(exog, dtype=np.float64)
    norms = np.linalg.norm(x, axis=0)
    unit = x / np.where(norms > 0, norms, 1.0)
    kept: list[int] = []
    problems: list[str] = []
    for j in range(x.shape[1]):
        if norms[j] == 0:
            problems.append(f"{names[j]} is zero in every row")
            continue
        trial = [*kept, j]
        if np.linalg.matrix_rank(unit[:, trial]) == len(trial):
            kept.append(j)
            continue
        weights = np.linalg.lstsq(unit[:, kept], unit[:, j], rcond=None)[0]
        involved = [names[k] for k, w in zip(kept, weights, strict=True) if abs(w) > 1e-6]
        problems.append(f"{names[j]} is a linear combination of {', '.join(involved)}")
    if problems:
        raise ValueError("the fixed-effects design is not of full rank (confounded columns): "
                         + "; ".join(problems) + ". Drop one of the confounded terms, merge "
                         "levels, or add data that separates them")


def _ols_reference(model: MixedLM) -> tuple[np.ndarray, np.ndarray]:
    """OLS estimates and standard errors of the fixed effects (the yardstick for degeneracy)."""
    x, y = model.exog, model.endog
    beta = np.linalg.lstsq(x, y, rcond=None)[0]
    dof = max(len(y) - x.shape[1], 1)
    sigma2 = float(np.sum((y - x @ beta) ** 2)) / dof
    se = np.sqrt(np.clip(np.diag(np.linalg.inv(x.T @ x)) * sigma2, 0.0, None))
    return beta, se


def _components(params: MixedLMParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Eigenvalues and eigenvectors of the relative covariance, and the relative vcomps."""
    if params.cov_re.size:
        w, v = np.linalg.eigh(params.cov_re)
    else:
        w, v = np.zeros(0), np.zeros((0, 0))
    return w, v, np.asarray(params.vcomp, dtype=np.float64)


def _params_from(fe: np.ndarray, w: np.ndarray, v: np.ndarray, vcomp: np.ndarray
                 ) -> MixedLMParams:
    cov = (v * w) @ v.T if w.size else np.zeros((0, 0))
    return MixedLMParams.from_components(fe_params=fe, cov_re=cov, vcomp=vcomp)


def _settle_boundary(model: MixedLM, result: Any) -> tuple[MixedLMParams | None, int]:
    """Find the boundary point of a fit, if the optimum lies on the boundary.

    The relative variances (eigenvalues of Psi = Sigma / sigma^2 and the variance components over
    sigma^2) are set, smallest first, to a tiny floor while the profile (RE)ML log-likelihood does
    not drop (by more than 1e-7): gradient optimisers stop short of a zero variance, and statsmodels
    computes the fixed effects wrongly at an exact zero. Returns the boundary parameters (None if
    the optimum is interior) and the number of floored components.
    """
    w, v, vc = _components(result.params_object)
    fe = np.zeros(model.k_fe)
    w, vc = np.maximum(w, _BOUNDARY_FLOOR), np.maximum(vc, _BOUNDARY_FLOOR)

    def loglik(w_: np.ndarray, vc_: np.ndarray) -> float:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return float(model.loglike(_params_from(fe, w_, v, vc_), profile_fe=True))

    best = loglik(w, vc)
    values = np.concatenate([w, vc])
    floored = int(np.sum(values <= _BOUNDARY_FLOOR))
    for k in np.argsort(values, kind="stable"):
        if values[k] <= _BOUNDARY_FLOOR:
            continue
        trial = values.copy()
        trial[k] = _BOUNDARY_FLOOR
        value = loglik(trial[: w.size], trial[w.size:])
        if not np.isfinite(value) or value < best - _LOGLIK_TOL:
            break
        values, best, floored = trial, max(best, value), floored + 1
    if floored == 0:
        return None, 0
    return _params_from(fe, values[: w.size], v, values[w.size:]), floored


def _hold_at(model: MixedLM, params: MixedLMParams, *, reml: bool, maxiter: int) -> Any:
    """Refit with the variance parameters held at ``params`` (fixed effects by GLS)."""
    free = MixedLMParams.from_components(
        fe_params=np.ones(model.k_fe), cov_re=np.zeros_like(params.cov_re),
        vcomp=np.zeros_like(params.vcomp))
    return model.fit(reml=reml, start_params=params, free=free, method="bfgs", maxiter=maxiter)


def _degeneracy(result: Any, ols_beta: np.ndarray, ols_se: np.ndarray) -> str:
    """Why a converged fit is not usable (empty string if it is)."""
    fe = np.asarray(result.fe_params, dtype=np.float64)
    k = fe.size
    cov = np.asarray(result.cov_params(), dtype=np.float64)[:k, :k]
    se = np.sqrt(np.diag(cov)) if np.all(np.diag(cov) > 0) else np.full(k, np.nan)
    if not (np.all(np.isfinite(fe)) and np.all(np.isfinite(se))):
        return "NaN estimates or standard errors (Hessian not positive definite)"
    if np.linalg.eigvalsh((cov + cov.T) / 2.0).min() <= 0:
        return "fixed-effects covariance not positive definite"
    ratio = se / np.where(ols_se > 0, ols_se, np.inf)
    if ratio.max() > _SE_EXPLOSION:
        return f"standard errors exploded ({ratio.max():.3g} x the OLS standard error)"
    collapsed = (np.abs(fe) <= 1e-10 * np.maximum(1.0, np.abs(ols_beta))) & (
        np.abs(ols_beta) > 2.0 * ols_se)
    if collapsed.any():
        return f"fixed effects collapsed to 0 ({collapsed.sum()} of {k})"
    return ""


def _attempt(model: MixedLM, optimizer: str, *, reml: bool, maxiter: int,
             ols: tuple[np.ndarray, np.ndarray]) -> tuple[dict[str, Any], Any, list, bool]:
    """One optimiser: fit, settle a boundary optimum, check for degeneracy."""
    row: dict[str, Any] = {"optimizer": optimizer, "converged": False, "loglik": np.nan}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = model.fit(reml=reml, method=[optimizer], maxiter=maxiter)
            row["converged"] = bool(result.converged)
            boundary, floored = _settle_boundary(model, result)
            if boundary is not None:
                converged = bool(result.converged)
                result = _hold_at(model, boundary, reml=reml, maxiter=maxiter)
                result.converged = converged
        except Exception as exc:  # every failure is recorded, and reported if none succeeds
            return {**row, "outcome": "error",
                    "detail": f"{type(exc).__name__}: {exc}"}, None, list(caught), False
    row["loglik"] = float(result.llf)
    problem = _degeneracy(result, *ols)
    if problem:
        return {**row, "outcome": "degenerate", "detail": problem}, None, list(caught), False
    if not row["converged"]:
        return {**row, "outcome": "not converged", "detail": "optimiser did not converge"}, \
            result, list(caught), floored > 0
    detail = f"{floored} variance component(s) on the boundary" if floored else ""
    return {**row, "outcome": "accepted", "detail": detail}, result, list(caught), floored > 0


def _fit_with_fallback(model: MixedLM, *, reml: bool, optimizers: Sequence[str],
                       maxiter: int, allow_unconverged: bool
                       ) -> tuple[Any, str, bool, pd.DataFrame, list]:
    """Try the optimisers in order; accept the first converged, non-degenerate fit."""
    ols = _ols_reference(model)
    rows: list[dict[str, Any]] = []
    fallback: tuple[Any, str, bool, list] | None = None
    for optimizer in optimizers:
        row, result, caught, singular = _attempt(model, optimizer, reml=reml, maxiter=maxiter,
                                                 ols=ols)
        rows.append(row)
        if row["outcome"] == "accepted":
            return result, optimizer, singular, pd.DataFrame(rows, columns=_ATTEMPT_COLUMNS), \
                caught
        if row["outcome"] == "not converged" and (
                fallback is None or result.llf > fallback[0].llf):
            fallback = (result, optimizer, singular, caught)
    attempts = pd.DataFrame(rows, columns=_ATTEMPT_COLUMNS)
    if allow_unconverged and fallback is not None:
        rows[[r["optimizer"] for r in rows].index(fallback[1])]["outcome"] = "accepted"
        attempts = pd.DataFrame(rows, columns=_ATTEMPT_COLUMNS)
        return fallback[0], fallback[1], fallback[2], attempts, fallback[3]
    tried = "; ".join(f"{r['optimizer']}: {r['outcome']} ({r['detail']})" for r in rows)
    raise MixedLMFitError(
        f"no optimiser produced a usable mixed-model fit. Tried {tried}. Simplify the random "
        "effects (drop random slopes), raise maxiter, or pass allow_unconverged=True to inspect "
        "the best unconverged fit", attempts)


def _coefficient_table(result: Any, confidence: float) -> pd.DataFrame:
    estimate = result.fe_params
    se = result.bse_fe
    z = estimate / se
    half = sps.norm.ppf(0.5 + confidence / 2.0) * se
    return pd.DataFrame({
        "term": estimate.index.astype(str),
        "estimate": estimate.to_numpy(),
        "std_error": se.to_numpy(),
        "z": z.to_numpy(),
        "p": 2.0 * sps.norm.sf(np.abs(z.to_numpy())),
        "ci_low": (estimate - half).to_numpy(),
        "ci_high": (estimate + half).to_numpy(),
    })


def _check_common(confidence: float, maxiter: int, optimizers: Sequence[str] | None
                  ) -> tuple[str, ...]:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence!r}")
    check_int(maxiter, "maxiter", low=1)
    chosen = tuple(DEFAULT_OPTIMIZERS if optimizers is None else
                   ([optimizers] if isinstance(optimizers, str) else optimizers))
    if not chosen:
        raise ValueError("optimizers must name at least one optimiser, e.g. ('bfgs', 'powell')")
    bad = [o for o in chosen if o.lower() in ("newton", "ncg")]
    if bad:
        raise ValueError(f"optimizers {bad} are not available for MixedLM; use "
                         f"{DEFAULT_OPTIMIZERS}")
    return chosen


def _finish(model: MixedLM, *, reml: bool, optimizers: Sequence[str], maxiter: int,
            allow_unconverged: bool, confidence: float, scaling: dict, n_groups: int,
            n_models: int | None, specification: str, components: list[str]) -> MixedLMFit:
    check_full_rank(model.exog, model.exog_names)
    result, optimizer, singular, attempts, caught = _fit_with_fallback(
        model, reml=reml, optimizers=optimizers, maxiter=maxiter,
        allow_unconverged=allow_unconverged)
    messages = tuple(dict.fromkeys(str(w.message) for w in caught))
    for w in caught:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    cov_re = pd.DataFrame(result.cov_re) if model.k_re else pd.DataFrame()
    variances = [*np.diag(np.asarray(result.cov_re, dtype=np.float64)),
                 *np.asarray(result.vcomp, dtype=np.float64), float(result.scale)]
    return MixedLMFit(
        coefficients=_coefficient_table(result, confidence),
        variance_components=pd.DataFrame({"component": [*components, "residual"],
                                          "variance": variances}),
        random_effects_cov=cov_re,
        residual_variance=float(result.scale),
        scaling=scaling,
        optimizer=optimizer,
        converged=bool(result.converged),
        singular=bool(singular),
        attempts=attempts,
        warnings=messages,
        n_obs=int(result.nobs),
        n_groups=n_groups,
        n_models=n_models,
        specification=specification,
        result=result,
    )


def fit_mixedlm(
    data: pd.DataFrame,
    formula: str,
    *,
    groups: str | Sequence[str],
    re_formula: str | None = None,
    reml: bool = True,
    standardize: Sequence[str] = (),
    reference_levels: Mapping[str, Any] | None = None,
    optimizers: str | Sequence[str] | None = None,
    maxiter: int = 1000,
    confidence: float = 0.95,
    allow_unconverged: bool = False,
) -> MixedLMFit:
    """Fit the grouped linear mixed-effects model (the paper's specification).

    Model: y = X beta + Z_g b_g + e, b_g ~ N(0, Sigma) per group g, e ~ N(0, sigma^2 I); X from
    ``formula`` (treatment coding of categorical terms), Z from ``re_formula`` (default: random
    intercept only; e.g. ``"~ log_params + log_dataset_size"`` adds correlated random slopes).
    Fitted by REML (default) or ML with statsmodels ``MixedLM``. Wald inference per fixed
    effect: z = estimate / se, p = 2 (1 - Phi(|z|)), interval estimate -/+ z_{(1+c)/2} se.

    Fitting: the design X must have full column rank (else ``ValueError`` naming the confounded
    columns). The optimisers are tried in order, each from statsmodels' default start; a fit is
    accepted when it converged and is not degenerate (finite estimates, positive-definite
    fixed-effects covariance, no standard error above 1000 x its OLS value, no fixed effect
    collapsed to exactly 0). If the optimum lies on the boundary (a variance, or a direction of
    Sigma, is zero) the variances are held there, the fixed effects refitted by GLS and the fit
    flagged ``singular``. Every attempt is listed in ``.attempts``.

    Args:
        data: long-format rows, shape (n_rows, columns) (not modified).
        formula: fixed part, e.g. ``"d ~ log_params + architecture_family + dataset_family +
            log_dataset_size"``.
        groups: grouping column, or several columns whose combination defines a group (e.g.
            ``["test", "order"]``).
        re_formula: random-effects formula, or None for a random intercept.
        reml: REML (True) or maximum likelihood (False).
        standardize: numeric columns to z-score before fitting: (x - mean) / sd with ddof=0.
        reference_levels: factor column -> its reference (baseline) level, which must occur in
            the data; other levels keep sorted order. Factors not named here use their first
            sorted level.
        optimizers: optimisers to try in order (default :data:`DEFAULT_OPTIMIZERS`).
        maxiter: iteration limit of each optimiser.
        confidence: coverage level of the coefficient intervals.
        allow_unconverged: if no optimiser converges, return the best non-degenerate
            unconverged fit (``converged=False``) instead of raising.

    Returns:
        :class:`MixedLMFit`. Warnings raised by the accepted fit (e.g. ``ConvergenceWarning``)
        are recorded in ``.warnings`` and re-emitted to the caller.

    Raises:
        ValueError: bad input, an absent reference level, a rank-deficient design.
        MixedLMFitError: no optimiser produced a usable fit (the message lists each attempt).
    """
    chosen = _check_common(confidence, maxiter, optimizers)
    group_cols = _group_columns(groups)
    frame, scaling = _prepare(data, [formula, re_formula or ""], group_cols, standardize,
                              reference_levels or {})
    labels = _group_labels(frame, group_cols)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = MixedLM.from_formula(formula, data=frame, groups=labels, re_formula=re_formula,
                                     missing="raise")
    exog_re = np.asarray(model.exog_re, dtype=np.float64)
    components = ["group" if np.all(exog_re[:, i] == 1.0) else f"group:{name}"
                  for i, name in enumerate(model.data.exog_re_names)]
    return _finish(model, reml=reml, optimizers=chosen, maxiter=maxiter,
                   allow_unconverged=allow_unconverged, confidence=confidence, scaling=scaling,
                   n_groups=len(model.group_labels), n_models=None, specification="grouped",
                   components=components)


def fit_model_aware(
    data: pd.DataFrame,
    formula: str,
    *,
    model: str,
    groups: str | Sequence[str],
    slopes: Sequence[str] = (),
    reml: bool = True,
    standardize: Sequence[str] = (),
    reference_levels: Mapping[str, Any] | None = None,
    optimizers: str | Sequence[str] | None = None,
    maxiter: int = 1000,
    confidence: float = 0.95,
    allow_unconverged: bool = False,
) -> MixedLMFit:
    """Fit the same fixed effects with the model as a variance component.

    Model, for model m in test x order group g (rows r of that cell):
    y_mgr = x_m beta + u_m + a_g + sum_k c_gk s_mk + e_mgr, with u_m ~ N(0, tau^2) (one shared
    deviation per model: the source of correlated rows) and e ~ N(0, sigma^2). The group
    intercepts a_g and the per-group slopes c_gk of the ``slopes`` columns are fixed effects in
    sum-to-zero coding, so ``Intercept`` and each slope coefficient are averages over the groups
    (the battery's cells are the fixed set of interest, not a sample). Only the terms of
    ``formula`` are reported. The standard error of each averaged term (the intercept, each
    slope) is widened by the between-group spread of its group deviations (a moment estimate
    s^2 from the fitted deviations: se' = sqrt(se^2 + s^2 / G)), so its interval is about the
    population of groups, as in the paper's random-effects reading; s^2 is reported as the
    variance components ``group`` and ``group:<slope>``. The paper's grouping treats the rows
    of one model in different groups as independent, so model-level predictors look as if
    measured on n_models x n_groups independent units; here they are informed by n_models
    units, as they should be.

    Why this form: crossed random effects (model and group both random) need statsmodels'
    one-group variance-component form, which took about 9 minutes on the paper's 3,406 rows;
    nesting rows in models takes seconds. With every model in every group, the estimates of
    model-level terms equal those of the crossed fit.

    Inference, optimiser fallback, boundary handling (tau^2 = 0 is flagged ``singular``) and the
    rank check (over the full design, group terms included) are those of :func:`fit_mixedlm`.

    Args:
        data: long-format rows, shape (n_rows, columns): one or more rows per model x group;
            not modified.
        formula: fixed part, as for :func:`fit_mixedlm`.
        model: column identifying the model each row comes from.
        groups: grouping column(s), as for :func:`fit_mixedlm`.
        slopes: numeric columns whose slope may differ between groups (the paper's random
            slopes, here ``("log_params", "log_dataset_size")``); z-scored first when in
            ``standardize``.
        reml, standardize, reference_levels, optimizers, maxiter, confidence,
        allow_unconverged: as for :func:`fit_mixedlm`.

    Returns:
        :class:`MixedLMFit` with ``specification="model-aware"`` and variance components
        ``model`` (REML), ``group`` and ``group:<slope>`` (moment estimates) and ``residual``.

    Raises:
        ValueError: bad input, an absent reference level, a rank-deficient design.
        MixedLMFitError: no optimiser produced a usable fit.
    """
    chosen = _check_common(confidence, maxiter, optimizers)
    group_cols = _group_columns(groups)
    slopes = list(slopes)
    frame, scaling = _prepare(data, [formula], [model, *group_cols, *slopes], standardize,
                              reference_levels or {})
    for col in slopes:
        if not pd.api.types.is_numeric_dtype(frame[col]):
            raise ValueError(f"slope column {col!r} is not numeric")
        if not col.isidentifier():
            raise ValueError(f"slope column {col!r} must be a Python identifier (it is written "
                             "into the formula as is); rename it")
    n_models = int(frame[model].nunique())
    if n_models < 2:
        raise ValueError(f"column {model!r} has {n_models} model(s): the model-aware fit needs "
                         "at least 2")
    frame["_group_"] = _group_labels(frame, group_cols)
    n_groups = int(frame["_group_"].nunique())
    extra = [f"C(_group_, Sum):{col}" for col in slopes]
    if n_groups > 1:
        extra.insert(0, "C(_group_, Sum)")
    full = " + ".join([formula, *extra])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mixed = MixedLM.from_formula(full, data=frame,
                                     groups=frame[model].astype(str).to_numpy(),
                                     missing="raise")
    fit = _finish(mixed, reml=reml, optimizers=chosen, maxiter=maxiter,
                  allow_unconverged=allow_unconverged, confidence=confidence, scaling=scaling,
                  n_groups=n_groups, n_models=n_models, specification="model-aware",
                  components=["model"])
    return _average_over_groups(fit, slopes, n_groups, confidence)


def _average_over_groups(fit: MixedLMFit, slopes: Sequence[str], n_groups: int,
                         confidence: float) -> MixedLMFit:
    """Widen the group-averaged terms by the spread of the groups; drop the group terms.

    For the intercept (and each slope column) the G per-group deviations d = L delta (sum
    coding: L = [I; -1'], delta the G - 1 fitted coefficients, covariance C) estimate the
    between-group variance by moments, s^2 = max(0, (d'd - tr(L C L')) / (G - 1)); the averaged
    term gets se' = sqrt(se^2 + s^2 / G), as if the groups were random.
    """
    fe = fit.result.fe_params
    cov = pd.DataFrame(np.asarray(fit.result.cov_params())[: fe.size, : fe.size],
                       index=fe.index, columns=fe.index)
    table = fit.coefficients.set_index("term")
    added: dict[str, float] = {}
    for term, suffix in (("Intercept", ""), *((col, f":{col}") for col in slopes)):
        names = [n for n in fe.index if n.startswith("C(_group_, Sum)[S.")
                 and (n.endswith(suffix) if suffix else ":" not in n)]
        if term not in table.index or len(names) != n_groups - 1 or n_groups < 2:
            continue
        lmat = np.vstack([np.eye(n_groups - 1), -np.ones((1, n_groups - 1))])
        dev = lmat @ fe[names].to_numpy()
        noise = np.trace(lmat @ cov.loc[names, names].to_numpy() @ lmat.T)
        spread = max(0.0, (float(dev @ dev) - noise) / (n_groups - 1))
        added["group" if term == "Intercept" else f"group:{term}"] = spread
        table.loc[term, "std_error"] = float(np.hypot(table.loc[term, "std_error"],
                                                      np.sqrt(spread / n_groups)))
    table = table[~table.index.str.contains("_group_", regex=False)].copy()
    table["z"] = table["estimate"] / table["std_error"]
    table["p"] = 2.0 * sps.norm.sf(np.abs(table["z"]))
    half = sps.norm.ppf(0.5 + confidence / 2.0) * table["std_error"]
    table["ci_low"], table["ci_high"] = table["estimate"] - half, table["estimate"] + half
    components = pd.concat([fit.variance_components.iloc[:-1],
                            pd.DataFrame({"component": list(added),
                                          "variance": list(added.values())}),
                            fit.variance_components.iloc[-1:]], ignore_index=True)
    return replace(fit, coefficients=table.reset_index(), variance_components=components)
