"""The MixedLM wrapper recovers planted fixed effects under random slopes, honours reference levels,
z-scores as documented, reports unusable fits, survives the reproducers of issue 9 (degenerate and
crashing optimisers), flags boundary fits, matches a dense GLS reference, and names the columns of
a rank-deficient design. Coverage: ``test_regression_coverage.py``."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from statsmodels.regression.mixed_linear_model import MixedLM

from clipbias.metrics.regression import (
    DEFAULT_OPTIMIZERS,
    MixedLMFitError,
    check_full_rank,
    fit_mixedlm,
    fit_model_aware,
)

PLANTED = {"z1": 0.40, "z2": -0.25, "fam[T.a]": -0.50, "fam[T.c]": 0.70}  # reference level "b"


def simulate(seed=0, n_tests=6, n_orders=3, per_group=30):
    """Grouped data: random intercepts and random slopes of both covariates per (test, order)."""
    rng = np.random.default_rng(seed)
    rows = []
    raw1 = np.exp(rng.normal(3.0, 1.0, size=4000))  # e.g. parameter counts
    raw2 = np.exp(rng.normal(5.0, 2.0, size=4000))  # e.g. dataset sizes
    i = 0
    for test in range(n_tests):
        for order in ("image", "text", "mixed")[:n_orders]:
            b0, b1, b2 = rng.normal(0, [0.5, 0.2, 0.2])
            for _ in range(per_group):
                fam = rng.choice(["a", "b", "c"])
                rows.append({"test": f"t{test}", "order": order, "fam": fam,
                             "log1": np.log(raw1[i]), "log2": np.log(raw2[i]),
                             "b0": b0, "b1": b1, "b2": b2})
                i += 1
    df = pd.DataFrame(rows)
    z1 = (df["log1"] - df["log1"].mean()) / df["log1"].std(ddof=0)
    z2 = (df["log2"] - df["log2"].mean()) / df["log2"].std(ddof=0)
    fam_effect = df["fam"].map({"a": PLANTED["fam[T.a]"], "b": 0.0, "c": PLANTED["fam[T.c]"]})
    df["d"] = (0.3 + df["b0"] + (PLANTED["z1"] + df["b1"]) * z1
               + (PLANTED["z2"] + df["b2"]) * z2 + fam_effect
               + rng.normal(0, 0.3, size=len(df)))
    return df.drop(columns=["b0", "b1", "b2"])


@pytest.fixture(scope="module")
def planted_fit():
    df = simulate()
    return df, fit_mixedlm(df, "d ~ log1 + log2 + fam", groups=["test", "order"],
                           re_formula="~ log1 + log2", standardize=("log1", "log2"),
                           reference_levels={"fam": "b"})


def test_recovers_planted_fixed_effects(planted_fit):
    _, fit = planted_fit
    table = fit.coefficients.set_index("term")
    assert list(table.columns) == ["estimate", "std_error", "z", "p", "ci_low", "ci_high"]
    for term, value in {"log1": PLANTED["z1"], "log2": PLANTED["z2"],
                        "fam[T.a]": PLANTED["fam[T.a]"], "fam[T.c]": PLANTED["fam[T.c]"]}.items():
        row = table.loc[term]
        assert row.ci_low <= value <= row.ci_high, term
        assert abs(row.estimate - value) < 4 * row.std_error, term
        assert row.p < 0.01, term
    assert fit.converged and fit.n_obs == 540 and fit.n_groups == 18 and fit.n_models is None
    assert fit.specification == "grouped" and fit.optimizer in DEFAULT_OPTIMIZERS
    assert list(fit.variance_components["component"]) == ["group", "group:log1", "group:log2",
                                                          "residual"]
    assert fit.random_effects_cov.shape == (3, 3)  # intercept and two slopes
    assert 0.05 < fit.residual_variance < 0.15  # planted 0.3^2 = 0.09


def test_wald_columns_are_consistent(planted_fit):
    _, fit = planted_fit
    t = fit.coefficients
    np.testing.assert_allclose(t["z"], t["estimate"] / t["std_error"])
    np.testing.assert_allclose(t["ci_high"] - t["estimate"], 1.959964 * t["std_error"], rtol=1e-6)
    np.testing.assert_allclose(t["estimate"].to_numpy(), fit.result.fe_params.to_numpy())


def test_reference_level_honoured_and_default_is_first_sorted(planted_fit):
    df, fit = planted_fit
    assert {"fam[T.a]", "fam[T.c]"} <= set(fit.coefficients["term"])
    assert "fam[T.b]" not in set(fit.coefficients["term"])
    default = fit_mixedlm(df, "d ~ log1 + log2 + fam", groups=["test", "order"],
                          standardize=("log1", "log2"))
    terms = default.coefficients.set_index("term")["estimate"]
    assert "fam[T.a]" not in terms.index
    # relative to "a": b = 0 - (-0.5), c = 0.7 - (-0.5)
    assert terms["fam[T.b]"] == pytest.approx(0.5, abs=0.15)
    assert terms["fam[T.c]"] == pytest.approx(1.2, abs=0.15)


def test_standardize_uses_population_sd_and_leaves_input_alone(planted_fit):
    df, fit = planted_fit
    before = df.copy()
    mean, sd = fit.scaling["log1"]
    assert mean == pytest.approx(df["log1"].mean())
    assert sd == pytest.approx(df["log1"].std(ddof=0))
    fit_mixedlm(df, "d ~ log1 + log2 + fam", groups=["test", "order"], standardize=("log1",))
    pd.testing.assert_frame_equal(df, before)


def test_unconverged_fit_raises_naming_every_attempt_or_is_returned_flagged():
    df = simulate(seed=1, n_tests=3, per_group=15)
    kwargs = {"groups": ["test", "order"], "re_formula": "~ log1 + log2", "maxiter": 1}
    with pytest.raises(MixedLMFitError) as info:
        fit_mixedlm(df, "d ~ log1 + log2", **kwargs)
    for optimizer in DEFAULT_OPTIMIZERS:
        assert optimizer in str(info.value)
    assert list(info.value.attempts["optimizer"]) == list(DEFAULT_OPTIMIZERS)
    assert set(info.value.attempts["outcome"]) <= {"not converged", "error", "degenerate"}
    with pytest.warns(Warning) as record:
        fit = fit_mixedlm(df, "d ~ log1 + log2", allow_unconverged=True, **kwargs)
    assert not fit.converged
    assert fit.warnings
    assert any(str(w.message) in fit.warnings for w in record)
    accepted = fit.attempts[fit.attempts["outcome"] == "accepted"]
    assert list(accepted["optimizer"]) == [fit.optimizer]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"groups": "nope"}, "columns not in data"),
        ({"groups": "test", "standardize": ("fam",)}, "not numeric"),
        ({"groups": "test", "reference_levels": {"fam": "z"}}, "not a level of 'fam' present"),
        ({"groups": "test", "standardize": ("const",)}, "constant"),
        ({"groups": "test", "confidence": 1.5}, "confidence"),
        ({"groups": []}, "at least one column"),
        ({"groups": "test", "maxiter": 0}, "maxiter"),
        ({"groups": "test", "optimizers": ()}, "at least one optimiser"),
        ({"groups": "test", "optimizers": ("newton",)}, "not available"),
    ],
)
def test_bad_input_raises_clear_value_error(kwargs, message):
    df = simulate(seed=2, n_tests=2, per_group=5).assign(const=1.0)
    with pytest.raises(ValueError, match=message):
        fit_mixedlm(df, "d ~ log1", **kwargs)


def test_missing_values_raise():
    df = simulate(seed=3, n_tests=2, per_group=5)
    df.loc[0, "d"] = np.nan
    with pytest.raises(ValueError, match="missing values"):
        fit_mixedlm(df, "d ~ log1", groups="test")


# --- issue 9, reproducer 1: zero group variance made L-BFGS collapse the intercept to 0.0 --------
def no_group_variance(seed):
    """8 groups x 15 rows, x ~ N(0, 1), y = 3 + 0.5 x + N(0, 0.5^2): the true group variance is 0."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 1.0, 120)
    return pd.DataFrame({"grp": np.repeat(np.arange(8), 15), "x": x,
                         "y": 3.0 + 0.5 * x + rng.normal(0.0, 0.5, 120)})


def ols(df, columns, response):
    """Plain least squares with an intercept: the reference when the group variance is zero."""
    x = np.column_stack([np.ones(len(df)), df[columns].to_numpy()])
    return np.linalg.lstsq(x, df[response].to_numpy(), rcond=None)[0]


def test_reproducer_zero_group_variance_gives_ols_estimates_flagged_singular():
    fit = fit_mixedlm(no_group_variance(0), "y ~ x", groups="grp")
    table = fit.coefficients.set_index("term")
    reference = ols(no_group_variance(0), ["x"], "y")
    assert table.loc["Intercept", "estimate"] == pytest.approx(2.94, abs=0.005)
    np.testing.assert_allclose(table["estimate"], reference, atol=1e-6)
    assert fit.singular and fit.converged
    assert fit.variance_components.set_index("component").loc["group", "variance"] < 1e-6
    assert table["std_error"].between(0.03, 0.08).all()  # OLS-sized, not 1e6
    assert fit.attempts["outcome"].iloc[-1] == "accepted"
    assert fit.attempts["optimizer"].iloc[-1] == fit.optimizer


def test_reproducer_zero_group_variance_over_30_seeds():
    singular = 0
    for seed in range(30):
        df = no_group_variance(seed)
        fit = fit_mixedlm(df, "y ~ x", groups="grp")
        estimate = fit.coefficients["estimate"].to_numpy()
        # never collapsed; equal to OLS up to the (small) estimated group variance
        np.testing.assert_allclose(estimate, ols(df, ["x"], "y"), atol=0.02, err_msg=str(seed))
        if fit.singular:
            singular += 1
            np.testing.assert_allclose(estimate, ols(df, ["x"], "y"), atol=1e-6)
    assert singular >= 10  # the truth is on the boundary: most fits should say so


def test_lbfgs_alone_is_repaired_at_the_boundary_not_collapsed():
    fit = fit_mixedlm(no_group_variance(0), "y ~ x", groups="grp", optimizers="lbfgs")
    assert fit.optimizer == "lbfgs" and fit.singular
    np.testing.assert_allclose(fit.coefficients["estimate"], ols(no_group_variance(0), ["x"], "y"),
                               atol=1e-6)


# --- issue 9, reproducer 2: a 12 x 3 test x order grouping where L-BFGS raised LinAlgError -------
def test_x_order(seed):
    """12 tests x 3 orders, 5 rows per cell, random intercepts of SD 0.5, y = 1 + 0.3 x + b + e."""
    rng = np.random.default_rng(seed)
    test, order = np.meshgrid(np.arange(12), np.arange(3), indexing="ij")
    cells = pd.DataFrame({"test": [f"t{t}" for t in test.ravel()],
                          "order": [f"o{o}" for o in order.ravel()],
                          "b": rng.normal(0.0, 0.5, 36)})
    df = cells.loc[np.repeat(np.arange(36), 5)].reset_index(drop=True)
    df["x"] = rng.normal(0.0, 1.0, len(df))
    df["y"] = 1.0 + 0.3 * df["x"] + df["b"] + rng.normal(0.0, 0.5, len(df))
    return df.drop(columns="b")


test_x_order.__test__ = False  # a data builder, not a test


def test_reproducer_test_x_order_grouping_over_40_seeds():
    lbfgs_errors = 0
    for seed in range(40):
        df = test_x_order(seed)
        fit = fit_mixedlm(df, "y ~ x", groups=["test", "order"])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            powell = MixedLM.from_formula(
                "y ~ x", data=df, groups=(df["test"] + " x " + df["order"]).to_numpy()
            ).fit(reml=True, method="powell", maxiter=1000)
        assert fit.n_groups == 36
        np.testing.assert_allclose(fit.coefficients["estimate"], powell.fe_params, atol=1e-3,
                                   err_msg=str(seed))
        assert fit.result.llf >= powell.llf - 1e-4
        assert abs(fit.coefficients["estimate"].iloc[1] - ols(df, ["x"], "y")[1]) < 0.1
        chained = fit_mixedlm(df, "y ~ x", groups=["test", "order"],
                              optimizers=("lbfgs", "powell"))
        first = chained.attempts.iloc[0]
        if first["outcome"] == "error":
            lbfgs_errors += 1
            assert "LinAlgError" in first["detail"]
            assert chained.optimizer == "powell"
            np.testing.assert_allclose(chained.coefficients["estimate"], powell.fe_params,
                                       atol=1e-3)
    assert lbfgs_errors >= 5, "the reproducer no longer makes L-BFGS fail: the fallback is untested"


# --- a dense GLS reference for both specifications ---------------------------------------------
def gls_reference(x, y, v):
    """beta = (X' V^-1 X)^-1 X' V^-1 y and its covariance (X' V^-1 X)^-1, by dense algebra."""
    vi = np.linalg.inv(v)
    info = x.T @ vi @ x
    return np.linalg.solve(info, x.T @ vi @ y), np.linalg.inv(info)


def test_grouped_fit_matches_dense_gls_at_its_variance_estimates(planted_fit):
    df, fit = planted_fit
    res = fit.result
    labels = (df["test"] + " x " + df["order"]).to_numpy()
    z = np.column_stack([np.ones(len(df)), (df[["log1", "log2"]] - df[["log1", "log2"]].mean())
                         / df[["log1", "log2"]].std(ddof=0)])  # intercept, z-scored logs
    np.testing.assert_allclose(z, res.model.exog_re)
    v = res.scale * np.eye(len(df))
    cov_re = np.asarray(res.cov_re)
    for label in np.unique(labels):
        idx = np.flatnonzero(labels == label)
        v[np.ix_(idx, idx)] += z[idx] @ cov_re @ z[idx].T
    beta, cov = gls_reference(res.model.exog, res.model.endog, v)
    np.testing.assert_allclose(fit.coefficients["estimate"], beta, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(fit.coefficients["std_error"], np.sqrt(np.diag(cov)), rtol=0.02)


def model_zoo_rows(seed, *, n_models=18, n_tests=3, n_orders=2, model_sd=0.5):
    """One row per model x test x order: family effect, per-model effect, cell intercepts."""
    rng = np.random.default_rng(seed)
    fam = np.array(["a", "b", "c"])[np.arange(n_models) % 3]
    size = rng.normal(0.0, 1.0, n_models)
    u = rng.normal(0.0, model_sd, n_models)
    rows = []
    for t in range(n_tests):
        for o in range(n_orders):
            a = rng.normal(0.0, 0.5)
            for m in range(n_models):
                effect = {"a": 0.0, "b": 0.3, "c": 0.8}[fam[m]]
                rows.append({"model": f"m{m}", "test": f"t{t}", "order": f"o{o}",
                             "fam": fam[m], "size": size[m],
                             "d": 0.1 + effect + u[m] + a + rng.normal(0.0, 0.3)})
    return pd.DataFrame(rows)


def test_model_aware_fit_matches_dense_gls_with_rows_nested_in_models():
    df = model_zoo_rows(0)
    fit = fit_model_aware(df, "d ~ fam + size", model="model", groups=["test", "order"],
                          slopes=("size",), standardize=("size",))
    assert fit.specification == "model-aware" and fit.n_models == 18 and fit.n_groups == 6
    assert list(fit.coefficients["term"]) == ["Intercept", "fam[T.b]", "fam[T.c]", "size"]
    assert list(fit.coefficients.columns) == ["term", "estimate", "std_error", "z", "p",
                                              "ci_low", "ci_high"]
    comps = fit.variance_components.set_index("component")["variance"]
    assert list(comps.index) == ["model", "group", "group:size", "residual"]
    assert 0.03 < comps["model"] < 0.8  # planted 0.25 (18 models: a loose band)
    # V = sigma^2 I + tau^2 [same model]; X = the formula's columns plus sum-coded group terms
    same_model = df["model"].to_numpy()[:, None] == df["model"].to_numpy()[None, :]
    v = comps["residual"] * np.eye(len(df)) + comps["model"] * same_model
    exog = pd.DataFrame(fit.result.model.exog, columns=fit.result.model.exog_names)
    beta, cov = gls_reference(exog.to_numpy(), fit.result.model.endog, v)
    beta, se = pd.Series(beta, exog.columns), pd.Series(np.sqrt(np.diag(cov)), exog.columns)
    table = fit.coefficients.set_index("term")
    np.testing.assert_allclose(table["estimate"], beta[table.index], rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(table.loc[["fam[T.b]", "fam[T.c]"], "std_error"],
                               se[["fam[T.b]", "fam[T.c]"]], rtol=0.02)
    # averaged terms: widened by the moment estimate of the between-group spread
    for term, comp in (("Intercept", "group"), ("size", "group:size")):
        expected = np.sqrt(se[term] ** 2 + comps[comp] / 6)
        assert table.loc[term, "std_error"] == pytest.approx(expected, rel=0.02)
    assert comps["group"] > 0.05  # planted cell intercepts of SD 0.5
    # the group intercept spread by moments, from the fitted sum-coded deviations
    names = [n for n in exog.columns if n.startswith("C(_group_, Sum)") and ":" not in n]
    dev = np.append(beta[names].to_numpy(), -beta[names].sum())
    lmat = np.vstack([np.eye(5), -np.ones((1, 5))])
    noise = np.trace(lmat @ cov[np.ix_(exog.columns.get_indexer(names),
                                       exog.columns.get_indexer(names))] @ lmat.T)
    assert comps["group"] == pytest.approx(max(0.0, (dev @ dev - noise) / 5), rel=0.02)


def test_model_aware_boundary_without_a_model_effect_is_flagged():
    df = model_zoo_rows(1, model_sd=0.0)
    fit = fit_model_aware(df, "d ~ fam + size", model="model", groups=["test", "order"])
    comps = fit.variance_components.set_index("component")["variance"]
    if fit.singular:
        assert comps.min() < 1e-6
    grouped = fit_mixedlm(df, "d ~ fam + size", groups=["test", "order"])
    # no per-model effect: both specifications estimate the same fixed effects
    np.testing.assert_allclose(fit.coefficients["estimate"], grouped.coefficients["estimate"],
                               atol=0.02)


# --- bad designs ----------------------------------------------------------------------------------
def confounded_zoo():
    """log_dataset_size is fixed by the dataset family: a linear combination of its dummies."""
    df = model_zoo_rows(2)
    df["dataset_family"] = df["fam"].map({"a": "cc12m", "b": "web", "c": "skew"})
    df["log_dataset_size"] = df["dataset_family"].map({"cc12m": 16.3, "web": 20.1, "skew": 18.0})
    return df


@pytest.mark.parametrize("spec", ["grouped", "model-aware"])
def test_rank_deficient_design_names_the_confounded_columns(spec):
    df = confounded_zoo()
    formula = "d ~ size + dataset_family + log_dataset_size"
    with pytest.raises(ValueError, match="not of full rank") as info:
        if spec == "grouped":
            fit_mixedlm(df, formula, groups=["test", "order"],
                        reference_levels={"dataset_family": "cc12m"})
        else:
            fit_model_aware(df, formula, model="model", groups=["test", "order"],
                            reference_levels={"dataset_family": "cc12m"})
    message = str(info.value)
    assert ("log_dataset_size is a linear combination of Intercept, dataset_family[T.skew], "
            "dataset_family[T.web]") in message
    assert "size is a linear" not in message.replace("log_dataset_size", "")


def test_rank_check_reports_duplicates_and_zero_columns():
    x = np.column_stack([np.ones(6), np.arange(6.0), 2.0 * np.arange(6.0), np.zeros(6)])
    with pytest.raises(ValueError) as info:
        check_full_rank(x, ["Intercept", "a", "b", "c"])
    assert "b is a linear combination of a;" in str(info.value)
    assert "c is zero in every row" in str(info.value)
    check_full_rank(x[:, :2], ["Intercept", "a"])  # full rank: no error


def test_absent_reference_level_is_a_clear_error_for_both_fits():
    df = confounded_zoo()
    with pytest.raises(ValueError, match=r"reference level 'yfcc15m' is not a level of "
                                         r"'dataset_family' present in the data"):
        fit_mixedlm(df, "d ~ dataset_family", groups=["test", "order"],
                    reference_levels={"dataset_family": "yfcc15m"})
    with pytest.raises(ValueError, match="levels present: \\['cc12m', 'skew', 'web'\\]"):
        fit_model_aware(df, "d ~ dataset_family", model="model", groups=["test", "order"],
                        reference_levels={"dataset_family": "yfcc15m"})


def test_model_aware_input_checks():
    df = confounded_zoo()
    with pytest.raises(ValueError, match="columns not in data"):
        fit_model_aware(df, "d ~ size", model="nope", groups=["test", "order"])
    with pytest.raises(ValueError, match="at least 2"):
        fit_model_aware(df.assign(model="one"), "d ~ size", model="model", groups="test")
    with pytest.raises(ValueError, match="not numeric"):
        fit_model_aware(df, "d ~ size", model="model", groups="test", slopes=("fam",))
