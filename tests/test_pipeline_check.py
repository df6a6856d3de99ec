"""The placeholder study ``clipbias.studies.pipeline_check``: planted truth, seeds, checks, glue."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from clipbias.studies import pipeline_check
from clipbias.studies.pipeline_check import Params, glue_values, run


def test_recovers_the_planted_association() -> None:
    result = run(Params(seed=3, n=4000, dim=256, shift=0.5), progress=False)
    means = result.summary.set_index("group")["mean"]
    assert abs(means["neutral"]) < 0.01
    assert means["planted"] == pytest.approx(result.expected_planted, abs=0.01)
    assert result.gap == pytest.approx(means["planted"] - means["neutral"])
    row = result.summary.set_index("group").loc["planted"]
    assert row["ci_low"] < row["mean"] < row["ci_high"]
    assert list(result.summary["group"]) == list(pipeline_check.GROUPS)
    assert len(result.similarities) == 8000
    assert np.all(np.abs(result.similarities["cosine"]) <= 1 + 1e-12)


def test_summary_matches_a_direct_computation() -> None:
    result = run(Params(seed=5, n=30, dim=6), progress=False)
    for group, rows in result.similarities.groupby("group"):
        x = rows["cosine"].to_numpy()
        mean, half = x.mean(), 1.96 * x.std(ddof=1) / np.sqrt(len(x))
        row = result.summary.set_index("group").loc[group]
        assert row["n"] == 30
        assert row["mean"] == pytest.approx(mean, rel=1e-12)
        assert row["ci_low"] == pytest.approx(mean - half, rel=1e-12)
        assert row["ci_high"] == pytest.approx(mean + half, rel=1e-12)


def test_is_reproducible_and_the_seed_reaches_every_draw() -> None:
    a = run(Params(seed=1, n=50, dim=8), progress=False)
    b = run(Params(seed=1, n=50, dim=8), progress=False)
    c = run(Params(seed=2, n=50, dim=8), progress=False)
    assert a.similarities.equals(b.similarities)
    for group in pipeline_check.GROUPS:
        ca = a.similarities.loc[a.similarities["group"] == group, "cosine"].to_numpy()
        cc = c.similarities.loc[c.similarities["group"] == group, "cosine"].to_numpy()
        assert not np.any(ca == cc), group


def test_steps_draw_from_their_own_streams() -> None:
    # with no shift the neutral draw does not depend on the planted group's parameters
    a = run(Params(seed=4, n=20, dim=8, shift=0.0), progress=False)
    b = run(Params(seed=4, n=20, dim=8, shift=0.9), progress=False)
    neutral = a.similarities["group"] == "neutral"
    assert np.array_equal(a.similarities.loc[neutral, "cosine"],
                          b.similarities.loc[neutral, "cosine"])


def test_without_shift_there_is_no_gap() -> None:
    result = run(Params(seed=0, n=4000, dim=128, shift=0.0), progress=False)
    assert result.expected_planted == 0.0
    assert abs(result.gap) < 0.01


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"n": 1}, "n must be"), ({"dim": 1}, "dim must be"), ({"shift": -0.1}, "shift must be"),
     ({"shift": float("inf")}, "shift must be"), ({"n": 2.5}, "n must be an integer"),
     ({"seed": -1}, "seed must be")],
)
def test_bad_parameters_are_rejected(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Params(**kwargs)


def test_run_takes_params_only() -> None:
    with pytest.raises(ValueError, match=r"pipeline_check\.Params"):
        run({"n": 10})  # type: ignore[arg-type]


def test_expected_cosine_formula() -> None:
    assert pipeline_check.expected_cosine(0.75) == pytest.approx(0.6)
    with pytest.raises(ValueError):
        pipeline_check.expected_cosine(-1.0)


def test_glue_values_are_the_documented_plain_numbers() -> None:
    result = run(Params(seed=0, n=40, dim=16), progress=False)
    values = glue_values(result)
    means = result.summary.set_index("group")["mean"]
    assert values == {"n_per_group": 40, "mean_neutral": means["neutral"],
                      "mean_planted": means["planted"],
                      "expected_planted": result.expected_planted, "gap": result.gap}
    assert type(values["n_per_group"]) is int
    assert all(type(v) is float for k, v in values.items() if k != "n_per_group")
    doc = inspect.getdoc(glue_values)
    assert all(f"``{key}``" in doc for key in values)
