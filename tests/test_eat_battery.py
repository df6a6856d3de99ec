"""Partition streams, the bootstrap interval and the batched battery against single tests."""

from __future__ import annotations

import itertools
import math
from collections import Counter

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats

from clipbias.metrics.eat import permutation_test
from clipbias.metrics.eat_battery import BATTERY_COLUMNS, EATRecord, run_eat_battery
from clipbias.metrics.eat_bootstrap import bootstrap_effect_size
from clipbias.metrics.permutations import (
    block_rows,
    count_exceedances,
    exact_partition_blocks,
    sampled_partition_blocks,
)

# ---------------------------------------------------------------- partition streams


@pytest.mark.parametrize(("n", "k"), [(6, 3), (7, 2), (5, 5), (9, 1), (10, 7)])
def test_exact_blocks_are_every_combination_in_lexicographic_order(n, k):
    rows = torch.cat(list(exact_partition_blocks(n, k)))
    got = [tuple(np.flatnonzero(r.numpy())) for r in rows]
    assert got == list(itertools.combinations(range(n), k))


def test_exact_blocks_stream_in_bounded_blocks():
    n, k = 20, 10  # 184,756 partitions
    sizes = [b.shape for b in exact_partition_blocks(n, k)]
    assert all(rows <= block_rows(n) for rows, _ in sizes)
    assert sum(rows for rows, _ in sizes) == math.comb(n, k)


@pytest.mark.parametrize(("n", "k"), [(5, 2), (5, 4)])
def test_sampled_partitions_are_uniform_over_subsets(n, k):
    rows = torch.cat(list(sampled_partition_blocks(n, k, 20_000, seed=4)))
    assert (rows.sum(1) == k).all()
    freq = Counter(tuple(np.flatnonzero(r.numpy())) for r in rows)
    assert len(freq) == math.comb(n, k)
    observed = np.array(list(freq.values()))
    assert stats.chisquare(observed).pvalue > 0.001


def test_sampled_stream_is_reproducible_and_blocked():
    first = torch.cat(list(sampled_partition_blocks(30, 12, 20_000, seed=9)))
    again = torch.cat(list(sampled_partition_blocks(30, 12, 20_000, seed=9)))
    other = torch.cat(list(sampled_partition_blocks(30, 12, 20_000, seed=10)))
    assert torch.equal(first, again) and not torch.equal(first, other)
    # the first blocks do not depend on how many samples follow
    shorter = torch.cat(list(sampled_partition_blocks(30, 12, block_rows(30) + 5, seed=9)))
    assert torch.equal(shorter[: block_rows(30)], first[: block_rows(30)])


def test_counts_do_not_depend_on_the_memory_budget():
    scores = torch.from_numpy(np.random.default_rng(1).normal(size=(40, 37)) * 0.1)
    options = {"alternative": "two-sided", "n_permutations": 3000, "exact_threshold": 0,
               "seed": 2}
    wide = count_exceedances(scores, 15, **options)
    narrow = count_exceedances(scores, 15, memory_budget=8 * 3000 * 3 * 4, **options)
    np.testing.assert_array_equal(wide.counts, narrow.counts)


# ---------------------------------------------------------------- bootstrap


def _ref_d(X, Y, A, B):
    def s(w):
        cos = lambda u, v: float(u @ v / np.sqrt((u @ u) * (v @ v)))  # noqa: E731
        return np.mean([cos(w, a) for a in A]) - np.mean([cos(w, b) for b in B])
    values = [s(w) for w in [*X, *Y]]
    return (np.mean(values[: len(X)]) - np.mean(values[len(X):])) / np.std(values, ddof=1)


def test_bootstrap_matches_plain_resampling_with_the_same_draws():
    rng = np.random.default_rng(3)
    X, Y, A, B = (rng.normal(size=(n, 4)) for n in (5, 6, 4, 3))
    X = X + 0.8 * A.mean(0)
    gen = torch.Generator().manual_seed(7)
    d_star = []
    draws = [torch.randint(m, (60, m), generator=gen).numpy() for m in (4, 3, 5, 6)]
    for ia, ib, ix, iy in zip(*draws, strict=True):
        d_star.append(_ref_d(X[ix], Y[iy], A[ia], B[ib]))
    expected = np.quantile(d_star, [0.05, 0.95])
    got = bootstrap_effect_size(X, Y, A, B, n_bootstrap=60, confidence_level=0.9, seed=7)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)


def test_bootstrap_is_seeded_and_covers_d():
    rng = np.random.default_rng(4)
    X, Y, A, B = (rng.normal(size=(n, 8)) for n in (12, 12, 10, 10))
    X = X + 0.5 * A.mean(0)
    first = bootstrap_effect_size(X, Y, A, B, n_bootstrap=500, seed=1)
    assert first == bootstrap_effect_size(X, Y, A, B, n_bootstrap=500, seed=1)
    assert first != bootstrap_effect_size(X, Y, A, B, n_bootstrap=500, seed=2)
    d = permutation_test(X, Y, A, B, n_permutations=10).effect_size
    assert first[0] < d < first[1]


def test_bootstrap_refuses_bad_options():
    sets_ = [np.eye(3)[:2]] * 4
    with pytest.raises(ValueError, match="confidence_level"):
        bootstrap_effect_size(*sets_, confidence_level=1.5)
    with pytest.raises(ValueError, match="n_bootstrap"):
        bootstrap_effect_size(*sets_, n_bootstrap=0)


# ---------------------------------------------------------------- battery


def _records(n_models=3, seed=0):
    rng = np.random.default_rng(seed)
    sizes = {"small": (6, 6), "uneven": (7, 4), "large": (15, 15), "odd": (11, 13)}
    out = []
    for model in range(n_models):
        for test, (n_x, n_y) in sizes.items():
            X, Y, A, B = (rng.normal(size=(n, 6)).astype(np.float32) for n in (n_x, n_y, 5, 7))
            X = X + 0.3 * model * A.mean(0)
            out.append(EATRecord(test, f"m{model}", X, Y, A, B))
    return out


@pytest.mark.parametrize("alternative", ["greater", "two-sided"])
def test_battery_equals_single_tests(alternative):
    records = _records()
    options = {"n_permutations": 4000, "exact_threshold": 2000, "alternative": alternative,
               "seed": 5}
    table = run_eat_battery(records, n_bootstrap=50, **options)
    assert list(table.columns) == list(BATTERY_COLUMNS)
    assert list(zip(table.test, table.model, strict=True)) == [(r.test, r.model)
                                                               for r in records]
    for row, rec in zip(table.itertuples(), records, strict=True):
        single = permutation_test(rec.x, rec.y, rec.a, rec.b, **options)
        assert (row.d, row.p, row.exact, row.n_permutations, row.mc_standard_error) == (
            single.effect_size, single.p_value, single.exact, single.n_permutations,
            single.mc_standard_error)
        low, high = bootstrap_effect_size(rec.x, rec.y, rec.a, rec.b, n_bootstrap=50, seed=5)
        assert (row.ci_low, row.ci_high) == (low, high)
    assert table.exact.tolist() == [True, True, False, False] * 3
    assert (table.p_holm >= table.p).all() and (table.p_bh >= table.p).all()


def test_battery_accepts_mappings_and_skips_bootstrap():
    records = [dict(vars(r)) for r in _records(n_models=1)]
    table = run_eat_battery(records, n_permutations=100, n_bootstrap=0)
    assert len(table) == 4 and table.ci_low.isna().all()
    assert isinstance(table, pd.DataFrame)


def test_battery_names_the_bad_record():
    records = _records(n_models=1)
    bad = records[2]
    records[2] = EATRecord(bad.test, bad.model, bad.x, bad.y, bad.a * np.nan, bad.b)
    with pytest.raises(ValueError, match=r"'large', model 'm0'.*NaN"):
        run_eat_battery(records, n_permutations=10, n_bootstrap=0)
    with pytest.raises(ValueError, match="duplicate"):
        run_eat_battery(_records(1) + _records(1), n_permutations=10, n_bootstrap=0)
    with pytest.raises(ValueError, match="empty"):
        run_eat_battery([], n_permutations=10)
