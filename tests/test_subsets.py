"""Tests of clipbias.metrics.subsets: global and per-subset bias, the image bootstrap, k-means
views, partition agreement, departures and Kendall tau (against slow references written here)."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from clipbias.metrics import max_skew_at_k, ndkl_at_k, recall_kl_at_k
from clipbias.metrics.subsets import (
    BIAS_COLUMNS,
    LOCAL_COLUMNS,
    _interval,
    bootstrap_concept_metrics,
    bootstrap_recall_kl,
    global_bias,
    kendall_tau_by_subset,
    kmeans_views,
    local_departure,
    partition_agreement,
    subset_bias,
)


def _unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    n, d = 360, 12
    images = rng.normal(size=(n, d))
    captions = images + 0.9 * rng.normal(size=(n, d))
    concepts = rng.normal(size=(4, d))
    groups = np.array(["a", "b", "c"])[rng.integers(0, 3, n)]
    subsets = rng.integers(0, 3, n)
    return images, captions, concepts, groups, subsets


def test_global_bias_matches_kernels(data):
    images, captions, concepts, groups, _ = data
    table = global_bias(images, captions, groups, concept_emb=concepts, k=40, recall_k=3,
                        target="dataset")
    assert list(table.columns) == list(BIAS_COLUMNS)
    assert table["metric"].tolist() == ["recall_kl", "max_skew", "ndkl"]
    sim = _unit(concepts) @ _unit(images).T
    cap = _unit(images) @ _unit(captions).T
    by = table.set_index("metric")["value"]
    assert by["recall_kl"] == pytest.approx(
        recall_kl_at_k(cap, np.arange(len(groups)), groups, k=3).kl, abs=1e-12)
    assert by["max_skew"] == pytest.approx(
        max_skew_at_k(sim, groups, k=40, target="dataset").mean(), abs=1e-12)
    assert by["ndkl"] == pytest.approx(ndkl_at_k(sim, groups, k=40, target="dataset").mean(),
                                       abs=1e-12)
    assert (table["target"] == ["uniform", "dataset", "dataset"]).all()


def test_global_bias_without_concepts_gives_recall_only(data):
    images, captions, _, groups, _ = data
    assert global_bias(images, captions, groups)["metric"].tolist() == ["recall_kl"]


def test_caption_index_picks_caption_rows(data):
    images, captions, _, groups, _ = data
    perm = np.random.default_rng(1).permutation(len(groups))
    shuffled = captions[perm]
    index = np.argsort(perm)  # row of image i's caption in the shuffled table
    a = global_bias(images, captions, groups, k=30)
    b = global_bias(images, shuffled, groups, caption_index=index, k=30)
    assert a["value"].tolist() == pytest.approx(b["value"].tolist(), abs=1e-12)


@pytest.mark.parametrize("target", ["uniform", "dataset"])
def test_subset_metric_equals_metric_on_subset_alone(data, target):
    images, captions, concepts, groups, subsets = data
    local = subset_bias(images, captions, groups, subsets, concept_emb=concepts, k=30,
                        recall_k=3, targets=(target,), min_group_size=1)
    assert list(local.columns) == list(LOCAL_COLUMNS)
    for s in range(3):
        rows = subsets == s
        alone = global_bias(images[rows], captions[rows], groups[rows], concept_emb=concepts,
                            k=30, recall_k=3, target=target).set_index("metric")
        mine = local[local["subset"] == s].set_index("metric")
        assert mine["value"].to_dict() == pytest.approx(alone["value"].to_dict(), abs=1e-12)
        assert (mine["favoured"] == alone["favoured"]).all()
        assert mine["n_images"].iloc[0] == rows.sum()


def test_proportional_k_scales_with_subset_share(data):
    images, captions, concepts, groups, subsets = data
    local = subset_bias(images, captions, groups, subsets, concept_emb=concepts, k=60,
                        targets=("uniform",), k_rule="proportional", metrics=("max_skew",),
                        min_group_size=1)
    for _, row in local.iterrows():
        assert row["k"] == round(60 * row["n_images"] / len(groups))


def test_degenerate_subsets_are_flagged_and_left_out():
    rng = np.random.default_rng(3)
    images = rng.normal(size=(120, 8))
    groups = np.repeat(["a", "b"], 60)
    subsets = np.repeat([0, 1], 60)  # subset 0 holds only group a
    subsets[:5] = 1
    subsets[-3:] = -1                # three images in no subset
    local = subset_bias(images, images, groups, subsets, concept_emb=rng.normal(size=(2, 8)),
                        k=10, min_group_size=5)
    flag = local.groupby("subset")["degenerate"].all()
    assert flag[0] and not flag[1]
    assert local.loc[local["subset"] == 0, "value"].isna().all()
    assert local.loc[local["subset"] == 1, "n_images"].iloc[0] == 60 - 3 + 5


def test_k_larger_than_subset_is_degenerate(data):
    images, captions, concepts, groups, subsets = data
    local = subset_bias(images, captions, groups, subsets, concept_emb=concepts, k=200,
                        metrics=("max_skew",), targets=("uniform",), min_group_size=1)
    assert local["degenerate"].all()


# --- bootstrap ---------------------------------------------------------------------------

@pytest.mark.parametrize("target", ["uniform", "dataset"])
def test_bootstrap_concept_metrics_equal_kernels_on_explicit_resamples(data, target):
    images, _, concepts, groups, _ = data
    codes = pd.factorize(groups, sort=True)[0]
    sim = _unit(concepts) @ _unit(images).T
    rng = np.random.default_rng(7)
    n = len(codes)
    draws = [np.arange(n)] + [rng.integers(0, n, n) for _ in range(5)]
    counts = np.stack([np.bincount(d, minlength=n) for d in draws])
    boot = bootstrap_concept_metrics(sim, codes, counts, k=25, targets=(target,), chunk=4)
    for b, idx in enumerate(draws):
        assert boot["max_skew", target][b] == pytest.approx(
            max_skew_at_k(sim[:, idx], codes[idx], k=25, target=target).mean(), abs=1e-12)
        assert boot["ndkl", target][b] == pytest.approx(
            ndkl_at_k(sim[:, idx], codes[idx], k=25, target=target).mean(), abs=1e-12)


def test_bootstrap_recall_kl_equals_kernel_on_explicit_resamples(data):
    images, captions, _, groups, _ = data
    codes = pd.factorize(groups, sort=True)[0]
    cap = _unit(images) @ _unit(captions).T
    n = len(codes)
    hits = np.array([int(i in np.argsort(-cap[i], kind="stable")[:4]) for i in range(n)])
    rng = np.random.default_rng(8)
    draws = [np.arange(n)] + [rng.integers(0, n, n) for _ in range(4)]
    counts = np.stack([np.bincount(d, minlength=n) for d in draws])
    boot = bootstrap_recall_kl(hits, codes, counts)
    for b, idx in enumerate(draws):
        # queries resampled, item pool (all captions) fixed
        ref = recall_kl_at_k(cap[idx], np.arange(n)[idx], codes[idx], k=4).kl
        assert boot[b] == pytest.approx(ref, abs=1e-12)


def test_bootstrap_missing_group_gives_nan():
    codes = np.array([0, 0, 1, 1])
    counts = np.array([[2, 2, 0, 0], [1, 1, 1, 1]])
    out = bootstrap_recall_kl(np.array([1, 0, 1, 1]), codes, counts)
    assert np.isnan(out[0]) and np.isfinite(out[1])
    sim = np.array([[0.9, 0.1, 0.5, 0.3]])
    res = bootstrap_concept_metrics(sim, codes, counts, k=2)
    assert np.isnan(res["max_skew", "uniform"][0]) and np.isfinite(res["ndkl", "dataset"][1])


def test_zero_variance_bootstrap_interval_is_a_point():
    codes = np.repeat([0, 1], 50)
    counts = np.random.default_rng(0).multinomial(100, np.full(100, 0.01), size=50)
    boot = bootstrap_recall_kl(np.ones(100), codes, counts)  # every image retrieves its caption
    assert np.allclose(boot, 0.0)
    assert _interval(boot, 0.0, 0.95) == (0.0, 0.0)


def test_recall_kl_bootstrap_interval_covers_the_population_value():
    """Coverage: hits ~ Bernoulli(r_g) with known group rates; the basic interval of the KL of
    the sample's normalised group recall should cover the population KL about 95% of the time."""
    rates = np.array([0.55, 0.8])
    p = rates / rates.sum()
    truth = float(np.sum(p * np.log(p * 2)))
    rng = np.random.default_rng(11)
    n, reps, covered = 400, 300, 0
    codes = np.repeat([0, 1], n // 2)
    for _ in range(reps):
        hits = (rng.random(n) < rates[codes]).astype(float)
        est = bootstrap_recall_kl(hits, codes, np.ones((1, n), int))[0]
        counts = rng.multinomial(n, np.full(n, 1.0 / n), size=300)
        lo, hi = _interval(bootstrap_recall_kl(hits, codes, counts), est, 0.95)
        covered += lo <= truth <= hi
    assert 0.88 <= covered / reps <= 0.99


def test_subset_bias_intervals_reproducible_from_seed(data):
    images, captions, concepts, groups, subsets = data
    kw = dict(concept_emb=concepts, k=20, recall_k=3, n_boot=40, min_group_size=1)
    a = subset_bias(images, captions, groups, subsets, seed=5, **kw)
    b = subset_bias(images, captions, groups, subsets, seed=5, **kw)
    c = subset_bias(images, captions, groups, subsets, seed=6, **kw)
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(a["ci_low"], c["ci_low"])
    ok = a.dropna(subset=["ci_low"])
    assert (ok["ci_low"] <= ok["ci_high"]).all()


# --- k-means views, agreement ----------------------------------------------------------------

def test_two_separated_planted_clusters_are_recovered():
    rng = np.random.default_rng(2)
    centres = np.zeros((2, 16))
    centres[0, 0], centres[1, 1] = 1.0, 1.0
    truth = np.repeat([0, 1], [150, 110])
    x = centres[truth] + 0.05 * rng.normal(size=(260, 16))
    views = kmeans_views(x, n_clusters=2, seed=0, n_init=3, min_cluster_size=100)
    assert partition_agreement(views.assignment, truth) == pytest.approx(1.0)
    assert sorted(views.sizes.tolist()) == [110, 150]
    assert views.n_kept == 2 and views.n_small == 0
    again = kmeans_views(x, n_clusters=2, seed=0, n_init=3, min_cluster_size=100)
    assert (again.assignment == views.assignment).all()


def test_small_clusters_are_left_out():
    rng = np.random.default_rng(4)
    centres = np.eye(3, 8)
    truth = np.repeat([0, 1, 2], [120, 110, 30])
    x = centres[truth] + 0.05 * rng.normal(size=(260, 8))
    views = kmeans_views(x, n_clusters=3, seed=0, min_cluster_size=100)
    assert views.n_kept == 2 and views.n_small == 1
    assert (views.subsets[truth == 2] == -1).all()


def test_kmeans_errors_say_what_to_do():
    x = np.random.default_rng(0).normal(size=(50, 4))
    with pytest.raises(ValueError, match="n_clusters"):
        kmeans_views(x, n_clusters=51, seed=0)
    with pytest.raises(ValueError, match="largest has"):
        kmeans_views(x, n_clusters=5, seed=0, min_cluster_size=40)


def test_partition_agreement_of_a_relabelling_is_one_and_of_noise_near_zero():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 4, 2000)
    assert partition_agreement((a + 1) % 4, a) == pytest.approx(1.0)
    assert abs(partition_agreement(rng.integers(0, 4, 2000), a)) < 0.02


# --- bad inputs ------------------------------------------------------------------------------

def test_bad_inputs_give_clear_errors(data):
    images, captions, concepts, groups, subsets = data
    with pytest.raises(ValueError, match="group annotations"):
        global_bias(images, captions, None)
    with pytest.raises(ValueError, match="unknown metric"):
        global_bias(images, captions, groups, metrics=("bias",))
    with pytest.raises(ValueError, match="unknown target"):
        global_bias(images, captions, groups, concept_emb=concepts, target="equal")
    with pytest.raises(ValueError, match="concept_emb"):
        global_bias(images, captions, groups, metrics=("ndkl",))
    with pytest.raises(ValueError, match="k must be an integer"):
        global_bias(images, captions, groups, concept_emb=concepts, k=len(groups) + 1)
    with pytest.raises(ValueError, match="caption_index"):
        global_bias(images, captions[:10], groups)
    with pytest.raises(ValueError, match="at least two distinct groups"):
        global_bias(images, captions, np.zeros(len(groups)))
    with pytest.raises(ValueError, match="seed"):
        subset_bias(images, captions, groups, subsets, n_boot=10)
    with pytest.raises(ValueError, match="k_rule"):
        subset_bias(images, captions, groups, subsets, k_rule="square")
    with pytest.raises(ValueError, match="no subset"):
        subset_bias(images, captions, groups, np.full(len(groups), -1))


# --- departures and rankings -------------------------------------------------------------------

def test_local_departure_by_hand():
    glob = pd.DataFrame({"metric": ["m"], "target": ["uniform"], "value": [1.0],
                         "favoured": ["a"]})
    local = pd.DataFrame({
        "subset": [0, 1, 2, 3], "metric": "m", "target": "uniform",
        "value": [1.0, 3.0, -1.0, 9.0], "favoured": ["a", "b", "a", "b"],
        "ci_low": [0.5, 2.0, -2.0, np.nan], "ci_high": [1.5, 4.0, 0.0, np.nan],
        "degenerate": [False, False, False, True]})
    out = local_departure(glob, local).iloc[0]
    assert out["n_subsets"] == 3
    assert out["spread"] == pytest.approx(np.sqrt((0 + 4 + 4) / 3))
    assert out["max_abs_dev"] == pytest.approx(2.0)
    assert out["share_sign_flips"] == pytest.approx(1 / 3)
    assert out["share_outside_ci"] == pytest.approx(2 / 3)


def _tau_b_reference(x, y):
    conc = disc = tx = ty = 0
    for i, j in itertools.combinations(range(len(x)), 2):
        dx, dy = np.sign(x[i] - x[j]), np.sign(y[i] - y[j])
        if dx == 0 and dy == 0:
            continue
        if dx == 0:
            tx += 1
        elif dy == 0:
            ty += 1
        elif dx == dy:
            conc += 1
        else:
            disc += 1
    return (conc - disc) / np.sqrt((conc + disc + tx) * (conc + disc + ty))


def test_kendall_tau_by_subset_matches_pair_counting():
    rng = np.random.default_rng(9)
    models = [f"m{i}" for i in range(7)]
    glob = pd.Series(rng.normal(size=7), index=models)
    rows = []
    for s in range(3):
        vals = np.round(glob.to_numpy() + rng.normal(scale=0.8, size=7), 1)
        rows += [{"model": m, "subset": s, "value": v} for m, v in zip(models, vals, strict=True)]
    rows.append({"model": "m0", "subset": 9, "value": 1.0})  # too few models: NaN
    out = kendall_tau_by_subset(glob, pd.DataFrame(rows)).set_index("subset")
    for s in range(3):
        local = pd.DataFrame(rows).query("subset == @s").set_index("model")["value"]
        ref = _tau_b_reference(glob[models].to_numpy(), local[models].to_numpy())
        assert out.loc[s, "tau"] == pytest.approx(ref)
    assert np.isnan(out.loc[9, "tau"]) and out.loc[9, "n_models"] == 1


def test_zero_one_counts_give_the_metric_of_a_subset(data):
    images, _, concepts, groups, _ = data
    codes = pd.factorize(groups, sort=True)[0]
    sim = _unit(concepts) @ _unit(images).T
    rows = np.sort(np.random.default_rng(12).choice(len(codes), size=150, replace=False))
    member = np.zeros((1, len(codes)), dtype=int)
    member[0, rows] = 1
    out = bootstrap_concept_metrics(sim, codes, member, k=20)
    for target in ("uniform", "dataset"):
        assert out["ndkl", target][0] == pytest.approx(
            ndkl_at_k(sim[:, rows], codes[rows], k=20, target=target).mean(), abs=1e-12)
        assert out["max_skew", target][0] == pytest.approx(
            max_skew_at_k(sim[:, rows], codes[rows], k=20, target=target).mean(), abs=1e-12)
    with pytest.raises(ValueError, match="at least k"):
        bootstrap_concept_metrics(sim, codes, member, k=151)


def test_size_matched_value_of_the_whole_set_is_the_global_value(data):
    images, captions, concepts, groups, _ = data
    local = subset_bias(images, captions, groups, np.zeros(len(groups)), concept_emb=concepts,
                        k=30, recall_k=3, matched_draws=3, seed=0)
    assert local["matched"].to_numpy() == pytest.approx(local["value"].to_numpy(), abs=1e-12)
    none = subset_bias(images, captions, groups, np.zeros(len(groups)), concept_emb=concepts,
                       k=30, recall_k=3)
    assert none["matched"].isna().all()
