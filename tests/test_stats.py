"""Correlations, their intervals (hand computation, simulated coverage) and the tidy table."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from clipbias.metrics import stats
from clipbias.metrics.multiplicity import benjamini_hochberg, holm
from clipbias.metrics.stats import correlation, correlation_table, fisher_z_interval


def ref_kendall_tau_b(x, y):
    concordant = discordant = tied_x = tied_y = 0
    for i, j in itertools.combinations(range(len(x)), 2):
        sx, sy = np.sign(x[i] - x[j]), np.sign(y[i] - y[j])
        tied_x += sx == 0
        tied_y += sy == 0
        concordant += sx * sy > 0
        discordant += sx * sy < 0
    pairs = len(x) * (len(x) - 1) / 2
    return (concordant - discordant) / math.sqrt((pairs - tied_x) * (pairs - tied_y))


def bivariate_normal(rng, rho, n):
    z = rng.standard_normal((2, n))
    return z[0], rho * z[0] + math.sqrt(1 - rho * rho) * z[1]


def test_fisher_interval_agrees_with_hand_computation():
    # r = 0.5, n = 28: z = atanh(0.5) = 0.549306, se = 1/5, z_0.975 = 1.959964
    low, high = fisher_z_interval(0.5, 28)
    assert low == pytest.approx(0.156028, abs=1e-6)
    assert high == pytest.approx(0.735818, abs=1e-6)
    z, half = math.atanh(-0.3), sps.norm.ppf(0.95) * math.sqrt((1 + 0.09 / 2) / 47)
    assert fisher_z_interval(-0.3, 50, method="spearman", confidence=0.9) == pytest.approx(
        (math.tanh(z - half), math.tanh(z + half)), abs=1e-12)
    half = sps.norm.ppf(0.975) * math.sqrt(0.437 / 36)
    assert fisher_z_interval(0.2, 40, method="kendall") == pytest.approx(
        (math.tanh(math.atanh(0.2) - half), math.tanh(math.atanh(0.2) + half)), abs=1e-12)
    assert fisher_z_interval(1.0, 10) == (1.0, 1.0)


def test_coefficients_match_plain_definitions():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 6, size=25).astype(float)  # ties
    y = x + rng.integers(0, 4, size=25)
    assert correlation(x, y).estimate == pytest.approx(np.corrcoef(x, y)[0, 1], abs=1e-12)
    rho = np.corrcoef(sps.rankdata(x), sps.rankdata(y))[0, 1]
    assert correlation(x, y, method="spearman").estimate == pytest.approx(rho, abs=1e-12)
    tau = ref_kendall_tau_b(x, y)
    assert correlation(x, y, method="kendall").estimate == pytest.approx(tau, abs=1e-12)
    res = correlation(x, y, method="kendall", ci="bootstrap", n_bootstrap=200)
    assert res.ci_low <= res.estimate <= res.ci_high
    assert (res.method, res.ci_method, res.n, res.confidence) == ("kendall", "bootstrap", 25, 0.95)


def test_vectorised_bootstrap_coefficients_match_scipy():
    rng = np.random.default_rng(1)
    xb = rng.integers(0, 4, size=(20, 15)).astype(float)
    yb = rng.integers(0, 4, size=(20, 15)).astype(float)
    expected = [sps.kendalltau(a, b).statistic for a, b in zip(xb, yb, strict=True)]
    np.testing.assert_allclose(stats._kendall_rows(xb, yb), expected, atol=1e-12)
    np.testing.assert_allclose(stats._pearson_rows(xb, yb),
                               [np.corrcoef(a, b)[0, 1] for a, b in zip(xb, yb, strict=True)],
                               atol=1e-12)
    assert np.isnan(stats._pearson_rows(np.ones((1, 5)), yb[:1, :5])[0])


def test_bootstrap_is_seeded():
    rng = np.random.default_rng(2)
    x, y = bivariate_normal(rng, 0.4, 40)
    a = correlation(x, y, ci="bootstrap", n_bootstrap=300, seed=5)
    b = correlation(x, y, ci="bootstrap", n_bootstrap=300, seed=5)
    c = correlation(x, y, ci="bootstrap", n_bootstrap=300, seed=6)
    assert a == b
    assert (a.ci_low, a.ci_high) != (c.ci_low, c.ci_high)


@pytest.mark.parametrize("method", ["pearson", "spearman", "kendall"])
def test_fisher_interval_coverage_by_simulation(method):
    rho = 0.5
    truth = {"pearson": rho, "spearman": 6 / math.pi * math.asin(rho / 2),
             "kendall": 2 / math.pi * math.asin(rho)}[method]  # population values, normal data
    rng = np.random.default_rng(3)
    reps, covered = 400, 0
    for _ in range(reps):
        x, y = bivariate_normal(rng, rho, 40)
        res = correlation(x, y, method=method)
        covered += res.ci_low <= truth <= res.ci_high
    # nominal 0.95; 400 replicates give a binomial standard error of about 0.011
    assert 0.92 <= covered / reps <= 0.98


@pytest.mark.parametrize("method", ["pearson", "spearman", "kendall"])
def test_bootstrap_interval_coverage_by_simulation(method):
    rho = 0.5
    truth = {"pearson": rho, "spearman": 6 / math.pi * math.asin(rho / 2),
             "kendall": 2 / math.pi * math.asin(rho)}[method]
    rng = np.random.default_rng(4)
    reps, covered = 150, 0
    for i in range(reps):
        x, y = bivariate_normal(rng, rho, 40)
        res = correlation(x, y, method=method, ci="bootstrap", n_bootstrap=400, seed=i)
        covered += res.ci_low <= truth <= res.ci_high
    # the percentile bootstrap slightly under-covers at n = 40; SE of the share about 0.018
    assert 0.87 <= covered / reps <= 0.99


def test_correlation_table_groups_and_adjusts():
    rng = np.random.default_rng(5)
    parts = []
    for test, order, rho in [("age", "image", 0.0), ("age", "text", 0.8), ("race", "image", 0.3)]:
        x, y = bivariate_normal(rng, rho, 30)
        parts.append(pd.DataFrame({"test": test, "order": order, "d": x, "vtab": y}))
    frame = pd.concat(parts, ignore_index=True)
    table = correlation_table(frame, x="d", y="vtab", by=["test", "order"])
    assert list(table[["test", "order"]].itertuples(index=False, name=None)) == [
        ("age", "image"), ("age", "text"), ("race", "image")]
    single = correlation(parts[1]["d"], parts[1]["vtab"])
    assert table.loc[1, "estimate"] == pytest.approx(single.estimate)
    assert table.loc[1, "ci_low"] == pytest.approx(single.ci_low)
    np.testing.assert_allclose(table["p_holm"], holm(table["p_value"].to_numpy()))
    np.testing.assert_allclose(table["p_bh"], benjamini_hochberg(table["p_value"].to_numpy()))
    assert table.loc[1, "p_holm"] < 0.001


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda x: correlation(x, x[:-1]), "same length"),
        (lambda x: correlation(x, np.where(x > 1, np.nan, x)), "NaN"),
        (lambda x: correlation(x, np.ones_like(x)), "constant"),
        (lambda x: correlation(x, x, method="distance"), "unknown method"),
        (lambda x: correlation(x, x, ci="jackknife"), "unknown ci"),
        (lambda x: correlation(x, x, confidence=95), "confidence"),
        (lambda x: correlation(x[:4], x[:4] ** 2, method="kendall"), "n >= 5"),
        (lambda x: correlation(x, x, ci="bootstrap", n_bootstrap=0), "n_bootstrap"),
        (lambda x: correlation_table(pd.DataFrame({"a": x, "b": x}), x="a", y="c", by="a"),
         "not in frame"),
        (lambda x: correlation_table(pd.DataFrame({"a": x, "b": 1.0, "g": "one"}), x="a", y="b",
                                     by="g"), "group {'g': 'one'}: y is constant"),
    ],
)
def test_bad_input_raises_clear_value_error(call, message):
    x = np.random.default_rng(6).standard_normal(12)
    with pytest.raises(ValueError, match=message):
        call(x)
