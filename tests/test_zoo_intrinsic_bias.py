"""The zoo intrinsic-bias study: the planted truth from the ci notebook's glued values, the full
code path on the real-path fixture, bad parameters, and the chart builders."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clipbias.metrics.regression import MixedLMFit
from clipbias.publish.profiles import load_profile
from clipbias.studies import zoo_intrinsic_bias as study
from clipbias.viz import zoo_bias as charts
from clipbias.zoo import WeightsUnavailableError
from clipbias.zoo.selections import UnknownModelError
from clipbias.zoo.synthetic.zoos import zoo_entries
from realpath import save_weights, write_fixture_profile

STEM = "zoo_intrinsic_bias"


# --- the planted truth, from the one ci execution of the notebook ------------------------------


def test_ci_model_aware_fit_recovers_the_planted_family_order(ci_glued):
    """Planted: fair < web < skew (reference fair). The model-aware fit must find skew above fair
    with p < 0.01 and web above fair (direction), and skew above web."""
    g = ci_glued(STEM)
    assert g["dataset_reference"] == "fair"
    assert g["coef_family_skew"] > 0 and g["p_family_skew"] < 0.01
    assert g["coef_family_web"] > 0
    assert g["coef_family_skew"] > g["coef_family_web"]
    assert g["top_family"] == "skew"


def test_ci_counts_and_shapes(ci_glued):
    g = ci_glued(STEM)
    n_models = len(zoo_entries("ci"))
    assert g["n_models"] == n_models and g["n_tests"] == 8 and g["n_cases"] == 8 * n_models
    assert g["n_missing_downstream"] == 0
    for key in ("share_d_ge_0_2", "share_d_gt_0"):
        assert g[f"{key}_ci_low"] <= g[key] <= g[f"{key}_ci_high"]
    assert 0 <= g["coverage_paper_spec"] <= 1 and 0 <= g["coverage_model_aware"] <= 1
    orders = ("image_image", "image_text", "text_image", "text_text")
    for category in ("concept", "context"):
        for order in orders:
            assert -1 <= g[f"r_perf_{category}_{order}"] <= 1
    assert g["random_init_mean_abs_d"] >= 0 and g["trained_mean_abs_d"] >= 0
    # the paper's specification estimates the same fixed effects (same design, balanced rows)
    assert g["paper_coef_family_skew"] == pytest.approx(g["coef_family_skew"], abs=1e-6)


def test_ci_negative_control_category_shows_no_family_effect(ci_glued):
    """The Context tests plant nothing that differs between the zoo's datasets."""
    g = ci_glued(STEM)
    assert g["fit_categories"] == "Concept" and g["control_categories"] == "Context"
    assert g["cat_context_p_family_skew"] > 0.01


# --- the full code path on the real-path fixture --------------------------------------------


def _fixture_zoo(real_path, tmp_path) -> tuple[list[str], list[str], str]:
    """Eight user checkpoints of the fixture architecture with a factors file: two architecture
    and three dataset families, sizes and parameter counts varied so the design has full rank."""
    ids, checkpoints, rows = [], [], []
    families = ["laion", "datacomp", "openai_wit", "laion", "datacomp", "openai_wit", "laion",
                "datacomp"]
    rng = np.random.default_rng(0)
    for seed in range(8):
        mid = f"fixture-vit/user-seed{seed}"
        path = (real_path.checkpoint if seed == 0
                else save_weights(tmp_path / f"seed{seed}.pt", seed=seed))
        ids.append(mid)
        checkpoints.append(f"{mid}={path}")
        rows.append({"model_id": mid, "arch": "fixture-vit",
                     "arch_family": "ViT" if seed % 2 else "ResNet",
                     "dataset_family": families[seed],
                     "dataset_size": float(10 ** rng.uniform(6, 9)),
                     "params_total": float(10 ** rng.uniform(6, 8)),
                     "downstream_score": float(rng.uniform(0.2, 0.6))})
    factors = tmp_path / "factors.csv"
    pd.DataFrame(rows).to_csv(factors, index=False)
    return ids, checkpoints, str(factors)


def test_full_code_path_on_the_real_path_fixture(real_path, tmp_path, monkeypatch):
    for name, value in real_path.environ().items():
        monkeypatch.setenv(name, value)
    ids, checkpoints, factors = _fixture_zoo(real_path, tmp_path)
    profile = write_fixture_profile(real_path, {STEM: {
        "selection": ids, "checkpoints": checkpoints, "factors_file": factors,
        "data_root": str(real_path.data_root), "n_permutations": 200, "n_bootstrap": 20,
        "coverage_datasets": 2, "device": "cpu"}}, path=tmp_path / "fixture.yaml")
    params = study.Params(**load_profile(profile)[STEM])
    result = study.run(params, progress=False)
    assert result.battery["model"].nunique() == 8
    assert result.battery["test"].nunique() == 26  # the real battery, all four orders
    assert set(result.categories) == set(result.battery["category"])  # real models: all
    assert len(result.random_init) == 26  # one untrained model of the one architecture
    glued = study.glue_values(result)
    assert glued["n_models"] == 8 and glued["dataset_reference"] == "datacomp"
    assert {"coef_family_laion", "p_family_openai_wit", "paper_coef_family_laion",
            "r_perf_race_image_image"} <= set(glued)
    assert all(isinstance(v, int | float | str) for v in glued.values())


def test_full_profile_without_weights_stops_with_how_to_provide_them():
    entry = load_profile("notebooks/profiles/full.yaml")[STEM]
    params = study.Params(**entry)
    with pytest.raises(WeightsUnavailableError, match="checkpoint="):
        study.run(params, progress=False)


# --- bad parameters -------------------------------------------------------------------------


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"selection": "paper_999"}, "selection must be one of"),
    ({"selection": []}, "empty list"),
    ({"checkpoints": ["no-equals-sign"]}, "ARCH/TAG=path"),
    ({"factors_file": "/no/such/file.csv"}, "does not exist"),
    ({"n_images": 1}, "n_images"),
    ({"coverage_datasets": -1}, "coverage_datasets"),
    ({"categories": ["Concept", "Concept"]}, "twice"),
    ({"device": "tpu"}, "device"),
])
def test_bad_parameters_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        study.Params(**kwargs)


def test_unknown_model_id_names_the_closest():
    with pytest.raises(UnknownModelError, match="ViT-B-32/openai"):
        study.run(study.Params(selection=["ViT-B-32/openaii"]), progress=False)


def _models(families: list[str], archs: list[str]) -> pd.DataFrame:
    n = len(families)
    return pd.DataFrame({"model_id": [f"m{i}" for i in range(n)], "arch_family": archs,
                         "dataset_family": families})


def test_absent_reference_level_is_named():
    models = _models(["fair", "web"], ["ViT", "ViT"])
    study.check_references(models, study.Params(dataset_reference="web"))
    with pytest.raises(ValueError, match=r"dataset_reference 'skew'.*\['fair', 'web'\]"):
        study.check_references(models, study.Params(dataset_reference="skew"))
    with pytest.raises(ValueError, match="arch_reference 'CoCa'"):
        study.check_references(models, study.Params(arch_reference="CoCa"))


def _rows(families, archs, log_params, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    out = []
    for m, (fam, arch, lp) in enumerate(zip(families, archs, log_params, strict=True)):
        for cat in ("A", "B"):
            for order in ("image-image", "text-text"):
                out.append({"model": f"m{m}", "category": cat, "order": order,
                            "d": rng.normal(), "dataset_family": fam,
                            "architecture_family": arch, "log_params": lp,
                            "log_dataset_size": float(m % 3)})
    return pd.DataFrame(out)


def test_confounded_design_names_the_columns():
    """Architecture family equals dataset family model by model: not identifiable."""
    families = ["fair", "fair", "web", "web", "skew", "skew"]
    archs = ["ResNet", "ResNet", "ViT", "ViT", "ViT", "ViT"]
    rows = _rows(families, archs, [1.0, 2.0, 3.0, 1.5, 2.5, 0.5])
    rows["architecture_family"] = np.where(rows["dataset_family"] == "fair", "ResNet", "ViT")
    with pytest.raises(ValueError, match=r"confounded columns.*architecture_family"):
        study.fit_specifications(rows, {"dataset_family": "fair",
                                        "architecture_family": "ResNet"}, [])


def test_single_dataset_family_is_refused():
    rows = _rows(["fair"] * 4, ["ViT", "ResNet"] * 2, [1.0, 2.0, 3.0, 4.0])
    with pytest.raises(ValueError, match="same dataset family"):
        study.fit_specifications(rows, {"dataset_family": "fair"}, [])


def test_key_part():
    assert study.key_part("Insect-Flower") == "insect_flower"
    assert study.key_part("text-image") == "text_image"
    assert study.key_part("Race:SENT-WEAT3") == "race_sent_weat3"


def test_planted_categories_follow_the_planted_truth():
    assert study.planted_categories() == ("Concept",)


# --- chart builders -------------------------------------------------------------------------


def _aggregate() -> pd.DataFrame:
    return pd.DataFrame({"category": ["A", "A", "B", "B"], "order": ["image-image", "text-text"] * 2,
                         "n": [3] * 4, "mean": [0.5, -0.2, 1.0, 0.0], "sd": [0.1, 0.2, 0.3, 0.4]})


def test_effect_size_heatmap_spec():
    spec = charts.effect_size_heatmap(_aggregate(), title="t").to_dict()
    cells, labels = spec["layer"]
    assert cells["mark"]["type"] == "rect" and cells["encoding"]["color"]["field"] == "mean"
    assert labels["encoding"]["text"]["field"] == "label"
    data = next(iter(spec["datasets"].values()))
    assert [row["label"] for row in data] == ["0.50 ± 0.10", "-0.20 ± 0.20", "1.00 ± 0.30",
                                             "0.00 ± 0.40"]
    assert spec["width"] == "container"


def test_correlation_heatmap_marks_significant_cells():
    table = _aggregate()[["category", "order"]].assign(
        score="vtab_plus", estimate=[0.9, -0.1, 0.5, 0.0], p_value=[0.001, 0.8, 0.04, 1.0],
        ci_low=-1.0, ci_high=1.0, n=10, p_holm=1.0)
    spec = charts.correlation_heatmap(table).to_dict()
    data = next(iter(spec["datasets"].values()))
    assert [row["label"] for row in data] == ["0.90*", "-0.10", "0.50*", "0.00"]
    assert spec["layer"][0]["encoding"]["color"]["scale"]["domain"] == [-1.0, 1.0]
    with pytest.raises(ValueError, match="no rows for score"):
        charts.correlation_heatmap(table, score="average_38")


def test_forest_chart_drops_the_intercept_and_keeps_both_fits():
    coef = pd.DataFrame({"fit": ["paper", "paper", "model-aware", "model-aware"],
                         "term": ["Intercept", "x", "Intercept", "x"],
                         "label": ["Intercept", "x", "Intercept", "x"],
                         "estimate": [0.1, 0.5, 0.1, 0.5], "ci_low": [0.0, 0.4, 0.0, 0.2],
                         "ci_high": [0.2, 0.6, 0.2, 0.8], "p": [0.5, 0.01, 0.5, 0.05]})
    spec = charts.fit_forest_chart(coef).to_dict()
    data = next(d for d in spec["datasets"].values() if d and "fit" in d[0])
    assert sorted(row["fit"] for row in data) == ["model-aware", "paper"]
    assert all(row["term"] != "Intercept" for row in data)
    with pytest.raises(ValueError, match="only the intercept"):
        charts.fit_forest_chart(coef[coef["term"] == "Intercept"])


def test_random_init_and_sensitivity_charts():
    battery = pd.DataFrame({"model": ["a", "b"], "order": ["text-text"] * 2, "d": [-1.0, 0.5]})
    spec = charts.random_init_chart(battery, battery.assign(model="r")).to_dict()
    data = next(iter(spec["datasets"].values()))
    assert sorted(row["abs_d"] for row in data) == [0.5, 0.5, 1.0, 1.0]
    sens = pd.DataFrame({"fit": ["all", "without x"], "term": ["t", "t"], "label": ["t", "t"],
                         "estimate": [0.3, np.nan], "ci_low": [0.1, np.nan],
                         "ci_high": [0.5, np.nan]})
    spec = charts.sensitivity_chart(sens).to_dict()
    assert len(next(iter(spec["datasets"].values()))) == 1
    with pytest.raises(ValueError, match="lacks column"):
        charts.sensitivity_chart(sens.drop(columns="label"))


def _fit(attempts: pd.DataFrame, *, singular: bool, said: tuple[str, ...]) -> MixedLMFit:
    return MixedLMFit(coefficients=pd.DataFrame(), variance_components=pd.DataFrame(),
                      random_effects_cov=pd.DataFrame(), residual_variance=1.0, scaling={},
                      optimizer="lbfgs", converged=True, singular=singular, attempts=attempts,
                      warnings=said, n_obs=10, n_groups=2, n_models=None,
                      specification="grouped", result=None)


def test_fit_attempts_lists_every_attempt_and_the_accepted_fits_flags():
    tried = pd.DataFrame({"optimizer": ["bfgs", "lbfgs"], "outcome": ["not converged", "accepted"],
                          "converged": [False, True], "loglik": [np.nan, -3.5],
                          "detail": ["optimiser did not converge", ""]})
    one = pd.DataFrame({"optimizer": ["lbfgs"], "outcome": ["accepted"], "converged": [True],
                        "loglik": [-2.0], "detail": [""]})
    table = charts.fit_attempts({
        "paper": _fit(tried, singular=True, said=("MLE on the boundary", "MLE on the boundary")),
        "model-aware": _fit(one, singular=False, said=())})
    assert table["fit"].tolist() == ["paper", "paper", "model-aware"]
    assert table["optimizer"].tolist() == ["bfgs", "lbfgs", "lbfgs"]
    assert table["singular"].tolist() == [None, True, False]
    assert table["warnings"].tolist() == [None, "MLE on the boundary", "none"]
    with pytest.raises(ValueError, match="must be a MixedLMFit"):
        charts.fit_attempts({"paper": tried})
    with pytest.raises(ValueError, match="fits is empty"):
        charts.fit_attempts({})
