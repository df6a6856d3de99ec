"""Correlations with confidence intervals (Fisher z or seeded percentile bootstrap), tidy results.

Pearson, Spearman and Kendall (tau-b) coefficients with two-sided p-values (scipy) and an
interval from either the Fisher z transform (with the standard error appropriate to each
coefficient) or a percentile bootstrap over resampled pairs. :func:`correlation_table` runs one
correlation per group of a data frame and adds Holm and Benjamini-Hochberg adjusted p-values
across the table. Formulas: ``book/methods/statistics.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats as sps

from clipbias.checks import check_int
from clipbias.metrics.multiplicity import benjamini_hochberg, holm

__all__ = [
    "CorrelationResult",
    "correlation",
    "correlation_table",
    "fisher_z_interval",
]

Method = Literal["pearson", "spearman", "kendall"]
Interval = Literal["fisher", "bootstrap"]

_METHODS = ("pearson", "spearman", "kendall")
#: Largest n for the vectorised O(n^2) Kendall bootstrap; above it, scipy's O(n log n) per resample.
_KENDALL_VECTOR_MAX_N = 300


@dataclass(frozen=True)
class CorrelationResult:
    """One correlation: coefficient, two-sided p-value and a confidence interval (a tidy row)."""

    method: str
    estimate: float
    p_value: float
    ci_low: float
    ci_high: float
    ci_method: str
    confidence: float
    n: int


def _z_crit(confidence: float) -> float:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence!r}")
    return float(sps.norm.ppf(0.5 + confidence / 2.0))


def _fisher_se(r: float, n: int, method: str) -> float:
    if method == "pearson":
        return 1.0 / np.sqrt(n - 3)
    if method == "spearman":  # Bonett and Wright (2000)
        return float(np.sqrt((1.0 + r * r / 2.0) / (n - 3)))
    if method == "kendall":  # Fieller, Hartley and Pearson (1957)
        return float(np.sqrt(0.437 / (n - 4)))
    raise ValueError(f"unknown method {method!r}: expected one of {_METHODS}")


def fisher_z_interval(
    r: float, n: int, *, method: Method = "pearson", confidence: float = 0.95
) -> tuple[float, float]:
    """Confidence interval of a correlation by the Fisher z transform.

    z = atanh(r); interval tanh(z -/+ z_{(1+c)/2} * se) with se = 1/sqrt(n-3) (Pearson),
    sqrt((1 + r^2/2)/(n-3)) (Spearman, Bonett-Wright) or sqrt(0.437/(n-4)) (Kendall,
    Fieller-Hartley-Pearson).

    Args:
        r: the sample coefficient, in [-1, 1].
        n: number of pairs (> 3; > 4 for Kendall).
        method: ``"pearson"``, ``"spearman"`` or ``"kendall"``.
        confidence: coverage level c in (0, 1).

    Returns:
        (low, high).
    """
    if method not in _METHODS:
        raise ValueError(f"unknown method {method!r}: expected one of {_METHODS}")
    need = 5 if method == "kendall" else 4
    if n < need:
        raise ValueError(f"the Fisher z interval for {method} needs n >= {need}, got {n}")
    if not -1.0 <= r <= 1.0:
        raise ValueError(f"r must lie in [-1, 1], got {r!r}")
    half = _z_crit(confidence) * _fisher_se(r, n, method)
    with np.errstate(divide="ignore"):
        z = np.arctanh(r)
    return float(np.tanh(z - half)), float(np.tanh(z + half))


def _pearson_rows(xb: np.ndarray, yb: np.ndarray) -> np.ndarray:
    """Pearson r of each row pair of two (B, n) arrays; NaN where a row is constant."""
    xc = xb - xb.mean(axis=1, keepdims=True)
    yc = yb - yb.mean(axis=1, keepdims=True)
    den = np.sqrt((xc * xc).sum(axis=1) * (yc * yc).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (xc * yc).sum(axis=1) / den, np.nan)


def _kendall_rows(xb: np.ndarray, yb: np.ndarray) -> np.ndarray:
    """Kendall tau-b of each row pair of two (B, n) arrays (O(B n^2), chunked over rows)."""
    n = xb.shape[1]
    pairs = n * (n - 1) / 2.0
    out = np.empty(xb.shape[0])
    step = max(1, (1 << 22) // (n * n))
    for s in range(0, xb.shape[0], step):
        dx = np.sign(xb[s:s + step, :, None] - xb[s:s + step, None, :])
        dy = np.sign(yb[s:s + step, :, None] - yb[s:s + step, None, :])
        concord = (dx * dy).sum(axis=(1, 2)) / 2.0
        untied_x = pairs - ((dx == 0).sum(axis=(1, 2)) - n) / 2.0
        untied_y = pairs - ((dy == 0).sum(axis=(1, 2)) - n) / 2.0
        den = np.sqrt(untied_x * untied_y)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[s:s + step] = np.where(den > 0, concord / den, np.nan)
    return out


def _bootstrap_estimates(
    x: np.ndarray, y: np.ndarray, method: str, n_bootstrap: int, seed: int
) -> np.ndarray:
    idx = np.random.default_rng(seed).integers(0, x.shape[0], size=(n_bootstrap, x.shape[0]))
    xb, yb = x[idx], y[idx]
    if method == "pearson":
        return _pearson_rows(xb, yb)
    if method == "spearman":
        return _pearson_rows(sps.rankdata(xb, axis=1), sps.rankdata(yb, axis=1))
    if x.shape[0] <= _KENDALL_VECTOR_MAX_N:
        return _kendall_rows(xb, yb)
    return np.array([sps.kendalltau(a, b).statistic for a, b in zip(xb, yb, strict=True)])


def _vector(v: Sequence[float] | np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(v.detach().cpu().numpy() if hasattr(v, "detach") else v, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    if np.ptp(arr) == 0:
        raise ValueError(f"{name} is constant: the correlation is undefined")
    return arr


def correlation(
    x: Sequence[float] | np.ndarray,
    y: Sequence[float] | np.ndarray,
    *,
    method: Method = "pearson",
    ci: Interval = "fisher",
    confidence: float = 0.95,
    n_bootstrap: int = 2000,
    seed: int = 0,
) -> CorrelationResult:
    """A correlation coefficient with its two-sided p-value and confidence interval.

    Pearson r, Spearman rho (Pearson r of average ranks) or Kendall tau-b; the p-value is scipy's
    (t distribution for Pearson and Spearman, exact or normal approximation for Kendall). The
    interval is :func:`fisher_z_interval` (``ci="fisher"``) or the percentile bootstrap
    (``ci="bootstrap"``): the (1-c)/2 and (1+c)/2 quantiles of the coefficient over
    ``n_bootstrap`` resamples of the n pairs with replacement, drawn from ``seed``; resamples in
    which a variable is constant (coefficient undefined) are left out.

    Args:
        x: (n,) values, finite and not constant.
        y: (n,) values paired with ``x``.
        method: ``"pearson"``, ``"spearman"`` or ``"kendall"``.
        ci: ``"fisher"`` or ``"bootstrap"``.
        confidence: coverage level in (0, 1).
        n_bootstrap: number of bootstrap resamples (``ci="bootstrap"``).
        seed: seed of the bootstrap resampling.

    Returns:
        :class:`CorrelationResult`.
    """
    if method not in _METHODS:
        raise ValueError(f"unknown method {method!r}: expected one of {_METHODS}")
    if ci not in ("fisher", "bootstrap"):
        raise ValueError(f"unknown ci {ci!r}: expected 'fisher' or 'bootstrap'")
    _z_crit(confidence)  # validates confidence
    xv, yv = _vector(x, "x"), _vector(y, "y")
    if xv.shape != yv.shape:
        raise ValueError(f"x and y must have the same length, got {xv.shape[0]} and {yv.shape[0]}")
    n = xv.shape[0]
    fn = {"pearson": sps.pearsonr, "spearman": sps.spearmanr, "kendall": sps.kendalltau}[method]
    res = fn(xv, yv)
    r, p = float(res.statistic), float(res.pvalue)
    if ci == "fisher":
        low, high = fisher_z_interval(r, n, method=method, confidence=confidence)
    else:
        n_bootstrap = check_int(n_bootstrap, "n_bootstrap", low=1)
        alpha = 1.0 - confidence
        boot = _bootstrap_estimates(xv, yv, method, n_bootstrap, seed)
        boot = boot[np.isfinite(boot)]
        if boot.size == 0:
            raise ValueError("every bootstrap resample was constant: no interval")
        low, high = (float(v) for v in np.quantile(boot, [alpha / 2.0, 1.0 - alpha / 2.0]))
    return CorrelationResult(method=method, estimate=r, p_value=p, ci_low=low, ci_high=high,
                             ci_method=ci, confidence=confidence, n=n)


def correlation_table(
    frame: pd.DataFrame,
    *,
    x: str,
    y: str,
    by: str | Sequence[str],
    method: Method = "pearson",
    ci: Interval = "fisher",
    confidence: float = 0.95,
    n_bootstrap: int = 2000,
    seed: int = 0,
) -> pd.DataFrame:
    """One :func:`correlation` of columns ``x`` and ``y`` per group of ``by``, as a tidy table.

    Columns: the ``by`` columns, then method, estimate, p_value, ci_low, ci_high, ci_method,
    confidence, n, and p_holm and p_bh (Holm and Benjamini-Hochberg adjusted p-values across
    all rows of the table). Every group uses the same bootstrap ``seed``.

    Args:
        frame: long-format data.
        x: column of the first variable.
        y: column of the second variable.
        by: grouping column(s), e.g. ``["test", "order"]``.
        method, ci, confidence, n_bootstrap, seed: as in :func:`correlation`.

    Returns:
        pandas DataFrame, one row per group, in sorted group order.
    """
    keys = [by] if isinstance(by, str) else list(by)
    missing = [c for c in [x, y, *keys] if c not in frame.columns]
    if missing:
        raise ValueError(f"columns not in frame: {missing}")
    if frame.empty:
        raise ValueError("frame has no rows")
    rows = []
    for key, part in frame.groupby(keys, sort=True):
        values = key if isinstance(key, tuple) else (key,)
        try:
            res = correlation(part[x].to_numpy(), part[y].to_numpy(), method=method, ci=ci,
                              confidence=confidence, n_bootstrap=n_bootstrap, seed=seed)
        except ValueError as err:
            raise ValueError(f"group {dict(zip(keys, values, strict=True))}: {err}") from err
        rows.append({**dict(zip(keys, values, strict=True)), **asdict(res)})
    table = pd.DataFrame(rows)
    table["p_holm"] = holm(table["p_value"].to_numpy())
    table["p_bh"] = benjamini_hochberg(table["p_value"].to_numpy())
    return table
