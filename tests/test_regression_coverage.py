"""Calibration of the mixed models: the 95% Wald interval of a known fixed effect covers the truth
about 95% of the time on a test x order layout like the zoo study's (also at the boundary, where
the true group variance is 0), and on a layout with a per-model effect the model-aware fit covers
far better than the paper's grouping. Also: the simulation helper is seeded and validates input."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from clipbias.metrics.regression import fit_mixedlm
from clipbias.metrics.regression_sim import simulate_coverage, zoo_layout

SLOPE = 0.4  # the known fixed effect


def grouped_rows(rng, *, n_tests=4, n_orders=3, per_cell=8, group_sd=0.5):
    """n_tests x n_orders groups with random intercepts; y = 1 + SLOPE x + b_g + N(0, 0.5^2)."""
    n_groups = n_tests * n_orders
    group = np.repeat(np.arange(n_groups), per_cell)
    x = rng.normal(0.0, 1.0, group.size)
    y = 1.0 + SLOPE * x + rng.normal(0.0, group_sd, n_groups)[group] + rng.normal(0.0, 0.5,
                                                                                   group.size)
    return pd.DataFrame({"test": [f"t{g // n_orders}" for g in group],
                         "order": [f"o{g % n_orders}" for g in group], "x": x, "y": y})


def coverage_of_slope(n_datasets, seed, **layout):
    covered = []
    for child in np.random.SeedSequence(seed).spawn(n_datasets):
        df = grouped_rows(np.random.default_rng(child), **layout)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = fit_mixedlm(df, "y ~ x", groups=["test", "order"])
        row = fit.coefficients.set_index("term").loc["x"]
        covered.append(row.ci_low <= SLOPE <= row.ci_high)
    return float(np.mean(covered))


def test_wald_interval_covers_in_200_test_x_order_datasets():
    coverage = coverage_of_slope(200, seed=20261202)
    assert 0.88 <= coverage <= 0.99, coverage


def test_wald_interval_covers_at_the_boundary_zero_group_variance():
    coverage = coverage_of_slope(60, seed=7, group_sd=0.0)
    assert 0.88 <= coverage <= 0.99, coverage


ZOO = {"formula": "d ~ log_params + architecture_family + dataset_family + log_dataset_size",
       "truth": {"Intercept": 0.2, "dataset_family[T.web]": 0.4, "dataset_family[T.skew]": 0.8},
       "coefficient": "dataset_family[T.skew]", "null_term": "log_dataset_size",
       "standardize": ("log_params", "log_dataset_size"),
       "reference_levels": {"dataset_family": "fair"}}


@pytest.fixture(scope="module")
def per_model_effect():
    """The issue-11 layout: 24 models, 8 test x order groups, a per-model effect of SD 0.5."""
    return simulate_coverage(zoo_layout(n_models=24, seed=0), n_tests=4, n_orders=2,
                             model_sd=0.5, n_datasets=30, seed=11, progress_bar=False, **ZOO)


def test_model_aware_fit_covers_clearly_better_with_a_per_model_effect(per_model_effect):
    summary = per_model_effect.summary.set_index("specification")
    grouped, aware = summary.loc["grouped"], summary.loc["model-aware"]
    assert grouped.n_fits + grouped.n_failed == 30 and aware.n_fits >= 28
    assert aware.coverage >= 0.85
    assert grouped.coverage <= 0.75
    assert aware.coverage - grouped.coverage >= 0.25
    # the grouped fit's standard error is far below the real spread of its estimates
    assert grouped.mean_std_error < 0.6 * grouped.sd_estimate
    assert 0.7 * aware.sd_estimate < aware.mean_std_error < 1.5 * aware.sd_estimate
    assert aware.false_positive_rate <= grouped.false_positive_rate
    assert per_model_effect.truth == 0.8


def test_simulation_is_seeded_and_rows_are_complete(per_model_effect):
    models = zoo_layout(n_models=12, seed=3)
    kwargs = {"n_tests": 2, "n_orders": 2, "n_datasets": 2, "progress_bar": False, **ZOO}
    first = simulate_coverage(models, seed=5, **kwargs)
    again = simulate_coverage(models, seed=5, **kwargs)
    other = simulate_coverage(models, seed=6, **kwargs)
    pd.testing.assert_frame_equal(first.replicates, again.replicates)
    assert not np.allclose(first.replicates["estimate"], other.replicates["estimate"])
    reps = per_model_effect.replicates
    assert len(reps) == 60 and set(reps["specification"]) == {"grouped", "model-aware"}
    ok = reps[reps["error"] == ""]
    assert ok["covered"].isin([0.0, 1.0]).all() and ok["null_p"].between(0, 1).all()


def test_zoo_layout_is_balanced():
    models = zoo_layout(n_models=24, seed=0)
    assert models.shape == (24, 5) and models["model"].is_unique
    assert (models.groupby(["dataset_family", "architecture_family"]).size() == 4).all()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"truth": {"dataset_family[T.nope]": 1.0}}, "not in the design"),
        ({"coefficient": "nope"}, "coefficient 'nope' is not a term"),
        ({"truth": {"log_dataset_size": 0.3}}, "must have true value 0"),
        ({"model_sd": -1.0}, "model_sd"),
        ({"n_datasets": 0}, "n_datasets"),
        ({"formula": "log_params"}, "response"),
    ],
)
def test_simulation_input_checks(change, message):
    with pytest.raises(ValueError, match=message):
        simulate_coverage(zoo_layout(n_models=6, seed=0), seed=0, progress_bar=False,
                          **{**ZOO, **change})
