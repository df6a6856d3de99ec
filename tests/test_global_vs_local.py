"""Tests of the global-vs-local study: the planted truth from the ci notebook's glued values, the
context-tilt selection, bad parameters, the chart builders and the real-data code path."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from clipbias.studies import global_vs_local as study
from clipbias.viz import global_local as charts

# --- the ci chapter's glued values -------------------------------------------------------------

@pytest.fixture(scope="module")
def glued(ci_glued):
    return ci_glued("global_vs_local")


def test_ci_planted_context_tilt_moves_local_values_out_of_their_intervals(glued):
    assert glued["share_outside_ci_planted"] - glued["share_outside_ci_null"] >= 0.2


def test_ci_counts_and_ranges(glued):
    assert glued["n_models"] == 12
    assert glued["n_clusters_kept"] >= 1
    assert glued["n_clusters_flagged"] >= glued["n_clusters_small"] >= 0
    assert -1.0 <= glued["kendall_tau_median"] <= 1.0
    assert -1.0 <= glued["oracle_kendall_tau_median"] <= 1.0
    assert -0.5 <= glued["cluster_oracle_ari"] <= 1.0
    for key in ("share_sign_flips", "oracle_share_sign_flips", "share_outside_ci_null",
                "share_outside_ci_planted", "share_outside_ci_kmeans"):
        assert 0.0 <= glued[key] <= 1.0, key
    assert glued["global_kl_mean"] >= 0.0 and glued["local_kl_spread"] >= 0.0


# --- the sweep's selection ---------------------------------------------------------------------

def _balanced(per_cell=40, n_groups=2, n_contexts=4):
    g, x = np.meshgrid(np.arange(n_groups), np.arange(n_contexts), indexing="ij")
    return np.repeat(g.ravel(), per_cell), np.repeat(x.ravel(), per_cell)


def test_tilted_selection_keeps_everything_at_zero_and_tilts_each_context():
    groups, contexts = _balanced()
    assert (study.tilted_selection(groups, contexts, level=0.0, n_groups=2, seed=0)
            == np.arange(len(groups))).all()
    rows = study.tilted_selection(groups, contexts, level=0.75, n_groups=2, seed=0)
    g, x = groups[rows], contexts[rows]
    for ctx in range(4):
        lean = ctx % 2
        assert (g[x == ctx] == lean).sum() == 40
        assert (g[x == ctx] != lean).sum() == 10
    assert (g == 0).sum() == (g == 1).sum()  # the whole set stays balanced
    again = study.tilted_selection(groups, contexts, level=0.75, n_groups=2, seed=0)
    other = study.tilted_selection(groups, contexts, level=0.75, n_groups=2, seed=1)
    assert (again == rows).all() and not (other == rows).all()
    with pytest.raises(ValueError, match="level"):
        study.tilted_selection(groups, contexts, level=1.0, n_groups=2, seed=0)


# --- bad parameters ----------------------------------------------------------------------------

@pytest.mark.parametrize(("change", "message"), [
    ({"k": 10**6}, "larger than the evaluation set"),
    ({"n_clusters": 10**6}, "larger than the evaluation set"),
    ({"cluster_space": "global"}, "cluster_space"),
    ({"k_rule": "square"}, "k_rule"),
    ({"dataset": "imagenet"}, "dataset"),
    ({"sweep_levels": (0.3, 0.6)}, "0.0"),
    ({"sweep_levels": (0.0, 1.0)}, r"\[0, 1\)"),
    ({"n_boot": 5}, "n_boot"),
    ({"matched_draws": 0}, "matched_draws"),
    ({"checkpoint": "a.pt", "models": ("x/y", "x/z")}, "exactly one"),
])
def test_bad_parameters_say_what_to_change(change, message):
    with pytest.raises(ValueError, match=message):
        study.Params(**change)


def test_run_rejects_other_params():
    with pytest.raises(ValueError, match=r"global_vs_local\.Params"):
        study.run({"seed": 0})


# --- charts --------------------------------------------------------------------------------------

def _tables():
    glob = pd.DataFrame({"model": ["a", "b"], "metric": "max_skew", "target": "uniform",
                         "value": [0.2, 0.4], "ci_low": [0.1, 0.3], "ci_high": [0.3, 0.5]})
    local = pd.DataFrame({"view": "oracle", "model": ["a", "a", "b", "b"],
                          "subset": ["x", "y", "x", "y"], "metric": "max_skew",
                          "target": "uniform", "value": [0.1, 0.5, 0.3, 0.6],
                          "degenerate": [False, False, False, True]})
    return glob, local


def test_global_local_chart_spec():
    glob, local = _tables()
    spec = charts.global_local_chart(glob, local, metric="max_skew").to_dict()
    marks = [layer["mark"]["type"] for layer in spec["layer"]]
    assert marks == ["rule", "circle", "point"]
    assert spec["width"] == "container"
    dots = [v for v in spec["datasets"].values() if v and "subset" in v[0]]
    assert len(dots[0]) == 3  # the degenerate subset is not drawn
    with pytest.raises(ValueError, match="no rows"):
        charts.global_local_chart(glob, local, metric="ndkl")


def test_global_local_chart_shows_readable_model_names():
    glob, local = _tables()
    ids = {"a": "synthetic-rn-s/web-s_s0", "b": "synthetic-vit-s/skew-l_s0"}
    spec = charts.global_local_chart(glob.replace({"model": ids}), local.replace({"model": ids}),
                                     metric="max_skew").to_dict()
    shown = {row["model"] for rows in spec["datasets"].values() for row in rows}
    assert shown == {"synthetic-rn-s/web-s", "synthetic-vit-s/skew-l"}


def test_departure_summary_is_the_mean_over_models():
    rows = []
    for model, base in (("a", 0.1), ("b", 0.3)):
        for target in ("uniform", "dataset"):
            rows.append({"view": "oracle", "model": model, "metric": "recall_kl",
                         "target": target, **{c: base + (target == "dataset")
                                              for c in charts.DEPARTURE_COLUMNS}})
    summary = charts.departure_summary(pd.DataFrame(rows))
    assert len(summary) == 2 and set(summary["metric"]) == {"recall-KL@k"}
    by_target = summary.set_index("target")
    for column in charts.DEPARTURE_COLUMNS:
        assert by_target.loc["uniform", column] == pytest.approx(0.2)
        assert by_target.loc["dataset", column] == pytest.approx(1.2)
    with pytest.raises(ValueError, match="lacks column"):
        charts.departure_summary(pd.DataFrame(rows).drop(columns="spread"))


def test_tau_sweep_and_mix_chart_specs():
    taus = pd.DataFrame({"view": ["oracle", "kmeans_shared"], "metric": "ndkl",
                         "target": "dataset", "subset": ["x", "0"], "tau": [0.5, np.nan]})
    spec = charts.tau_chart(taus).to_dict()
    assert spec["mark"]["type"] == "tick"
    assert spec["encoding"]["x"]["scale"]["domain"] == [-1, 1]
    sweep = pd.DataFrame({"level": [0.0, 0.0, 0.8, 0.8], "model": ["a", "b", "a", "b"],
                          "metric": "max_skew", "target": "uniform",
                          "share_outside_ci": [0.0, 0.5, 1.0, 1.0]})
    s = charts.sweep_chart(sweep).to_dict()
    rows = next(iter(s["datasets"].values()))
    assert [r["share_outside_ci"] for r in rows] == [0.25, 1.0]  # mean over models
    assert s["encoding"]["column"]["field"] == "target"
    mix = pd.DataFrame({"level": 0.0, "subset": ["x", "x"], "group": ["a", "b"],
                        "share": [0.5, 0.5]})
    assert charts.sweep_mix_chart(mix).to_dict()["mark"]["type"] == "bar"


def test_subset_gallery_table():
    from clipbias.data.synthetic import WorldConfig, generate_world

    world = generate_world(WorldConfig(size=30), seed=0, stream="test")
    labels = world.contexts.astype(str)
    table = charts.subset_gallery(world, labels, [labels[0], labels[1]], n=3)
    assert set(table["row"]) <= {0, 1} and table["url"].str.startswith("data:image/png").all()
    assert (table.groupby("row")["subset"].nunique() == 1).all()
    with pytest.raises(ValueError, match="no scene"):
        charts.subset_gallery(world, labels, ["nowhere"])


# --- the real-data path --------------------------------------------------------------------------

def test_full_code_path_on_the_real_path_fixture(real_path, monkeypatch):
    for name, value in real_path.environ().items():
        monkeypatch.setenv(name, value)
    p = real_path.parameters()
    params = study.Params(dataset="coco", models=(p["model_id"],), checkpoint=p["checkpoint"],
                          data_root=p["dataset_roots"]["coco"], k=2, recall_k=1, n_clusters=2,
                          n_init=2, min_cluster_size=1, min_group_size=1, n_boot=20,
                          matched_draws=2)
    result = study.run(params, progress=False)
    values = study.glue_values(result)
    assert values["n_models"] == 1 and values["n_images"] == len(result.embedded.table) > 0
    assert set(result.global_table["metric"]) == {"recall_kl", "max_skew", "ndkl"}
    assert math.isnan(values["cluster_oracle_ari"])  # no oracle on real data
    assert result.sweep.empty


def test_full_profile_without_weights_stops_with_how_to(real_path, monkeypatch):
    for name, value in real_path.environ().items():
        monkeypatch.setenv(name, value)
    params = study.Params(dataset="coco", data_root=real_path.parameters()["dataset_roots"]
                          ["coco"], models=("ViT-B-32/laion400m_e32",), k=2, recall_k=1)
    with pytest.raises(RuntimeError, match=r"(?i)weights"):
        study.run(params, progress=False)
