"""Tests of the data-balancing study: the ci chapter's glued planted truth, the annotation table,
the benchmark reader, bad parameters, the chart builders, bias over training, and the real path
on the real-path fixture (M4 on COCO-style captions, open_clip fine-tuning)."""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
from open_clip.loss import ClipLoss
from PIL import Image

from clipbias.data.adapters.base import DatasetNotFoundError
from clipbias.data.synthetic import WorldConfig, generate_world
from clipbias.interventions.train.contrastive import finetune_open_clip, state_digest
from clipbias.interventions.train.loop import learning_rate
from clipbias.publish import load_profile
from clipbias.studies import data_balancing
from clipbias.viz import balancing as charts
from clipbias.zoo import WeightsUnavailableError, load
from clipbias.zoo.train_config import TrainConfig
from realpath import write_fixture_profile


@pytest.fixture(scope="module")
def glued(ci_glued):
    return ci_glued("data_balancing")


def test_ci_m4_meets_every_tolerance(glued):
    """The planted imbalance shows in the training table and M4 removes it (both runs)."""
    assert glued["violation_before_max"] > 0.05
    assert glued["violation_after_max"] == 0.0
    assert glued["violation_proxies_after"] == 0.0
    assert glued["m4_within_tolerance"] == 1
    assert 0.0 < glued["max_feasible_keep_rate"] < 1.0
    assert glued["keep_rate"] <= glued["max_feasible_keep_rate"]


def test_ci_balanced_training_lowers_association_bias(glued):
    """The planted association: positive unbalanced, lower with balanced training, beyond the
    noise of the paired signed-rank test."""
    assert glued["assoc_bias_unbalanced"] > 0.0
    assert glued["assoc_bias_balanced"] < glued["assoc_bias_unbalanced"]
    assert glued["wilcoxon_p_assoc"] < 0.05
    assert glued["wilcoxon_min_p"] == pytest.approx(0.5 ** glued["wilcoxon_n"])


def test_ci_benchmark_seconds_read_from_results(glued):
    seconds, finished = data_balancing.m4_seconds_10m()
    assert glued["m4_10m_finished"] == int(finished)
    if math.isnan(seconds):
        assert math.isnan(glued["m4_seconds_10m"])
    else:
        assert glued["m4_seconds_10m"] == pytest.approx(seconds)


def test_annotation_table_matches_loop():
    world = generate_world(WorldConfig(size=60, neutral_share=0.3), seed=4)
    s, y, z = data_balancing.annotation_table(world)
    for i in range(len(world)):
        g, c = world.groups[i, 0], world.caption_concepts[i, 0]
        assert s[i].tolist() == [int(g == k) for k in range(2)]
        assert y[i].tolist() == [int(c == k) for k in range(world.config.n_concepts)]
        assert z[i].tolist() == [int(world.contexts[i] == k) for k in range(4)]
    assert (s.sum(axis=1) == 0).sum() == (world.groups[:, 0] < 0).sum() > 0


def test_m4_seconds_reader(tmp_path):
    path = tmp_path / "results.json"
    assert math.isnan(data_balancing.m4_seconds_10m(path)[0])
    path.write_text(json.dumps({"m4": {"big": {"n": 10_000_000, "m4_s": 41.5}}}))
    assert data_balancing.m4_seconds_10m(path) == (41.5, True)
    path.write_text(json.dumps({"m4": {"big": {"n": 10_000_000, "finished": False,
                                               "stopped_after_wall_s": 1500}}}))
    assert data_balancing.m4_seconds_10m(path) == (1500.0, False)
    path.write_text(json.dumps({"m4": {"big": {"n": 1_000_000, "m4_s": 4.0}}}))
    assert math.isnan(data_balancing.m4_seconds_10m(path)[0])


@pytest.mark.parametrize("bad", [
    {"keep_rate": 0.0}, {"keep_rate": 1.5}, {"keep_rates": (0.5, 1.2)},
    {"eps_association": -0.1}, {"switch_points": (0.1, 0.9)}, {"switch_points": (0.0, 1.0)},
    {"model_seeds": 0}, {"association": 2.0}, {"trace_points": 0}, {"trace_per_cell": 0},
    {"source": "real", "model_id": ""}, {"source": "real", "holdout": 1.0},
    {"source": "real", "real_keep_rate": 0.0}, {"source": "other"},
])
def test_bad_params(bad):
    with pytest.raises(ValueError):
        data_balancing.Params(**bad)


def test_infeasible_keep_rate_stops_with_message():
    params = data_balancing.Params(world_size=400, keep_rate=1.0)
    with pytest.raises(ValueError, match="infeasible at keep_rate"):
        data_balancing.run(params, progress=False)


def test_findings_verdicts():
    models = pd.DataFrame({
        "condition": ["unbalanced"] * 3 + ["balanced"] * 3, "replicate": [0, 1, 2] * 2,
        "assoc_bias": [0.5, 0.6, 0.55, 0.1, 0.12, 0.08], "rep_bias": [0.6] * 3 + [0.6] * 3,
        "zero_shot": [0.5, 0.6, 0.7, 0.6, 0.5, 0.7], "recall": [0.3] * 6})
    params = data_balancing.Params(switch_points=(0.0,), with_proxies=False)
    table = data_balancing._findings(params, models).set_index("metric")
    assert table.loc["assoc_bias", "verdict"] == "agrees"
    assert table.loc["assoc_bias", "measured"] == pytest.approx(0.45)
    assert np.isnan(table.loc["rep_bias", "ci_low"]) or table.loc["rep_bias", "verdict"] != \
        "agrees"


def test_chart_specs():
    data_bias = pd.DataFrame({"label": ["(all)", "chef"], "before": [0.1, 0.05],
                              "after": [0.0, 0.01], "realised_mean": [0.002, 0.009]})
    spec = charts.data_bias_chart(data_bias, eps=0.01).to_dict()
    assert spec["width"] == "container" and len(spec["layer"]) == 2
    sweep = pd.DataFrame({"keep_rate": [0.3, 0.9], "violation": [0.0, 0.05],
                          "feasible": [True, False]})
    spec = charts.keep_rate_chart(sweep).to_dict()
    assert spec["layer"][1]["encoding"]["x"]["field"] == "keep_rate"
    summary = pd.DataFrame({"condition": ["unbalanced", "balanced"] * 2,
                            "metric": ["rep_bias"] * 2 + ["assoc_bias"] * 2,
                            "mean": [0.6, 0.5, 0.3, 0.0], "ci_low": [0.5, 0.4, 0.2, -0.1],
                            "ci_high": [0.7, 0.6, 0.4, 0.1]})
    spec = charts.switch_chart(summary).to_dict()
    assert "facet" in spec
    with pytest.raises(ValueError, match="no rows"):
        charts.switch_chart(summary, metrics=("zero_shot",))
    models = pd.DataFrame({"condition": ["unbalanced", "balanced"], "replicate": [0, 0],
                           "zero_shot": [0.5, 0.6], "assoc_bias": [0.3, 0.0]})
    spec = charts.quality_bias_chart(models).to_dict()
    assert spec["encoding"]["y"]["field"] == "assoc_bias"
    trace = pd.DataFrame({"condition": ["unbalanced"] * 2, "switch": [0.0] * 2, "step": [0, 10],
                          "fraction": [0.0, 1.0], "metric": ["rep_bias", "assoc_bias"],
                          "mean": [0.5, 0.2], "ci_low": [-2.0, -1.5], "ci_high": [3.0, 0.4]})
    spec = charts.trace_chart(trace).to_dict()
    values = next(iter(spec["datasets"].values()))
    bands = {v["metric"]: (v["ci_low"], v["ci_high"]) for v in values}
    assert bands == {"rep_bias": (0.0, 1.0), "assoc_bias": (-1.0, 0.4)}


def test_cached_id_matches_training():
    """The cache look-up computes the checkpoint key train_tiny_clip uses, for a switch job."""
    world = WorldConfig(size=64)
    weights = np.r_[np.ones(32), np.zeros(32)]
    job = ("synthetic-vit-s", world, 5, weights, 0.5, 20, 11, (0, 10))
    assert data_balancing._cached_id(*job) is None
    ids = data_balancing._train_job(*job)
    assert set(ids) == {0, 10, 20}
    assert data_balancing._cached_id(*job) == ids
    assert data_balancing._cached_id(*job[:4], 0.0, *job[5:]) is None
    assert data_balancing._cached_id(*job[:7], (0, 5)) is None  # a snapshot not saved


def test_trace_steps():
    params = data_balancing.Params(train_steps=150, trace_points=4, switch_points=(0.0, 0.1, 0.9))
    expected = set()
    for i in range(5):
        expected.add(round(150 * i / 4))
    expected |= {0, 15, 135}
    assert data_balancing.trace_steps(params) == sorted(expected)
    assert data_balancing.trace_steps(params)[-1] == 150


def _lr_share(step: int, *, steps: int, warmup: int) -> float:
    """Reference: linear warm-up over ``warmup`` steps, then half a cosine to 0."""
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1 + math.cos(math.pi * (step - warmup) / (steps - warmup)))


def test_trace_over_training():
    """A tiny run: the trace's last step is the trained models' table, a switch run equals the
    unbalanced run of its seed up to its switch step (the same weights, measured once), every
    condition of a seed starts from the same weights, and the summary counts the seeds."""
    params = data_balancing.Params(world_size=300, train_steps=24, model_seeds=2,
                                   switch_points=(0.0, 0.9), with_proxies=False, trace_points=4,
                                   per_cell=1, trace_per_cell=1, keep_rate=0.3, keep_rates=(0.3,), realised_draws=2)
    res = data_balancing.run(params, progress=False)
    trace = res.trace.set_index(["condition", "replicate", "step"])
    steps = [0, 6, 12, 18, 22, 24]
    assert sorted(set(res.trace["step"])) == steps
    metrics = ["rep_bias", "assoc_bias", "zero_shot", "recall"]
    final = trace.xs(24, level="step")[metrics]
    models = res.models.set_index(["condition", "replicate"])[metrics]
    pd.testing.assert_frame_equal(final.sort_index(), models.sort_index())
    for r in range(2):
        for step in steps:
            un = trace.loc[("unbalanced", r, step)]
            late = trace.loc[("balanced from 90%", r, step)]
            assert (un["weights"] == late["weights"]) == (step <= 22)
        assert trace.loc[("balanced", r, 0), "weights"] == trace.loc[("unbalanced", r, 0),
                                                                     "weights"]
    assert res.trace["weights"].nunique() == 3 * 2 * 6 - 2 * 2 - 2 * 4
    summary = res.trace_summary
    assert set(summary["n"]) == {2}
    row = summary[(summary["condition"] == "balanced") & (summary["step"] == 6)
                  & (summary["metric"] == "assoc_bias")].iloc[0]
    values = trace.xs(("balanced", 6), level=("condition", "step"))["assoc_bias"]
    assert row["mean"] == pytest.approx(values.mean())
    glued = data_balancing.glue_values(res)
    assert glued["late_switch_lr_share"] == pytest.approx(_lr_share(22, steps=24, warmup=20))
    at_switch = trace.xs(("balanced from 90%", 22), level=("condition", "step"))
    assert glued["assoc_bias_late_at_switch"] == pytest.approx(at_switch["assoc_bias"].mean())
    at_end = trace.xs(("balanced from 90%", 24), level=("condition", "step"))
    assert glued["rep_bias_late_at_end"] == pytest.approx(at_end["rep_bias"].mean())
    assert glued["trace_models"] == 24
    spec = charts.trace_chart(res.trace_summary).to_dict()
    assert "facet" in spec and len(spec["spec"]["layer"]) == 3
    with pytest.raises(ValueError, match="no rows"):
        charts.trace_chart(res.trace_summary, metrics=("nothing",))


# --- the real path ----------------------------------------------------------------------------

def test_caption_annotation_table():
    frame = pd.DataFrame({"gender": ["female", "male", "both", "none"],
                          "occupations": ['["nurse"]', '[]', '["doctor", "nurse"]', '["chef"]']})
    s, y = data_balancing.caption_annotation_table(frame, ("doctor", "nurse"))
    assert s.tolist() == [[1, 0], [0, 1], [1, 1], [0, 0]]
    assert y.tolist() == [[0, 1], [0, 0], [1, 1], [0, 0]]
    with pytest.raises(ValueError, match="occupations"):
        data_balancing.caption_annotation_table(frame[["gender"]], ("nurse",))
    vocab = data_balancing.real_vocabulary()
    assert len(vocab) == len(set(vocab)) and {"nurse", "librarian", "police officer"} <= set(vocab)


def _fixture_params(real_path, monkeypatch, tmp_path, **extra):
    for name, value in real_path.environ().items():
        monkeypatch.setenv(name, value)
    fixture = real_path.parameters()
    entry = {"source": "real", "model_id": fixture["model_id"],
             "checkpoint": fixture["checkpoint"], "data_root": fixture["data_root"],
             "holdout": 0.34, "real_keep_rate": 0.5, "real_eps": 0.05, "finetune_steps": 3,
             "finetune_batch": 8, "finetune_lr": 1e-4, "device": "cpu", "recall_k": 2, **extra}
    profile = write_fixture_profile(real_path, {"data_balancing": entry},
                                    path=tmp_path / "fixture.yaml")
    return data_balancing.Params(**load_profile(profile)["data_balancing"])


def test_real_path_runs_on_the_fixture(real_path, monkeypatch, tmp_path):
    """M4 on the fixture's COCO captions and fine-tuning of its open_clip model: sizes, the
    annotation read back from the caption file, M4 within tolerance, three distinct models."""
    params = _fixture_params(real_path, monkeypatch, tmp_path)
    res = data_balancing.run_real(params, progress=False)
    notes = json.loads((real_path.data_root / "coco" / "annotations" /
                        "captions_val2017.json").read_text())
    n = len(notes["images"])
    held = max(2, round(0.34 * n))
    assert res.sizes["images"] == n and res.sizes["holdout_images"] == held
    assert res.sizes["train_images"] == n - held
    per_image = len(notes["annotations"]) // n
    assert res.sizes["train_pairs"] == per_image * (n - held)
    assert res.sizes["kept_pairs"] == per_image * res.sizes["kept_images"]
    words = {w for a in notes["annotations"] for w in a["caption"].lower().rstrip(".").split()}
    assert set(res.labels) <= words and res.labels
    assert res.balance.feasible and res.balance.violation_after == 0.0
    assert (res.data_bias["after"].abs() <= 0.05 + 1e-9).all()
    models = res.models.set_index("model")
    assert list(models.index) == ["base", "unbalanced", "balanced"]
    assert models.loc["base", "model_id"] == params.model_id
    assert models["model_id"].nunique() == 3
    assert (models["n_neutral"] == 0).all() and models["rep_bias"].isna().all()  # every
    # fixture caption names a woman or a man
    assert (models["n_gendered"] == held).all()
    for metric in ("assoc_bias", "recall"):
        assert models[metric].between(-1, 1).all()
    assert len(res.pair_gaps) == 3 * 5


def test_real_path_without_data_stops_before_training(real_path, monkeypatch, tmp_path):
    params = _fixture_params(real_path, monkeypatch, tmp_path, data_root=str(tmp_path / "none"))
    with pytest.raises(DatasetNotFoundError):
        data_balancing.run(params, progress=False)


def test_full_profile_without_weights_stops_with_how_to_provide_them():
    entry = load_profile("notebooks/profiles/full.yaml")["data_balancing"]
    assert entry["source"] == "real"
    with pytest.raises(WeightsUnavailableError, match="checkpoint="):
        data_balancing.run(data_balancing.Params(**entry), progress=False)


def test_finetune_one_step_matches_a_plain_adamw_step(real_path, tmp_path):
    """With the batch holding every pair, one step does not depend on the batch order: compare
    with AdamW written out here on the same loss; the input model is left unchanged."""
    fixture = real_path.parameters()
    base = load(fixture["model_id"], checkpoint=fixture["checkpoint"])
    world = generate_world(WorldConfig(size=6), seed=2)
    paths = []
    for i in range(6):
        paths.append(tmp_path / f"{i}.png")
        Image.fromarray(world.images[i]).save(paths[-1])
    captions = world.captions()
    cfg = TrainConfig(steps=1, batch_size=16, lr=1e-3, warmup=1)
    before = state_digest(base.model)
    tuned = finetune_open_clip(base, paths, captions, train=cfg, seed=3)
    assert state_digest(base.model) == before != tuned.weights_digest
    assert tuned.weights_digest == state_digest(tuned.model)
    ref = copy.deepcopy(base.model).train()
    decay = [p for name, p in ref.named_parameters()
             if p.ndim >= 2 and "logit_scale" not in name and "embedding" not in name]
    rest = [p for p in ref.parameters() if all(p is not q for q in decay)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": rest, "weight_decay": 0.0}],
                            lr=learning_rate(0, cfg), betas=(0.9, 0.98), eps=1e-6)
    pixels = torch.stack([base.preprocess(Image.open(p).convert("RGB")) for p in paths])
    image_f, text_f, scale = ref(pixels, base.tokenizer(captions))[:3]
    ClipLoss()(image_f, text_f, scale).backward()
    opt.step()
    # Adam's first step is lr * g / (|g| + eps): a gradient that is zero up to rounding (e.g. the
    # attention's key bias) may flip sign with the batch order, so compare elementwise for
    # almost every weight and the loss after the step exactly
    got = tuned.model.state_dict()
    close = sum(int(torch.isclose(got[name], value, atol=1e-6).sum())
                for name, value in ref.state_dict().items())
    assert close / sum(v.numel() for v in got.values()) > 0.99

    def loss(net):
        with torch.no_grad():
            return ClipLoss()(*net.eval()(pixels, base.tokenizer(captions))[:3]).item()

    assert loss(tuned.model) == pytest.approx(loss(ref), rel=1e-5)
    assert loss(tuned.model) != pytest.approx(loss(copy.deepcopy(base.model)), rel=1e-5)
    start = base.model.state_dict()
    assert any(not torch.equal(got[name], start[name]) for name in start)
    with pytest.raises(ValueError, match="pair up"):
        finetune_open_clip(base, paths, captions[:3], train=cfg)
