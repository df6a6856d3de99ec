"""Coverage simulation of the two mixed-model specifications on a zoo-like layout.

On a table of models with their factors, :func:`simulate_coverage` draws R datasets with a known
fixed effect, test x order groups with random intercepts (and slopes) and an optional per-model
effect, refits both :func:`~clipbias.metrics.regression.fit_mixedlm` (the paper's grouping) and
:func:`~clipbias.metrics.regression.fit_model_aware`, and reports how often the Wald interval of a
named coefficient covers the truth and how often a null factor is called significant.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from patsy import dmatrix

from clipbias.checks import check_int
from clipbias.metrics.regression import (
    MixedLMFitError,
    _prepare,
    fit_mixedlm,
    fit_model_aware,
)
from clipbias.progress import progress

__all__ = ["CoverageResult", "simulate_coverage", "zoo_layout"]

SPECIFICATIONS = ("grouped", "model-aware")


@dataclass(frozen=True)
class CoverageResult:
    """What :func:`simulate_coverage` found.

    Attributes:
        summary: one row per specification (``grouped``, ``model-aware``): coverage (share of
            fits whose interval covers the true value of ``coefficient``), false_positive_rate
            (share of fits with p < alpha for ``null_term``, whose true value is 0),
            mean_estimate, mean_std_error, sd_estimate (spread of the estimates over datasets:
            compare with mean_std_error), singular_rate, n_fits, n_failed.
        replicates: one row per dataset x specification: replicate, specification, estimate,
            std_error, covered, null_p, null_significant, optimizer, singular, error (message of
            a failed fit, empty otherwise).
        truth: the true value of ``coefficient``.
    """

    summary: pd.DataFrame
    replicates: pd.DataFrame
    truth: float


def zoo_layout(*, n_models: int = 24, dataset_families: Sequence[str] = ("fair", "web", "skew"),
               architecture_families: Sequence[str] = ("resnet", "vit"), seed: int
               ) -> pd.DataFrame:
    """A table of synthetic models shaped like a small zoo.

    Dataset and architecture families are assigned in balanced rotation (every combination
    present when n_models allows); ``log_params`` and ``log_dataset_size`` are independent
    N(0, 1) draws (natural logs, before z-scoring).

    Returns:
        DataFrame, shape (n_models, 5): model, dataset_family, architecture_family, log_params,
        log_dataset_size.
    """
    check_int(n_models, "n_models", low=2)
    rng = np.random.default_rng(seed)
    n_ds, n_arch = len(dataset_families), len(architecture_families)
    if n_ds < 1 or n_arch < 1:
        raise ValueError("dataset_families and architecture_families need at least one level")
    index = np.arange(n_models)
    return pd.DataFrame({
        "model": [f"m{i:03d}" for i in index],
        "dataset_family": [dataset_families[i % n_ds] for i in index],
        "architecture_family": [architecture_families[(i // n_ds) % n_arch] for i in index],
        "log_params": rng.normal(0.0, 1.0, n_models),
        "log_dataset_size": rng.normal(0.0, 1.0, n_models),
    })


def _model_means(models: pd.DataFrame, rhs: str, truth: Mapping[str, float],
                 standardize: Sequence[str], reference_levels: Mapping[str, Any],
                 coefficient: str, null_term: str) -> tuple[np.ndarray, pd.DataFrame]:
    """x_m beta per model on the design scale the fits use, and the z-scored model table."""
    frame, _ = _prepare(models, [rhs], [], standardize, reference_levels)
    design = dmatrix(rhs, frame, return_type="dataframe")
    terms = list(design.columns)
    unknown = sorted(set(truth) - set(terms))
    if unknown:
        raise ValueError(f"truth names terms not in the design: {unknown} (terms: {terms})")
    for name, what in ((coefficient, "coefficient"), (null_term, "null_term")):
        if name not in terms:
            raise ValueError(f"{what} {name!r} is not a term of the design (terms: {terms})")
    if truth.get(null_term, 0.0) != 0.0:
        raise ValueError(f"null_term {null_term!r} must have true value 0, got "
                         f"{truth[null_term]!r}")
    beta = np.array([float(truth.get(t, 0.0)) for t in terms])
    return design.to_numpy() @ beta, frame


def simulate_coverage(
    models: pd.DataFrame,
    *,
    formula: str,
    truth: Mapping[str, float],
    coefficient: str,
    null_term: str,
    model_column: str = "model",
    n_tests: int = 4,
    n_orders: int = 2,
    group_sd: float = 0.5,
    slopes: Sequence[str] = (),
    slope_sd: float = 0.1,
    model_sd: float = 0.5,
    residual_sd: float = 0.3,
    standardize: Sequence[str] = (),
    reference_levels: Mapping[str, Any] | None = None,
    n_datasets: int = 30,
    confidence: float = 0.95,
    alpha: float = 0.05,
    seed: int,
    progress_bar: bool = True,
) -> CoverageResult:
    """Coverage of the 95% Wald interval and false-positive rate of both specifications.

    Each dataset has one row per model m and test x order group g (n_models x n_tests x
    n_orders rows):

        d_mg = x_m beta + u_m + a_g + sum_k b_gk z_mk + e_mg,
        u_m ~ N(0, model_sd^2), a_g ~ N(0, group_sd^2), b_gk ~ N(0, slope_sd^2),
        e_mg ~ N(0, residual_sd^2),

    where x_m is the fixed-effects design row of model m from ``formula`` (after z-scoring the
    ``standardize`` columns over the models, which equals z-scoring over the balanced rows),
    beta holds ``truth`` (terms not named are 0) and z_mk are the ``slopes`` columns. Both
    specifications are then fitted: ``fit_mixedlm`` grouped by test x order with random
    slopes of ``slopes`` (the paper's), and ``fit_model_aware`` with the model as a variance
    component. A failed fit (:class:`~clipbias.metrics.regression.MixedLMFitError`) is counted
    in ``n_failed`` and left out of the rates.

    Speed (24 models x 8 groups, both fits, one core of a shared machine under load): about
    0.35 s per dataset with random intercepts only and 0.6-0.8 s with two random slopes, so
    R = 30-50 takes 10-40 s. Boundary fits cost most: the gradient optimisers fail there before
    a derivative-free one is tried.

    Args:
        models: one row per model: ``model_column`` and every column ``formula`` uses.
        formula: ``"<response> ~ <terms>"``; the response column is simulated.
        truth: term (design column name, e.g. ``"dataset_family[T.skew]"``) -> true value.
        coefficient: term whose interval coverage is measured.
        null_term: term with true value 0 whose false-positive rate is measured.
        model_column: the model identifier column of ``models``.
        n_tests, n_orders: the groups are their combinations.
        group_sd, slope_sd, model_sd, residual_sd: standard deviations of the random parts.
        slopes: columns of ``models`` with random slopes per group (z-scored if standardised).
        standardize, reference_levels: as for ``fit_mixedlm``.
        n_datasets: R, the number of simulated datasets.
        confidence: level of the Wald intervals.
        alpha: significance level of the false-positive rate.
        seed: seeds every dataset (one child of ``numpy.random.SeedSequence(seed)`` each).
        progress_bar: show a progress bar over the datasets.

    Returns:
        :class:`CoverageResult`.
    """
    check_int(n_tests, "n_tests", low=1)
    check_int(n_orders, "n_orders", low=1)
    check_int(n_datasets, "n_datasets", low=1)
    for name, value in (("group_sd", group_sd), ("slope_sd", slope_sd),
                        ("model_sd", model_sd), ("residual_sd", residual_sd)):
        if not (np.isfinite(value) and value >= 0):
            raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    if residual_sd == 0:
        raise ValueError("residual_sd must be positive")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha!r}")
    if "~" not in formula:
        raise ValueError(f"formula must read '<response> ~ <terms>', got {formula!r}")
    response, rhs = (part.strip() for part in formula.split("~", 1))
    if model_column not in models.columns:
        raise ValueError(f"models has no column {model_column!r}")
    if models[model_column].duplicated().any():
        raise ValueError(f"models must have one row per {model_column!r}")
    reference_levels = dict(reference_levels or {})
    means, frame = _model_means(models, rhs, truth, standardize, reference_levels,
                                coefficient, null_term)
    slope_values = (frame[list(slopes)].to_numpy(dtype=np.float64) if slopes
                    else np.zeros((len(models), 0)))
    n_models, n_groups = len(models), n_tests * n_orders
    base = models.loc[np.repeat(np.arange(n_models), n_groups)].reset_index(drop=True)
    base["test"] = np.tile(np.repeat([f"t{i}" for i in range(n_tests)], n_orders), n_models)
    base["order"] = np.tile([f"o{i}" for i in range(n_orders)], n_tests * n_models)
    model_idx = np.repeat(np.arange(n_models), n_groups)
    group_idx = np.tile(np.arange(n_groups), n_models)
    re_formula = "~ " + " + ".join(slopes) if slopes else None
    common = {"standardize": standardize, "reference_levels": reference_levels,
              "confidence": confidence}
    rows: list[dict[str, Any]] = []
    children = np.random.SeedSequence(seed).spawn(n_datasets)
    for r in progress(range(n_datasets), desc="coverage simulation", unit="dataset",
                      disable=not progress_bar):
        rng = np.random.default_rng(children[r])
        u = rng.normal(0.0, model_sd, n_models)
        a = rng.normal(0.0, group_sd, n_groups)
        b = rng.normal(0.0, slope_sd, (n_groups, slope_values.shape[1]))
        data = base.copy()
        data[response] = (means[model_idx] + u[model_idx] + a[group_idx]
                          + np.einsum("ik,ik->i", b[group_idx], slope_values[model_idx])
                          + rng.normal(0.0, residual_sd, len(base)))
        fits = {
            "grouped": lambda d=data: fit_mixedlm(d, formula, groups=["test", "order"],
                                                  re_formula=re_formula, **common),
            "model-aware": lambda d=data: fit_model_aware(d, formula, model=model_column,
                                                          groups=["test", "order"],
                                                          slopes=slopes, **common),
        }
        for spec in SPECIFICATIONS:
            rows.append({"replicate": r, "specification": spec,
                         **_score(fits[spec], coefficient, null_term, truth, alpha)})
    replicates = pd.DataFrame(rows)
    return CoverageResult(summary=_summarise(replicates), replicates=replicates,
                          truth=float(truth.get(coefficient, 0.0)))


def _score(fit_fn: Any, coefficient: str, null_term: str, truth: Mapping[str, float],
           alpha: float) -> dict[str, Any]:
    """Fit one specification and score it against the truth."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = fit_fn()
    except MixedLMFitError as exc:
        return {"estimate": np.nan, "std_error": np.nan, "covered": np.nan, "null_p": np.nan,
                "null_significant": np.nan, "optimizer": "", "singular": np.nan,
                "error": str(exc)}
    table = fit.coefficients.set_index("term")
    row = table.loc[coefficient]
    true = float(truth.get(coefficient, 0.0))
    null_p = float(table.loc[null_term, "p"])
    return {"estimate": float(row.estimate), "std_error": float(row.std_error),
            "covered": float(row.ci_low <= true <= row.ci_high), "null_p": null_p,
            "null_significant": float(null_p < alpha), "optimizer": fit.optimizer,
            "singular": float(fit.singular), "error": ""}


def _summarise(replicates: pd.DataFrame) -> pd.DataFrame:
    out = []
    for spec in SPECIFICATIONS:
        part = replicates[replicates["specification"] == spec]
        ok = part[part["error"] == ""]
        out.append({
            "specification": spec,
            "coverage": float(ok["covered"].mean()) if len(ok) else np.nan,
            "false_positive_rate": float(ok["null_significant"].mean()) if len(ok) else np.nan,
            "mean_estimate": float(ok["estimate"].mean()) if len(ok) else np.nan,
            "mean_std_error": float(ok["std_error"].mean()) if len(ok) else np.nan,
            "sd_estimate": float(ok["estimate"].std(ddof=1)) if len(ok) > 1 else np.nan,
            "singular_rate": float(ok["singular"].mean()) if len(ok) else np.nan,
            "n_fits": len(ok),
            "n_failed": len(part) - len(ok),
        })
    return pd.DataFrame(out)
