"""Tests of the joint-debiasing study: the ci run's glued values, the full code path on the
real-path fixture, the full profile without weights, bad parameters and the chart specs."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from clipbias.publish import load_profile
from clipbias.studies import joint_debiasing as study
from clipbias.viz import debias as charts
from clipbias.zoo import WeightsUnavailableError

STEM = "joint_debiasing"


# --- the ci run -------------------------------------------------------------------------------

def test_ci_glues_every_documented_key(ci_glued):
    values = ci_glued(STEM)
    for m in study.METHODS:
        for key in (f"maxskew_{m}", f"maxskew_{m}_ci_low", f"maxskew_{m}_ci_high", f"ndkl_{m}",
                    f"accuracy_{m}", f"able_{m}", f"maxskew_{m}_ood", f"maxskew_drop_{m}_ci_low",
                    f"maxskew_drop_{m}_ci_high", f"recall_{m}"):
            assert math.isfinite(values[key]), key
        assert values[f"maxskew_{m}_ci_low"] <= values[f"maxskew_{m}"] \
            <= values[f"maxskew_{m}_ci_high"] + 1e-9


def test_ci_original_skew_stands_above_its_noise(ci_glued):
    values = ci_glued(STEM)
    # the world plants a strong association: the original MaxSkew@k is far from 0 (equal shares)
    assert values["maxskew_original_ci_low"] > 0.2


def test_ci_joint_keeps_zero_shot_accuracy(ci_glued):
    values = ci_glued(STEM)
    assert values["accuracy_joint"] >= values["accuracy_original"] - 2.0


def test_ci_able_formula_reproduces_the_papers_column(ci_glued):
    assert ci_glued(STEM)["able_check_max_abs_diff"] <= 0.02


def test_ci_joint_lowers_maxskew_beyond_noise(ci_glued):
    # the paired bootstrap interval of original minus joint lies above zero (or the intervals
    # separate); the drop is small on the synthetic world: the chapter reports how small
    values = ci_glued(STEM)
    assert (values["maxskew_joint_ci_high"] < values["maxskew_original_ci_low"]
            or values["maxskew_drop_joint_ci_low"] > 0)


# --- the full code path -----------------------------------------------------------------------

def test_full_code_path_runs_on_the_real_path_fixture(real_path, monkeypatch):
    for name, value in real_path.environ().items():
        monkeypatch.setenv(name, value)
    fixture = real_path.parameters()
    params = study.Params(source="real", model_ids=[fixture["model_id"]],
                          checkpoints=[fixture["checkpoint"]], attribute="gender",
                          data_root=fixture["data_root"], train_size=0, k=3, recall_k=2,
                          n_bootstrap=5, clip_neighbors=2, bend_nearest=2, joint_epochs=2,
                          joint_batch=4, joint_queue=8, facet_fraction=1.0)
    result = study.run(params, progress=False)
    sets = set(result.summary["set"])
    assert {"in_domain", "utkface", "facet", "alignment"} <= sets
    assert set(result.summary["method"]) == set(study.METHODS)
    values = study.glue_values(result)
    assert values["n_train"] == 16 and values["n_in_domain"] == 8
    assert all(isinstance(v, int | float) and math.isfinite(v) for v in values.values())
    # the original model is its own reference: the paired drop is exactly zero
    assert values["maxskew_drop_original_ci_low"] == values["maxskew_drop_original_ci_high"] == 0


def test_full_profile_without_weights_stops_with_how_to_provide_them():
    entry = load_profile("notebooks/profiles/full.yaml")[STEM]
    with pytest.raises(WeightsUnavailableError, match="checkpoint="):
        study.run(study.Params(**entry), progress=False)


# --- bad parameters ---------------------------------------------------------------------------

@pytest.mark.parametrize(("kwargs", "match"), [
    ({"attribute": "gender"}, "labels for attribute 'group' only"),
    ({"source": "real", "attribute": "religion", "model_ids": ["ViT-B-16/openai"]},
     "has no labels"),
    ({"k": 100000}, "exceeds the"),
    ({"model_ids": ["synthetic-vit-s/nowhere_s0"]}, "nowhere"),
    ({"model_ids": ["ViT-B-16/openai"]}, "not a synthetic zoo id"),
    ({"model_ids": []}, "at least one model"),
    ({"n_bootstrap": 1}, "n_bootstrap"),
    ({"clip_keep": 1.5}, "clip_keep"),
    ({"source": "real", "attribute": "gender", "model_ids": ["a/b", "c/d"],
      "checkpoints": ["x.pt"]},
     "one path per model"),
])
def test_bad_parameters_say_what_to_change(kwargs, match):
    with pytest.raises(ValueError, match=match):
        study.Params(**kwargs)


def test_an_unknown_method_is_an_error():
    with pytest.raises(ValueError, match="unknown method 'fairness'"):
        study.apply_method("fairness", None, None, bend_nearest=1)


def test_reference_table_recomputes_able_within_two_hundredths():
    table = study.reference_table()
    assert set(table["method"]) == set(study.REFERENCE)
    assert table["able_diff"].abs().max() <= 0.02
    # the paper's original CLIP: 2 / (exp(0.218) + 1 / 0.6831) = 73.87%
    row = table.set_index("method").loc["original"]
    assert row["able_recomputed"] == pytest.approx(200 / (np.exp(0.218) + 1 / 0.6831), abs=1e-3)


# --- charts -----------------------------------------------------------------------------------

def _summary() -> pd.DataFrame:
    rows = []
    for i, m in enumerate(("original", "joint")):
        for s in ("in_domain", "ood"):
            rows.append(("m", m, s, "max_skew", 0.5 - 0.1 * i, 0.45 - 0.1 * i, 0.55 - 0.1 * i))
        rows.append(("m", m, "alignment", "accuracy", 80.0 + i, 78.0 + i, 82.0 + i))
    return pd.DataFrame(rows, columns=["model", "method", "set", "metric", "estimate",
                                       "ci_low", "ci_high"])


def test_trade_off_chart_has_one_point_per_method_with_both_intervals():
    spec = charts.trade_off_chart(_summary()).to_dict()
    marks = [layer["mark"]["type"] if isinstance(layer["mark"], dict) else layer["mark"]
             for layer in spec["layer"]]
    assert marks == ["rule", "rule", "point"]
    data = next(iter(spec["datasets"].values()))
    assert sorted(r["method"] for r in data) == ["joint", "original"]
    assert {"ci_low_skew", "ci_high_acc"} <= set(data[0])
    with pytest.raises(ValueError, match="no rows for model"):
        charts.trade_off_chart(_summary(), model="other")


def test_generalisation_chart_needs_an_out_of_domain_set():
    spec = charts.generalisation_chart(_summary()).to_dict()
    assert spec["layer"][1]["encoding"]["x"]["field"] == "estimate"
    one = _summary()[_summary()["set"] != "ood"]
    with pytest.raises(ValueError, match="out-of-domain"):
        charts.generalisation_chart(one)


def test_per_prompt_chart_averages_templates_per_concept():
    per_prompt = pd.DataFrame({
        "model": "m", "method": ["original", "original", "joint", "joint"], "set": "in_domain",
        "prompt": ["a chef", "chef", "a chef", "chef"], "concept": "chef",
        "max_skew": [0.6, 0.4, 0.2, 0.0]})
    spec = charts.per_prompt_skew_chart(per_prompt).to_dict()
    data = next(iter(spec["datasets"].values()))
    assert sorted((r["method"], round(r["max_skew"], 6)) for r in data) == [
        ("joint", 0.1), ("original", 0.5)]
    with pytest.raises(ValueError, match="bend"):
        charts.per_prompt_skew_chart(per_prompt, methods=("original", "bend"))


def test_method_table_lists_methods_in_order_with_intervals():
    summary = _summary()
    summary.loc[summary["set"] == "ood", "set"] = "in_domain"  # give both rows a headline set
    result = study.Result(params=study.Params(), summary=summary.drop_duplicates(
        ["method", "set", "metric"]), per_prompt=pd.DataFrame(), losses=pd.DataFrame())
    table = study.method_table(result, model="m")
    assert list(table.index) == list(study.METHODS)
    assert table.loc["joint", "max_skew"] == "0.400 [0.350, 0.450]"
    assert table.loc["original", "accuracy"] == "80.000 [78.000, 82.000]"
    assert pd.isna(table.loc["bend", "max_skew"])
    with pytest.raises(ValueError, match="no results for model"):
        study.method_table(result, model="other")
