"""The causal grid's regression: ordinary least squares with a bootstrap over runs."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from clipbias.checks import check_int

__all__ = ["ols_bootstrap"]


def ols_bootstrap(frame: pd.DataFrame, *, y: str, x: Sequence[str], n_boot: int = 1000,
                  confidence: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """OLS coefficients of ``y ~ 1 + x_1 + ... + x_p`` with percentile bootstrap intervals.

    ``beta = argmin ||y - X beta||^2`` (X with an intercept column). The interval of each
    coefficient is the ((1-c)/2, (1+c)/2) quantiles of beta over ``n_boot`` resamples of the rows
    (runs) with replacement, drawn from ``seed``; resamples whose design is rank-deficient (a
    level of a regressor left out entirely) are skipped.

    Args:
        frame: one row per run.
        y: outcome column.
        x: regressor columns (numeric).
        n_boot: bootstrap resamples (>= 20).
        confidence: interval coverage in (0, 1).
        seed: seed of the resampling.

    Returns:
        DataFrame with columns term (``"intercept"`` then ``x``), estimate, ci_low, ci_high,
        n_runs, n_boot_used.
    """
    cols = [y, *x]
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise ValueError(f"columns not in frame: {missing}")
    check_int(n_boot, "n_boot", low=20, what="resamples for an interval")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    data = frame[cols].to_numpy(dtype=np.float64)
    if not np.isfinite(data).all():
        raise ValueError("the outcome and regressors must be finite in every run")
    n, p = data.shape[0], len(x) + 1
    design = np.column_stack([np.ones(n), data[:, 1:]])
    if n <= p or np.linalg.matrix_rank(design) < p:
        raise ValueError(f"the design is singular: {n} runs for {p} coefficients, or a regressor "
                         "does not vary; add runs or levels")
    beta = np.linalg.lstsq(design, data[:, 0], rcond=None)[0]
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot):
        rows = rng.integers(0, n, size=n)
        d = design[rows]
        if np.linalg.matrix_rank(d) < p:
            continue
        boots.append(np.linalg.lstsq(d, data[rows, 0], rcond=None)[0])
    if len(boots) < 20:
        raise ValueError("fewer than 20 bootstrap resamples had a full-rank design; add runs")
    boots = np.array(boots)
    a = (1 - confidence) / 2
    low, high = np.quantile(boots, [a, 1 - a], axis=0)
    return pd.DataFrame({"term": ["intercept", *x], "estimate": beta, "ci_low": low,
                         "ci_high": high, "n_runs": n, "n_boot_used": len(boots)})
