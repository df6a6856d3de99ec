"""The synthetic-validation study's statistics, parameters, glue keys and charts (no training).

The slope interval and the null's prediction interval are checked against slow references and
for coverage on simulated data; the parameters for their checks and seeds; ``glue_values`` and
the chart builders on a hand-made per-model table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from clipbias.data.stimulus import ORDERS
from clipbias.data.synthetic import WorldConfig, generate_world
from clipbias.studies import synthetic_validation as sv
from clipbias.viz import synthetic as charts

# --- slope_interval -------------------------------------------------------------------------


def test_slope_interval_matches_linregress():
    rng = np.random.default_rng(1)
    x = np.repeat([0.0, 0.25, 0.5, 1.0], 3)
    y = 0.3 + 1.7 * x + rng.normal(0, 0.2, len(x))
    slope, se, low, high = sv.slope_interval(x, y)
    ref = stats.linregress(x, y)
    assert slope == pytest.approx(ref.slope)
    assert se == pytest.approx(ref.stderr)
    t = stats.t.ppf(0.975, len(x) - 2)
    assert (low, high) == pytest.approx((ref.slope - t * ref.stderr, ref.slope + t * ref.stderr))


def test_slope_interval_covers_the_true_slope_95_percent_of_the_time():
    rng = np.random.default_rng(7)
    x = np.array([0.0] * 8 + [0.25, 0.25, 0.5, 0.5, 0.75, 0.75, 1.0, 1.0])
    hits = 0
    n = 2000
    for _ in range(n):
        y = -0.2 + 0.8 * x + rng.normal(0, 0.5, len(x))
        _, _, low, high = sv.slope_interval(x, y)
        hits += low <= 0.8 <= high
    # binomial SD of the coverage at n = 2000 is 0.005
    assert abs(hits / n - 0.95) < 0.015


def test_slope_interval_edges():
    x = np.array([0.0, 0.5, 1.0, 1.0])
    slope, se, low, high = sv.slope_interval(x, 2.0 * x + 1.0)  # exact line: zero residual
    assert slope == pytest.approx(2.0) and se == pytest.approx(0.0, abs=1e-12)
    assert low == pytest.approx(high)
    with pytest.raises(ValueError, match="single value"):
        sv.slope_interval(np.zeros(5), np.arange(5.0))
    with pytest.raises(ValueError, match="at least 3"):
        sv.slope_interval([0.0, 1.0], [0.0, 1.0])
    with pytest.raises(ValueError, match="finite"):
        sv.slope_interval([0.0, 1.0, 2.0], [0.0, np.nan, 1.0])
    with pytest.raises(ValueError, match="one length"):
        sv.slope_interval([0.0, 1.0, 2.0], [0.0, 1.0])


# --- null_summary ----------------------------------------------------------------------------


def _models(values_at_zero, more=()):
    rows = [{"level": 0.0, "replicate": r, "seed": r, "metric": "eat_d", "category": "Concept",
             "order": "text-text", "value": v} for r, v in enumerate(values_at_zero)]
    rows += [{"level": lv, "replicate": r, "seed": 100 + r, "metric": "eat_d",
              "category": "Concept", "order": "text-text", "value": v}
             for r, (lv, v) in enumerate(more)]
    return pd.DataFrame(rows)


def test_null_summary_against_a_slow_reference():
    values = [0.3, -0.1, 0.8, 0.05, -0.4, 0.2, 0.0, 0.6]
    row = sv.null_summary(_models(values, more=[(1.0, 5.0)])).iloc[0]
    n, mean, sd = len(values), np.mean(values), np.std(values, ddof=1)
    half = stats.t.ppf(0.975, n - 1) * sd * np.sqrt(1 + 1 / n)
    assert (row["n"], row["mean"], row["sd"]) == (n, pytest.approx(mean), pytest.approx(sd))
    assert (row["low"], row["high"]) == (pytest.approx(mean - half), pytest.approx(mean + half))


def test_null_prediction_interval_holds_one_more_seed_95_percent_of_the_time():
    rng = np.random.default_rng(3)
    hits, n = 0, 1000
    for _ in range(n):
        draws = rng.normal(0.1, 0.7, 9)
        row = sv.null_summary(_models(draws[:8])).iloc[0]
        hits += row["low"] <= draws[8] <= row["high"]
    # binomial SD of the coverage at n = 1000 is 0.007
    assert abs(hits / n - 0.95) < 0.021


def test_null_summary_edges():
    row = sv.null_summary(_models([0.5, 0.5, 0.5])).iloc[0]  # zero variance
    assert row["sd"] == 0.0 and row["low"] == row["high"] == 0.5
    with pytest.raises(ValueError, match="level 0"):
        sv.null_summary(_models([], more=[(1.0, 1.0), (1.0, 2.0)]))
    with pytest.raises(ValueError, match="two models"):
        sv.null_summary(_models([0.1]))


def test_slope_table_snr_is_the_fitted_effect_at_half_over_the_null_sd():
    rng = np.random.default_rng(0)
    zero = rng.normal(0, 0.3, 8)
    more = [(lv, 2.0 * lv + e) for lv in (0.5, 1.0) for e in rng.normal(0, 0.3, 2)]
    models = _models(zero, more)
    null = sv.null_summary(models)
    row = sv.slope_table(models, null).iloc[0]
    slope = stats.linregress(models["level"], models["value"]).slope
    assert row["slope"] == pytest.approx(slope)
    assert row["snr"] == pytest.approx(0.5 * slope / np.std(zero, ddof=1))
    assert row["n"] == 12


# --- parameters and seeds --------------------------------------------------------------------


def test_params_jobs_and_seeds():
    p = sv.Params(levels=[0.0, 0.5, 1.0], null_seeds=4, sweep_seeds=2)
    jobs = p.jobs()
    assert [(lv, r) for lv, r, _ in jobs] == [(0.0, 0), (0.0, 1), (0.0, 2), (0.0, 3),
                                             (0.5, 0), (0.5, 1), (1.0, 0), (1.0, 1)]
    assert len({s for _, _, s in jobs}) == len(jobs)  # every model its own seed
    other = sv.Params(levels=[0.0, 0.5, 1.0], null_seeds=4, sweep_seeds=2, seed=1)
    assert not {s for _, _, s in jobs} & {s for _, _, s in other.jobs()}
    assert p.world(0.5).assignment_seed != other.world(0.5).assignment_seed
    assert p.world(0.5).association == 0.5 and p.world(0.5).context_correlation == 0.0


@pytest.mark.parametrize("bad, match", [
    ({"zoo": "huge"}, "zoo"),
    ({"levels": [0.5, 1.0]}, "including 0.0"),
    ({"levels": [0.0, 0.0]}, "distinct"),
    ({"levels": [0.0, 1.5]}, r"\[0, 1\]"),
    ({"null_seeds": 1}, "null_seeds"),
    ({"sweep_seeds": 9, "null_seeds": 8}, "sweep_seeds"),
    ({"train_steps": 0}, "train_steps"),
    ({"k": 0}, "k must be"),
    ({"recall_k": 10_000}, "recall_k"),
    ({"synonyms": 4}, "synonyms"),
    ({"n_concepts": 7}, "n_concepts"),
])
def test_params_reject_bad_values(bad, match):
    with pytest.raises(ValueError, match=match):
        sv.Params(**bad)


# --- association gap -------------------------------------------------------------------------


def test_association_gap_against_a_slow_reference():
    rng = np.random.default_rng(5)
    config = WorldConfig(n_concepts=6, assignment_seed=3)
    sim = rng.normal(size=(40, 6))
    groups = rng.integers(0, 2, 40)
    gaps = []
    for a in range(6):
        for b in range(6):
            if config.concept_groups[a] == 0 and config.concept_groups[b] == 1:
                pref = [1.0 if sim[i, a] > sim[i, b] else 0.0 for i in range(40)]
                p0 = np.mean([pref[i] for i in range(40) if groups[i] == 0])
                p1 = np.mean([pref[i] for i in range(40) if groups[i] == 1])
                gaps.append(p0 - p1)
    assert sv._association_gap(sim, groups, config) == pytest.approx(np.mean(gaps))


# --- glue values and charts on a hand-made result ------------------------------------------------


@pytest.fixture(scope="module")
def result() -> sv.Result:
    rng = np.random.default_rng(11)
    params = sv.Params(levels=[0.0, 0.5, 1.0], null_seeds=4, sweep_seeds=2)
    rows = []
    for level, r, seed in params.jobs():
        for order in ORDERS:
            for category in ("Concept", "Context"):
                rows.append({"level": level, "replicate": r, "seed": seed, "metric": "eat_d",
                             "category": category, "order": order,
                             "value": level * (category == "Concept") + rng.normal(0, 0.2)})
        for metric, order in (("max_skew", "text-image"), ("ndkl", "text-image"),
                              ("assoc_gap", "image-text"), ("recall_kl", "text-image"),
                              ("zero_shot", "image-text")):
            rows.append({"level": level, "replicate": r, "seed": seed, "metric": metric,
                         "category": "Concept", "order": order,
                         "value": 0.9 + 0.05 * rng.random()})
    models = sv._with_text_mean(pd.DataFrame(rows))
    null = sv.null_summary(models)
    catalog = pd.DataFrame({"model_id": ["a/x_s0", "b/y_s0"], "downstream_score": [0.9, 0.8],
                            "dataset_family": ["fair", "skew"]})
    world = generate_world(WorldConfig(size=50), seed=0)
    return sv.Result(params=params, catalog=catalog, sample_world=world,
                     default_stereotyped_share=float(world.stereotyped().mean()), models=models,
                     null=null, slopes=sv.slope_table(models, null),
                     levels=sv._level_table(models))


def test_text_mean_is_the_mean_of_the_three_text_orders(result):
    m = result.models
    concept = m[(m["metric"] == "eat_d") & (m["category"] == "Concept")]
    wide = concept.pivot_table(index=["level", "replicate"], columns="order", values="value")
    expected = wide[["image-text", "text-image", "text-text"]].mean(axis=1)
    assert np.allclose(wide[sv.TEXT_MEAN], expected)


def test_glue_values_hold_the_issue_keys(result):
    glued = sv.glue_values(result)
    for order in ("image_image", "image_text", "text_image", "text_text", "text_mean"):
        for key in (f"null_sd_d_{order}", f"null_mean_d_{order}", f"slope_d_{order}",
                    f"slope_d_{order}_ci_low", f"slope_d_{order}_ci_high", f"snr_d_{order}"):
            assert isinstance(glued[key], float) and np.isfinite(glued[key]), key
    assert glued["null_seeds"] == 4 and glued["n_models"] == 8
    null = result.null.set_index(["metric", "category", "order"])
    assert glued["null_sd_d_text_text"] == null.loc[("eat_d", "Concept", "text-text"), "sd"]
    assert glued["slope_d_text_mean_ci_low"] < glued["slope_d_text_mean"] \
        < glued["slope_d_text_mean_ci_high"]
    assert glued["zoo_acc_min"] == pytest.approx(80.0)
    concept = result.slopes[(result.slopes["metric"] == "eat_d")
                            & (result.slopes["category"] == "Concept")
                            & result.slopes["order"].isin(ORDERS)]
    assert glued["orders_recovered"] == int((concept["ci_low"] > 0).sum()) == 4
    text = concept[concept["order"] != "image-image"]
    assert glued["text_orders_at_snr_aim"] == int((text["snr"] >= sv.SNR_AIM).sum())
    assert glued["snr_aim"] == 2.0


def test_chart_builders_draw_the_result(result):
    specs = [
        charts.null_distribution_chart(result.models, result.null),
        charts.slope_chart(result.slopes),
        charts.order_response_chart(result.models),
        charts.metric_response_chart(result.levels, metrics={"max_skew": "MaxSkew@k",
                                                             "zero_shot": "accuracy"}),
        charts.zoo_accuracy_chart(result.catalog),
    ]
    for chart in specs:
        assert "$schema" in chart.to_dict()
    with pytest.raises(ValueError, match="no rows for metric 'nope'"):
        charts.slope_chart(result.slopes, metric="nope")
    with pytest.raises(ValueError, match="lacks column"):
        charts.null_distribution_chart(result.models.drop(columns="seed"), result.null)


def test_zoo_accuracy_chart_is_a_dot_plot_in_the_prose_order():
    catalog = pd.DataFrame({
        "model_id": ["synthetic-rn-s/skew-s_s0", "synthetic-vit-s/web-l_s0",
                     "synthetic-rn-s/fair-s_s0", "synthetic-rn-s/fair-s_s1"],
        "downstream_score": [0.95, 0.97, 0.99, 0.96],
        "dataset_family": ["skew", "web", "fair", "fair"]})
    spec = charts.zoo_accuracy_chart(catalog).to_dict()
    points = next(layer for layer in spec["layer"] if layer["mark"]["type"] == "point")
    assert points["encoding"]["color"]["scale"]["domain"] == ["fair", "web", "skew"]
    assert points["encoding"]["x"]["scale"]["zero"] is False
    shown = set(next(iter(spec["datasets"].values()))[i]["model"] for i in range(4))
    assert shown == {"synthetic-rn-s/skew-s", "synthetic-vit-s/web-l",
                     "synthetic-rn-s/fair-s (seed 0)", "synthetic-rn-s/fair-s (seed 1)"}


def test_metric_response_band_is_one_sd_over_the_models_of_a_level(result):
    spec = charts.metric_response_chart(result.levels, metrics={"max_skew": "MaxSkew@k"}).to_dict()
    rows = pd.DataFrame(next(iter(spec["datasets"].values())))
    expected = result.levels[result.levels["metric"] == "max_skew"]
    merged = rows.merge(expected, on=["level", "order", "category"], suffixes=("", "_ref"))
    assert len(merged) == len(expected)
    assert np.allclose(merged["high"] - merged["low"], 2 * merged["sd_ref"].fillna(0.0))
    with pytest.raises(ValueError, match="lacks column"):
        charts.metric_response_chart(result.levels.drop(columns="n"), metrics={"max_skew": "x"})
