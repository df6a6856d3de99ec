"""Multiplicity-adjusted p-values: Holm (family-wise error) and Benjamini-Hochberg (FDR)."""

from __future__ import annotations

import numpy as np

__all__ = ["benjamini_hochberg", "holm"]


def _validated(p: np.ndarray | list[float]) -> np.ndarray:
    """p as a float64 array, after checking that every value lies in [0, 1] (no NaN)."""
    values = np.asarray(p, dtype=np.float64)
    if np.isnan(values).any():
        raise ValueError("p-values contain NaN")
    if ((values < 0.0) | (values > 1.0)).any():
        raise ValueError("p-values must lie in [0, 1]")
    return values


def holm(p: np.ndarray | list[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values (Holm 1979), same shape as ``p``.

    With ``p_(1) <= ... <= p_(m)`` sorted over all ``m`` entries:
    ``p~_(i) = max_{j <= i} min(1, (m - j + 1) p_(j))``. Reject at level alpha where
    ``p~ <= alpha``: controls the family-wise error rate under any dependence.
    """
    values = _validated(p)
    flat = values.ravel()
    m = flat.size
    order = np.argsort(flat, kind="stable")
    scaled = np.minimum(1.0, (m - np.arange(m)) * flat[order])
    adjusted = np.empty(m)
    adjusted[order] = np.maximum.accumulate(scaled)
    return adjusted.reshape(values.shape)


def benjamini_hochberg(p: np.ndarray | list[float]) -> np.ndarray:
    """Benjamini-Hochberg step-up adjusted p-values (false discovery rate), same shape as ``p``.

    With ``p_(1) <= ... <= p_(m)`` sorted over all ``m`` entries:
    ``p~_(i) = min_{j >= i} min(1, m p_(j) / j)``. Reject where ``p~ <= q``: controls the FDR at
    ``q`` for independent or positively dependent (PRDS) tests.
    """
    values = _validated(p)
    flat = values.ravel()
    m = flat.size
    order = np.argsort(flat, kind="stable")
    scaled = np.minimum(1.0, m * flat[order] / np.arange(1, m + 1))
    adjusted = np.empty(m)
    adjusted[order] = np.minimum.accumulate(scaled[::-1])[::-1]
    # m p / j >= p exactly, but (m p) / j can round one ulp below p
    return np.maximum(adjusted, flat).reshape(values.shape)
