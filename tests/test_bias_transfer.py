"""Tests of the bias-transfer study: the planted truth from the ci notebook's glued values, the
full (real-data) code path on the real-path fixture, bad parameters, the user downstream-bias
table, the input check of the similarity step and the chart builders."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from clipbias.data.adapters import DatasetNotFoundError
from clipbias.data.battery import battery
from clipbias.embed import embed_images
from clipbias.publish import load_profile
from clipbias.studies import bias_transfer as study
from clipbias.viz import transfer as charts
from clipbias.zoo import WeightsUnavailableError, load
from clipbias.zoo.random_init import random_init_id

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
    # (3 global metrics + 4 EAT orders) x (1 + 2) downstream metrics
    assert glued["n_cells"] == 21 and glued["n_cells_eat"] == 12
    assert -1.0 <= glued["spearman_median_eat"] <= 1.0
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
    ({"source": "web"}, "source must be one of"),
    ({"label": "gender"}, "label must be one of"),
    ({"models": ["ViT-B-32/openai"]}, "apply to source='real'"),
    ({"source": "real", "checkpoints": ["ViT-B-32/mine"]}, "ARCH/TAG=path"),
    ({"source": "real", "models": ["a/b"], "checkpoints": ["c/d=x.pt"]}, "does not list"),
    ({"source": "real", "metrics": ["stereotype_skew"]}, "unknown downstream metric"),
    ({"n_images": 1}, "n_images"),
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


# --- the full code path on the real-path fixture --------------------------------------------------

def _fixture_params(real_path, **change):
    p = real_path.parameters()
    arch = p["model_id"].split("/")[0]
    # the fixture's one checkpoint and three untrained models of its architecture: four models,
    # the fewest the transfer step correlates over
    models = [p["model_id"], *(random_init_id(arch, seed=s) for s in (1, 2, 3))]
    values = {"source": "real", "models": models,
              "checkpoints": [f"{p['model_id']}={p['checkpoint']}"], "data_root": p["data_root"],
              "k": 5, "recall_k": 2, "knn_k": 2, "n_boot": 20, "epochs": 20, "device": "cpu"}
    return study.Params(**(values | change))


def _slow_d(x, y, a, b):
    """EAT effect size written out: s(w) = mean cos(w, a) - mean cos(w, b), d = (mean_x s -
    mean_y s) / sd_{x u y}(s), sample sd."""
    def unit(m):
        return [np.asarray(v, dtype=np.float64) / np.linalg.norm(v) for v in m]

    a, b = unit(a), unit(b)

    def s(w):
        return (sum(float(w @ v) for v in a) / len(a) - sum(float(w @ v) for v in b) / len(b))

    sx, sy = [s(w) for w in unit(x)], [s(w) for w in unit(y)]
    return (np.mean(sx) - np.mean(sy)) / np.std(sx + sy, ddof=1)


def test_full_code_path_runs_on_the_real_path_fixture(real_path, monkeypatch):
    for name, value in real_path.environ().items():
        monkeypatch.setenv(name, value)
    params = _fixture_params(real_path)
    result = study.run(params, progress=False)
    models = list(params.models)
    assert result.models == tuple(models)
    pre = result.pretraining
    assert set(pre["attribute"]) == {"gender"} and pre["planted"].isna().all()
    assert set(pre["metric"]) == set(study.PRETRAINING_METRICS)  # iEAT and OASIS folders exist
    assert len(pre) == len(models) * len(study.PRETRAINING_METRICS)
    # the image-image EAT of the checkpoint model: the battery's Gender stimuli, d by hand
    spec = battery(data_root=params.data_root, tests=["Gender/image-image"])[0]
    model = load(models[0], checkpoint=real_path.checkpoint)
    x, y, a, b = (embed_images(model, s.paths(), progress=False).embeddings
                  for s in (spec.x, spec.y, spec.a, spec.b))
    ours = pre[(pre["model"] == models[0]) & (pre["metric"] == "eat_image-image")]["value"]
    assert float(ours.iloc[0]) == pytest.approx(_slow_d(x, y, a, b), abs=1e-6)
    down = result.downstream
    assert set(zip(down["task"], down["metric"], strict=True)) == {
        ("classification", "error_gap"), ("retrieval", "recall_gap"),
        ("retrieval", "gender_word_skew")}
    assert (down.groupby("metric")["model"].nunique() == len(models)).all()
    gaps = down[down["metric"] != "gender_word_skew"]
    assert gaps["value"].between(0, 1).all() and down["accuracy"].between(0, 1).all()
    assert down.loc[down["metric"] == "gender_word_skew", "value"].between(-1, 1).all()
    t = result.transfer
    assert len(t) == len(study.PRETRAINING_METRICS) * 3
    assert set(t["n_models"]) == {len(models)}
    ok = t.dropna(subset=["rho"])
    assert len(ok) > 0 and (ok["p_holm"] >= ok["p_value"] - 1e-12).all()
    assert set(result.convergence["stage"]) == {"before", "projector", "control"}
    assert result.convergence["n_models"].eq(len(models)).all()
    assert result.grid.empty and result.regression.empty and result.finetuned.empty
    values = study.glue_values(result)
    assert values["n_models"] == 4 and values["grid_runs"] == 0
    assert math.isnan(values["slope_downstream_data"]) and math.isnan(values["slope_pretraining"])
    assert 0.0 <= values["cka_mean_before"] <= 1.0


def test_full_code_path_without_data_names_the_missing_dataset(real_path, tmp_path, monkeypatch):
    for name, value in real_path.environ().items():
        monkeypatch.setenv(name, value)
    params = _fixture_params(real_path, data_root=str(tmp_path))
    with pytest.raises(DatasetNotFoundError, match=r"(?i)fairface"):
        study.run(params, progress=False)


def test_full_profile_names_real_models_and_stops_without_weights():
    entry = load_profile("notebooks/profiles/full.yaml")["bias_transfer"]
    assert entry["source"] == "real"
    with pytest.raises(WeightsUnavailableError, match="scaling-law"):
        study.run(study.Params(**entry), progress=False)


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
    note = charts.causal_grid_chart(grid.iloc[:0], metric="none").to_dict()  # real data
    assert note["layer"][0]["mark"]["type"] == "text"
    assert "synthetic data only" in note["datasets"][next(iter(note["datasets"]))][0]["text"]


def test_pretraining_wide_table():
    pre, _ = _tables(n=3)
    wide = charts.pretraining_wide(pre)
    assert list(wide.columns) == ["model", "planted", *study.PRETRAINING_METRICS]
    assert list(wide["model"]) == ["m0", "m1", "m2"]
    row = pre[(pre["model"] == "m1") & (pre["metric"] == "ndkl")]["value"].iloc[0]
    assert wide.set_index("model").loc["m1", "ndkl"] == row
    real = charts.pretraining_wide(pre.drop(columns="planted"))  # real data: nothing planted
    assert list(real.columns) == list(wide.columns) and real["planted"].isna().all()
