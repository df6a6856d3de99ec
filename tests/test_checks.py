"""The shared integer validator and its users (numpy integers accepted, bools rejected)."""

from __future__ import annotations

import numpy as np
import pytest

from clipbias.checks import check_int
from clipbias.metrics.association import zero_shot_accuracy
from clipbias.metrics.retrieval import max_skew_at_k, recall_at_k, top_k_indices
from clipbias.metrics.stats import correlation


@pytest.mark.parametrize("value", [3, np.int64(3), np.int32(3), np.uint8(3)])
def test_python_and_numpy_integers_are_accepted(value):
    out = check_int(value, "n", low=1, high=5)
    assert out == 3 and type(out) is int


@pytest.mark.parametrize("value", [True, np.bool_(True), 3.0, np.float64(3), "3", None])
def test_bools_floats_and_others_are_rejected(value):
    with pytest.raises(ValueError, match=r"^n_things must be an integer"):
        check_int(value, "n_things")


def test_bounds_are_inclusive_and_named():
    assert check_int(0, "seed", low=0) == 0
    assert check_int(7, "k", low=1, high=7) == 7
    with pytest.raises(ValueError, match=r"seed must be an integer >= 0 \(non-negative\), got -1"):
        check_int(-1, "seed", low=0)
    with pytest.raises(ValueError, match=r"k must be an integer in \[1, 7\] \(the items\), got 8"):
        check_int(8, "k", low=1, high=7, what="the items")
    with pytest.raises(ValueError, match=r"j must be an integer <= 2, got 3"):
        check_int(3, "j", high=2)


def test_bootstrap_correlation_accepts_numpy_integer_resamples():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(30)
    y = x + rng.standard_normal(30)
    a = correlation(x, y, ci="bootstrap", n_bootstrap=np.int64(200), seed=1)
    b = correlation(x, y, ci="bootstrap", n_bootstrap=200, seed=1)
    assert a == b
    with pytest.raises(ValueError, match="n_bootstrap must be an integer"):
        correlation(x, y, ci="bootstrap", n_bootstrap=200.0, seed=1)


def test_k_is_keyword_only():
    sim = np.arange(12.0).reshape(2, 6)
    groups = ["a", "b"] * 3
    for call in (lambda: top_k_indices(sim, 2), lambda: max_skew_at_k(sim, groups, 2),
                 lambda: recall_at_k(sim, np.arange(2), 2),
                 lambda: zero_shot_accuracy(sim, np.arange(2), 2)):
        with pytest.raises(TypeError, match="positional"):
            call()
    assert top_k_indices(sim, k=np.int64(2)).tolist() == [[5, 4], [5, 4]]
