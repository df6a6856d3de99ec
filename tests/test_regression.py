"""The MixedLM wrapper recovers planted fixed effects under random slopes, honours reference levels,
z-scores as documented and surfaces convergence warnings."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clipbias.metrics.regression import fit_mixedlm

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
    assert fit.converged and fit.n_obs == 540 and fit.n_groups == 18
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


def test_convergence_warnings_are_surfaced():
    df = simulate(seed=1, n_tests=3, per_group=15)
    with pytest.warns(Warning) as record:
        fit = fit_mixedlm(df, "d ~ log1 + log2", groups=["test", "order"],
                          re_formula="~ log1 + log2", maxiter=1)
    assert not fit.converged
    assert fit.warnings
    assert any(str(w.message) in fit.warnings for w in record)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"groups": "nope"}, "columns not in data"),
        ({"groups": "test", "standardize": ("fam",)}, "not numeric"),
        ({"groups": "test", "reference_levels": {"fam": "z"}}, "not a level"),
        ({"groups": "test", "standardize": ("const",)}, "constant"),
        ({"groups": "test", "confidence": 1.5}, "confidence"),
        ({"groups": []}, "at least one column"),
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
