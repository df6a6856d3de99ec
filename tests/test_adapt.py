"""Tests of clipbias.interventions.adapt: probes, projectors, fine-tuning, tasks, bias measures,
the downstream-bias table and the grid regression."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clipbias.data.synthetic import WorldConfig
from clipbias.interventions.adapt import (
    balanced_test_world,
    check_downstream_table,
    downstream_config,
    finetune,
    fit_linear_probe,
    fit_projector,
    ols_bootstrap,
    read_downstream_table,
    stereotype_gap,
    stereotype_skew,
)


def _blobs(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, size=n)
    centres = np.array([[4.0, 0, 0, 0], [0, 4.0, 0, 0], [0, 0, 4.0, 0]])
    return centres[y] + rng.normal(size=(n, 4)), y


# --- linear probe ---------------------------------------------------------------------------

def test_probe_separable_data_high_accuracy():
    x, y = _blobs(300, 0)
    xt, yt = _blobs(300, 1)
    probe = fit_linear_probe(x, y, epochs=200, seed=0)
    assert (probe.predict(xt) == yt).mean() > 0.95
    assert probe.losses[-1] < probe.losses[0]


def test_probe_hidden_layer_learns_xor():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, size=(400, 2))
    y = (x[:, 0] * x[:, 1] > 0).astype(int)
    linear = fit_linear_probe(x, y, epochs=300, seed=0)
    mlp = fit_linear_probe(x, y, hidden=32, epochs=500, seed=0)
    assert (mlp.predict(x) == y).mean() > 0.9
    assert (linear.predict(x) == y).mean() < 0.75


def test_probe_reproducible_and_seed_matters():
    x, y = _blobs(100, 2)
    a = fit_linear_probe(x, y, epochs=20, seed=3)
    b = fit_linear_probe(x, y, epochs=20, seed=3)
    c = fit_linear_probe(x, y, epochs=20, seed=4)
    assert all(np.array_equal(u, v) for u, v in zip(a.weights, b.weights, strict=True))
    assert not np.array_equal(a.weights[0], c.weights[0])


def test_probe_keeps_label_values():
    x, y = _blobs(120, 3)
    names = np.array(["chef", "nurse", "pilot"])[y]
    probe = fit_linear_probe(x, names, epochs=100, seed=0)
    assert set(probe.predict(x)) <= {"chef", "nurse", "pilot"}


def test_probe_errors():
    x, y = _blobs(50, 0)
    with pytest.raises(ValueError, match="one entry per row"):
        fit_linear_probe(x, y[:-1])
    with pytest.raises(ValueError, match="two distinct classes"):
        fit_linear_probe(x, np.zeros(50))
    with pytest.raises(ValueError, match="NaN"):
        fit_linear_probe(np.full((5, 2), np.nan), np.arange(5) % 2)
    with pytest.raises(ValueError, match="columns"):
        fit_linear_probe(x, y, epochs=5).predict(x[:, :2])


# --- projector ------------------------------------------------------------------------------

def test_projector_recovers_known_linear_map():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 6))
    a = rng.normal(size=(6, 3))
    b = rng.normal(size=3)
    proj = fit_projector(x, x @ a + b, loss="mse", epochs=1500, lr=0.05, weight_decay=0.0,
                         seed=0)
    assert np.allclose(proj.weights[0], a, atol=0.02)
    assert np.allclose(proj.weights[1], b, atol=0.02)


def test_projector_contrastive_matches_pairs():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 8))
    t = x @ rng.normal(size=(8, 5))
    proj = fit_projector(x, t, epochs=300, seed=0)
    out = proj.transform(x)
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    tn = t / np.linalg.norm(t, axis=1, keepdims=True)
    assert (np.argmax(out @ tn.T, axis=1) == np.arange(200)).mean() > 0.8
    again = fit_projector(x, t, epochs=300, seed=0)
    assert np.array_equal(again.weights[0], proj.weights[0])


def test_projector_errors():
    x = np.ones((10, 3)) + np.arange(10)[:, None]
    with pytest.raises(ValueError, match="loss must be one of"):
        fit_projector(x, x, loss="l1")
    with pytest.raises(ValueError, match="one target per image"):
        fit_projector(x, x[:5])
    with pytest.raises(ValueError, match="temperature"):
        fit_projector(x, x, temperature=0)


# --- bias measures ----------------------------------------------------------------------------

def _slow_gap(success, classes, stereo):
    gaps = []
    for c in sorted(set(classes)):
        s = [v for v, k, st in zip(success, classes, stereo, strict=True) if k == c and st]
        a = [v for v, k, st in zip(success, classes, stereo, strict=True) if k == c and not st]
        if s and a:
            gaps.append(sum(s) / len(s) - sum(a) / len(a))
    return sum(gaps) / len(gaps)


def test_stereotype_gap_against_reference():
    rng = np.random.default_rng(0)
    success = rng.random(200) < 0.6
    classes = rng.integers(0, 5, size=200)
    stereo = rng.random(200) < 0.5
    assert stereotype_gap(success, classes, stereo) == pytest.approx(
        _slow_gap(success.tolist(), classes.tolist(), stereo.tolist()))


def test_stereotype_gap_signs_and_errors():
    classes = np.array([0, 0, 1, 1])
    stereo = np.array([True, False, True, False])
    assert stereotype_gap([1, 0, 1, 0], classes, stereo) == 1.0
    assert stereotype_gap([1, 1, 0, 0], classes, stereo) == 0.0
    with pytest.raises(ValueError, match="both stereotypical"):
        stereotype_gap([1, 0], [0, 1], [True, False])
    with pytest.raises(ValueError, match="one length"):
        stereotype_gap([1, 0, 1], classes, stereo)


def test_stereotype_skew_against_reference():
    rng = np.random.default_rng(1)
    assign = np.array([0, 1, 0, 1, 0, 1])
    pool = rng.integers(0, 6, size=50)
    groups = rng.integers(0, 2, size=30)
    retrieved = rng.integers(0, 6, size=(30, 4))
    slow = np.mean([np.mean([assign[r] == g for r in row])
                    - np.mean([assign[p] == g for p in pool])
                    for row, g in zip(retrieved, groups, strict=True)])
    assert stereotype_skew(retrieved, groups, pool, assign) == pytest.approx(slow)
    # retrieval that always names the image group's concepts: skew = 1 - base share
    follow = np.where(groups[:, None] == 0, 0, 1) * np.ones((1, 4), dtype=int)
    base = np.array([np.mean(assign[pool] == g) for g in groups])
    assert stereotype_skew(follow, groups, pool, assign) == pytest.approx(np.mean(1 - base))
    with pytest.raises(ValueError, match="concept ids"):
        stereotype_skew(retrieved + 10, groups, pool, assign)


# --- tasks ------------------------------------------------------------------------------------

def test_balanced_test_world_is_balanced_and_seeded():
    cfg = downstream_config(WorldConfig(), bias=0.9, visibility=0.3, size=100)
    assert cfg.association == 0.9 and cfg.object_visibility == 0.3
    w = balanced_test_world(cfg, per_cell=2, seed=5)
    table = pd.crosstab([w.groups[:, 0], w.concepts[:, 0]], w.contexts)
    assert (table.to_numpy() == 2).all() and len(w) == 2 * 2 * 8 * 4
    assert 0.1 < w.object_shown.mean() < 0.5
    again = balanced_test_world(cfg, per_cell=2, seed=5)
    assert np.array_equal(again.images, w.images)
    st = w.stereotyped()[:, 0]
    assert st.mean() == pytest.approx(0.5)


# --- downstream table -------------------------------------------------------------------------

def test_downstream_table_checks(tmp_path):
    good = pd.DataFrame({"model_id": ["a", "b"], "task": "vqa", "metric": "lic",
                         "attribute": "gender", "value": [0.1, 0.2], "extra": 1})
    out = check_downstream_table(good)
    assert list(out.columns) == ["model_id", "task", "metric", "attribute", "value"]
    with pytest.raises(ValueError, match=r"lacks columns \['attribute'\]"):
        check_downstream_table(good.drop(columns="attribute"))
    with pytest.raises(ValueError, match="non-numeric"):
        check_downstream_table(good.assign(value=["x", 0.2]))
    with pytest.raises(ValueError, match="repeats 1"):
        check_downstream_table(pd.concat([good, good.iloc[:1]]))
    path = tmp_path / "down.csv"
    good.to_csv(path, index=False)
    assert read_downstream_table(path)["value"].tolist() == [0.1, 0.2]
    with pytest.raises(FileNotFoundError, match="columns"):
        read_downstream_table(tmp_path / "missing.csv")


# --- grid regression --------------------------------------------------------------------------

def test_ols_bootstrap_matches_lstsq_and_covers():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": np.repeat([0.0, 0.5, 0.9], 20), "b": np.tile([0.0, 1.0], 30)})
    frame["y"] = 0.3 + 2.0 * frame["a"] + 0.0 * frame["b"] + rng.normal(0, 0.1, size=60)
    fit = ols_bootstrap(frame, y="y", x=["a", "b"], n_boot=300, seed=1).set_index("term")
    design = np.column_stack([np.ones(60), frame[["a", "b"]].to_numpy()])
    beta = np.linalg.lstsq(design, frame["y"].to_numpy(), rcond=None)[0]
    assert np.allclose(fit["estimate"].to_numpy(), beta)
    assert fit.loc["a", "ci_low"] < 2.0 < fit.loc["a", "ci_high"]
    assert fit.loc["b", "ci_low"] < 0.0 < fit.loc["b", "ci_high"]
    again = ols_bootstrap(frame, y="y", x=["a", "b"], n_boot=300, seed=1)
    assert again.equals(fit.reset_index())


def test_ols_bootstrap_coverage():
    """About 95% of intervals cover the true slope over repeated simulated grids."""
    hits = 0
    for rep in range(40):
        rng = np.random.default_rng(100 + rep)
        frame = pd.DataFrame({"a": np.repeat([0.0, 0.5, 1.0], 12)})
        frame["y"] = 1.0 * frame["a"] + rng.normal(0, 0.2, size=36)
        fit = ols_bootstrap(frame, y="y", x=["a"], n_boot=200, seed=rep).set_index("term")
        hits += fit.loc["a", "ci_low"] <= 1.0 <= fit.loc["a", "ci_high"]
    assert 32 <= hits <= 40


def test_ols_bootstrap_singular_design():
    frame = pd.DataFrame({"y": [1.0, 2.0, 3.0, 4.0], "a": [1.0] * 4})
    with pytest.raises(ValueError, match="singular"):
        ols_bootstrap(frame, y="y", x=["a"], n_boot=50)
    with pytest.raises(ValueError, match="columns not in frame"):
        ols_bootstrap(frame, y="y", x=["zz"], n_boot=50)


# --- fine-tuning ------------------------------------------------------------------------------

def test_finetune_lowers_loss_and_is_reproducible():
    from clipbias.interventions.train import TrainConfig, TrainingData, train_tiny_clip

    world = WorldConfig(size=256)
    base = train_tiny_clip("synthetic-vit-s", TrainingData(world, world_seed=0),
                           train=TrainConfig(steps=10, batch_size=32, warmup=2, eval_size=50),
                           seed=0)
    data = TrainingData(downstream_config(world, bias=0.9, visibility=0.3, size=256),
                        world_seed=1)
    tuned = finetune(base.model_id, data, steps=30, batch_size=32, lr=1e-3, seed=0,
                     eval_size=50)
    losses = tuned.metadata["loss_every_10"]
    assert tuned.metadata["final_loss"] < losses[0]
    assert tuned.metadata["init"] == base.metadata["weights_sha256"]  # started from base
    again = finetune(base.model_id, data, steps=30, batch_size=32, lr=1e-3, seed=0,
                     eval_size=50)
    assert again.key == tuned.key
    forced = train_tiny_clip("synthetic-vit-s", data,  # the same fit again, not from cache
                             train=TrainConfig(steps=30, batch_size=32, lr=1e-3, warmup=3,
                                               eval_size=50),
                             seed=0, init=base.model_id, force=True)
    assert forced.metadata["weights_sha256"] == tuned.metadata["weights_sha256"]
    with pytest.raises(ValueError, match="synthetic model id"):
        finetune("ViT-B-32/openai", data)
