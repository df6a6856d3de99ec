"""clipbias.metrics.cluster_bootstrap: shares with a model (cluster) bootstrap interval."""

from __future__ import annotations

import numpy as np
import pytest

from clipbias.metrics.cluster_bootstrap import cluster_share


def _slow_reference(values, clusters, threshold, strict, n_bootstrap, confidence, seed):
    """Loop over replicates: draw cluster indices from the same multinomial counts, stack the
    chosen clusters' cases, take the share."""
    values, clusters = np.asarray(values), np.asarray(clusters)
    labels = sorted(set(clusters.tolist()))
    rng = np.random.default_rng(seed)
    k = len(labels)
    counts = rng.multinomial(k, np.full(k, 1.0 / k), size=n_bootstrap)
    shares = []
    for row in counts:
        picked = []
        for label, times in zip(labels, row, strict=True):
            for _ in range(times):
                picked.extend(values[clusters == label].tolist())
        picked = np.array(picked)
        shares.append(np.mean(picked > threshold) if strict else np.mean(picked >= threshold))
    return np.quantile(shares, [(1 - confidence) / 2, (1 + confidence) / 2])


def test_matches_slow_reference_with_unequal_clusters():
    rng = np.random.default_rng(3)
    clusters = np.repeat(["m1", "m2", "m3", "m4", "m5"], [3, 5, 2, 6, 4])
    values = rng.normal(0.2, 0.5, clusters.size)
    for strict in (False, True):
        out = cluster_share(values, clusters, threshold=0.2, strict=strict, n_bootstrap=300,
                            seed=11)
        low, high = _slow_reference(values, clusters, 0.2, strict, 300, 0.95, 11)
        assert out.ci_low == pytest.approx(low) and out.ci_high == pytest.approx(high)
        hit = values > 0.2 if strict else values >= 0.2
        assert out.share == pytest.approx(hit.mean())
        assert (out.n_cases, out.n_clusters) == (20, 5)


def test_ties_follow_strict():
    values = [0.0, 0.0, 0.5, -0.1]
    assert cluster_share(values, ["a", "a", "b", "b"], threshold=0.0, seed=0).share == 0.75
    assert cluster_share(values, ["a", "a", "b", "b"], threshold=0.0, strict=True,
                         seed=0).share == 0.25


def test_edges_one_cluster_and_no_spread():
    out = cluster_share([1.0, 2.0], ["m", "m"], threshold=0.5, n_bootstrap=50, seed=0)
    assert (out.share, out.ci_low, out.ci_high) == (1.0, 1.0, 1.0)
    out = cluster_share([1.0, -1.0], ["a", "b"], threshold=0.0, n_bootstrap=2000, seed=1)
    assert out.ci_low == 0.0 and out.ci_high == 1.0


def test_interval_covers_when_clusters_are_independent():
    """Coverage of the 90% interval over repeated zoos, true share 0.5 (each cluster's cases
    share one draw, so the naive case bootstrap would be too narrow)."""
    covered = 0
    for r in range(200):
        rng = np.random.default_rng(r)
        shift = rng.normal(0, 1, 30)
        values = np.repeat(shift, 4) + rng.normal(0, 0.3, 120)
        out = cluster_share(values, np.repeat(np.arange(30), 4), threshold=0.0,
                            n_bootstrap=400, confidence=0.9, seed=r)
        covered += out.ci_low <= 0.5 <= out.ci_high
    assert 0.8 <= covered / 200 <= 0.97


def test_bad_inputs():
    with pytest.raises(ValueError, match="one length"):
        cluster_share([1.0, 2.0], ["a"], threshold=0, seed=0)
    with pytest.raises(ValueError, match="empty"):
        cluster_share([], [], threshold=0, seed=0)
    with pytest.raises(ValueError, match="finite"):
        cluster_share([np.nan], ["a"], threshold=0, seed=0)
    with pytest.raises(ValueError, match="confidence"):
        cluster_share([1.0], ["a"], threshold=0, confidence=1.0, seed=0)
    with pytest.raises(ValueError, match="n_bootstrap"):
        cluster_share([1.0], ["a"], threshold=0, n_bootstrap=0, seed=0)
