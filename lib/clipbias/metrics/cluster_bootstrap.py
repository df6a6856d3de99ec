"""Shares of cases with a cluster (model) bootstrap interval.

In a zoo every model contributes one case per test, so cases of one model are not independent;
resampling models (clusters) with replacement keeps that dependence in the interval.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from clipbias.checks import check_int

__all__ = ["ShareInterval", "cluster_share"]


@dataclass(frozen=True)
class ShareInterval:
    """A share with its percentile cluster-bootstrap interval."""

    share: float       # share of cases meeting the condition
    ci_low: float
    ci_high: float
    n_cases: int
    n_clusters: int
    confidence: float


def cluster_share(values: Sequence[float] | np.ndarray, clusters: Sequence | np.ndarray, *,
                  threshold: float, strict: bool = False, n_bootstrap: int = 2000,
                  confidence: float = 0.95, seed: int) -> ShareInterval:
    """Share of ``values >= threshold`` (``> threshold`` when ``strict``) with a cluster bootstrap.

    With h_c the cases of cluster c meeting the condition and n_c its cases, the share is
    ``sum_c h_c / sum_c n_c``. A bootstrap replicate draws C clusters with replacement (counts
    ``k_c``, multinomial) and computes ``sum_c k_c h_c / sum_c k_c n_c``; the interval is the
    ``(1 -/+ confidence) / 2`` percentiles of ``n_bootstrap`` replicates.

    Args:
        values: (n,) finite numbers (e.g. effect sizes d).
        clusters: (n,) cluster labels (e.g. model ids); at least one cluster.
        threshold: the cut-off.
        strict: use ``>`` instead of ``>=``.
        n_bootstrap: replicates, >= 1.
        confidence: interval level in (0, 1).
        seed: seed of the resampling.

    Returns:
        :class:`ShareInterval`.
    """
    v = np.asarray(values, dtype=np.float64)
    labels = np.asarray(clusters)
    if v.ndim != 1 or labels.shape != v.shape:
        raise ValueError(f"values and clusters must be 1-d of one length, got {v.shape} and "
                         f"{labels.shape}")
    if v.size == 0:
        raise ValueError("values is empty")
    if not np.isfinite(v).all():
        raise ValueError("values must be finite (drop missing effect sizes first)")
    check_int(n_bootstrap, "n_bootstrap", low=1)
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence!r}")
    hit = (v > threshold) if strict else (v >= threshold)
    codes, uniques = pd.factorize(pd.Series(labels), sort=True)
    n_c = np.bincount(codes, minlength=len(uniques)).astype(np.float64)
    h_c = np.bincount(codes, weights=hit.astype(np.float64), minlength=len(uniques))
    rng = np.random.default_rng(seed)
    k = len(uniques)
    counts = rng.multinomial(k, np.full(k, 1.0 / k), size=n_bootstrap).astype(np.float64)
    shares = (counts @ h_c) / (counts @ n_c)
    low, high = np.quantile(shares, [(1 - confidence) / 2, (1 + confidence) / 2])
    return ShareInterval(share=float(hit.mean()), ci_low=float(low), ci_high=float(high),
                         n_cases=int(v.size), n_clusters=int(k), confidence=float(confidence))
