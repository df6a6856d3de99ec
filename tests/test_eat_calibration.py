"""Calibration under the null: X and Y drawn from one distribution give uniform p-values."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from clipbias.metrics.eat import permutation_test

#: Level of the Kolmogorov-Smirnov checks (the seeds are fixed, so the outcome is too).
KS_LEVEL = 0.01


def _null_p_values(n_rep, sizes, **options):
    rng = np.random.default_rng(2024)
    p = []
    for rep in range(n_rep):
        X, Y, A, B = (rng.normal(size=(n, 8)) for n in sizes)
        p.append(permutation_test(X, Y, A, B, seed=rep, **options).p_value)
    return np.array(p)


@pytest.mark.parametrize("alternative", ["greater", "two-sided"])
def test_sampled_p_values_are_uniform_under_the_null(alternative):
    p = _null_p_values(300, (9, 11, 6, 6), n_permutations=999, exact_threshold=0,
                       alternative=alternative)
    assert stats.kstest(p, "uniform").pvalue > KS_LEVEL
    # validity at a conventional level: the share below 0.05 is not inflated
    assert (p <= 0.05).mean() <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / p.size)


def test_exact_p_values_are_uniform_under_the_null():
    # C(12, 6) = 924 partitions: the discreteness (steps of 1/924) is far below the KS
    # critical distance at 300 replicates (about 0.094)
    p = _null_p_values(300, (6, 6, 5, 5))
    assert stats.kstest(p, "uniform").pvalue > KS_LEVEL


def test_calibration_check_has_power():
    # the same check rejects p-values from a planted association
    rng = np.random.default_rng(7)
    p = []
    for rep in range(60):
        X, Y, A, B = (rng.normal(size=(n, 8)) for n in (9, 11, 6, 6))
        X = X + 0.4 * A.mean(0)
        p.append(permutation_test(X, Y, A, B, n_permutations=999, exact_threshold=0,
                                  seed=rep).p_value)
    assert stats.kstest(p, "uniform").pvalue < KS_LEVEL
