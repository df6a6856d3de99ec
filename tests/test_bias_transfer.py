"""Tests of the bias-transfer study: the planted truth from the ci notebook's glued values, bad
parameters, the user downstream-bias table, the input check of the similarity step and the chart
builders."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from clipbias.studies import bias_transfer as study
from clipbias.viz import transfer as charts

# --- the ci chapter's glued values -------------------------------------------------------------


@pytest.fixture(scope="module")
def glued(ci_glued):
    return ci_glued("bias_transfer")


def test_ci_downstream_bias_follows_the_downstream_data(glued):
    assert glued["slope_downstream_data_ci_low"] > 0
    assert glued["slope_downstream_data"] > glued["slope_pretraining"]
    assert glued["slope_downstream_data_ci_low"] <= glued["slope_downstream_data"] \
        <= glued["slope_downstream_data_ci_high"]
    assert glued["slope_pretraining_ci_low"] <= glued["slope_pretraining"] \
        <= glued["slope_pretraining_ci_high"]


def test_ci_counts_and_ranges(glued):
    assert glued["n_models"] == 12
    assert glued["n_cells"] == 9  # 3 pretraining metrics x (1 + 2) downstream metrics
    assert 0.0 <= glued["share_cells_significant"] <= 1.0
    assert -1.0 <= glued["spearman_min"] <= glued["spearman_median"] <= glued["spearman_max"] \
        <= 1.0
    for key in ("cka_mean_before", "cka_mean_after", "cka_mean_control", "mknn_mean_before",
                "mknn_mean_after", "mknn_mean_control", "cka_finetune_before",
                "cka_finetune_after"):
        assert 0.0 <= glued[key] <= 1.0, key
    assert math.isclose(glued["cka_excess_over_control"],
                        glued["cka_mean_after"] - glued["cka_mean_control"])
    assert glued["n_finetuned"] == 3 and glued["finetune_loss_drop"] > 0
    assert glued["grid_runs"] == 6 * 3 * 2 and glued["grid_metric"] == "error_gap"


# --- parameters --------------------------------------------------------------------------------

@pytest.mark.parametrize(("change", "message"), [
    ({"tasks": ["vqa"]}, "tasks must be a non-empty list"),
    ({"metrics": ["lic"]}, "unknown downstream metric"),
    ({"metrics": ["stereotype_skew"], "tasks": ["classification"]}, "unknown downstream metric"),
    ({"grid_levels": [0.0, 0.5]}, "at least three distinct"),
    ({"visibility": 1.5}, "visibility must lie"),
    ({"finetune_models": 1}, "at least 2"),
    ({"n_boot": 5}, "n_boot"),
    ({"recall_k": 10_000}, "below the test set size"),
    ({"zoo": "huge"}, "zoo must be one of"),
])
def test_bad_parameters(change, message):
    with pytest.raises(ValueError, match=message):
        study.Params(**change)


def test_run_rejects_other_params():
    with pytest.raises(ValueError, match=r"bias_transfer\.Params"):
        study.run(object())


def test_embeddings_of_different_inputs_are_refused():
    study.check_same_inputs({"a": ["x", "y"], "b": ["x", "y"]})
    with pytest.raises(ValueError, match=r"\['b'\] cover different inputs"):
        study.check_same_inputs({"a": ["x", "y"], "b": ["y", "x"]})


# --- the transfer step on a user table ---------------------------------------------------------

def _tables(n=8, seed=0):
    rng = np.random.default_rng(seed)
    models = [f"m{i}" for i in range(n)]
    pre = pd.DataFrame([{"model": m, "metric": metric, "attribute": "group",
                         "value": float(v), "planted": 0.0}
                        for metric in study.PRETRAINING_METRICS
                        for m, v in zip(models, rng.normal(size=n), strict=True)])
    base = pre[pre["metric"] == "max_skew"].set_index("model")["value"]
    down = pd.DataFrame({"model": models, "task": "vqa", "metric": "lic", "attribute": "group",
                         "value": base.loc[models].to_numpy() * 2 + 1, "accuracy": np.nan})
    return pre, down


def test_transfer_finds_a_monotone_cell_and_adjusts_p():
    pre, down = _tables()
    out = study._transfer(study.Params(n_boot=50), pre, down)
    assert len(out) == len(study.PRETRAINING_METRICS)
    row = out[out["pretraining_metric"] == "max_skew"].iloc[0]
    assert row["rho"] == pytest.approx(1.0) and row["n_models"] == 8
    assert (out["p_holm"] >= out["p_value"]).all()


def test_user_downstream_table_is_checked(tmp_path):
    path = tmp_path / "down.csv"
    pd.DataFrame({"model_id": ["a"], "task": ["vqa"], "metric": ["lic"],
                  "value": [0.2]}).to_csv(path, index=False)
    with pytest.raises(ValueError, match="lacks columns"):
        study._user_downstream(study.Params(downstream_table=str(path)), ["a"])
    pd.DataFrame({"model_id": ["zz"], "task": ["vqa"], "metric": ["lic"], "attribute": ["g"],
                  "value": [0.2]}).to_csv(path, index=False)
    with pytest.raises(ValueError, match="not measured"):
        study._user_downstream(study.Params(downstream_table=str(path)), ["a"])


# --- charts ------------------------------------------------------------------------------------

def test_charts_specs():
    pre, down = _tables()
    transfer = study._transfer(study.Params(n_boot=50), pre, down)
    spec = charts.transfer_heatmap(transfer).to_dict()
    assert spec["layer"][0]["mark"]["type"] == "rect"
    assert spec["layer"][0]["encoding"]["color"]["scale"]["domain"] == [-1, 1]
    scatter = charts.transfer_scatter(pre, down, pretraining_metric="max_skew", task="vqa",
                                      metric="lic").to_dict()
    assert scatter["encoding"]["x"]["field"] == "value_pre"
    with pytest.raises(ValueError, match="no model has both"):
        charts.transfer_scatter(pre, down, pretraining_metric="max_skew", task="other",
                                metric="lic")
    sim = pd.DataFrame([{"measure": "cka", "stage": s, "model_a": a, "model_b": b, "value": 0.5}
                        for s in ("before", "projector") for a in "xy" for b in "xy" if a != b])
    facet = charts.similarity_chart(sim, stages=("before", "projector")).to_dict()
    assert facet["facet"]["row"]["field"] == "panel"
    with pytest.raises(ValueError, match="lacks column"):
        charts.similarity_chart(sim.drop(columns="stage"))
    grid = pd.DataFrame({"model": "m", "pretraining_level": [0.0, 0.9], "downstream_level": 0.5,
                         "metric": "error_gap", "value": [0.1, 0.2]})
    layered = charts.causal_grid_chart(grid).to_dict()
    assert {layer["mark"]["type"] for layer in layered["layer"]} == {"circle", "line"}
    with pytest.raises(ValueError, match="no runs of metric"):
        charts.causal_grid_chart(grid, metric="recall_gap")
