"""Bias transfer and representation convergence (Ramos et al. 2025, parts 2 and 3).

Does the bias of a pretrained CLIP predict the bias of a model adapted from it, and do the
representations of different CLIPs converge when adapted? Steps of :func:`run` (every random
choice seeded from ``Params.seed``):

1. ``pretraining``: the global bias of every model of the synthetic zoo ``zoo`` on the shared
   balanced evaluation set (recall-KL@k, MaxSkew@k, NDKL@k;
   :func:`clipbias.metrics.subsets.global_bias`), attribute ``group``, and the EAT effect size d
   of the synthetic battery's ``Concept`` tests (the planted group-concept association; stimuli
   of :func:`clipbias.data.synthetic.eat_specs`, seed step ``"stimuli"``, the zoo chapter's), one
   metric ``eat_<order>`` per modality order (the mean d over the order's tests);
2. ``adapt``: every model adapted on one downstream training world (downstream-data bias
   ``transfer_bias``, objects drawn with probability ``visibility``;
   :mod:`clipbias.interventions.adapt.tasks`): a linear probe for concept classification and a
   projector into a frozen text space (the captions embedded by ``text_model``) for caption
   retrieval; downstream bias measured on a balanced test world (error-rate gap, recall gap,
   stereotype skew of retrieved captions; :mod:`clipbias.interventions.adapt.bias`), or read
   from a user's ``downstream_table``;
3. ``transfer``: Spearman rho across models between pretraining and downstream bias for every
   pretraining metric x task x downstream metric x attribute cell, percentile-bootstrap interval
   over models, Holm-adjusted p;
4. ``convergence``: pairwise linear CKA and mutual k-NN alignment of what a downstream model
   consumes, on the test images: the raw image embeddings (before); projector outputs (after),
   against projectors trained on shuffled targets (control); for ``finetune_models`` models,
   their image towers after full fine-tuning (:func:`clipbias.interventions.adapt.finetune`);
5. ``grid``: the causal experiment: the ``grid_arch`` models of the zoo (pretrained at the planted
   associations of their datasets) adapted on downstream worlds at each of ``grid_levels`` with
   ``grid_seeds`` replicates; downstream bias regressed on both planted levels (OLS, bootstrap
   over runs; :func:`clipbias.interventions.adapt.ols_bootstrap`).

``source="real"`` runs steps 1-4 on open_clip models (``models``, default the 29 scaling-law
CLIPs; ``checkpoints`` for local weights) and real data under ``data_root``: pretraining bias is
the global metrics of the global-vs-local study on its COCO-style set
(:func:`clipbias.studies.global_vs_local.coco_inputs`, attribute ``gender``) and the EAT d of the
battery's ``Gender`` tests on the iEAT/OASIS stimuli (:func:`clipbias.data.battery.battery`; tests
whose images are absent are left out); classification is a linear probe of FairFace's ``label``
(train split) measured on FairFace val, bias ``error_gap`` = |accuracy(female) - accuracy(male)|;
retrieval is a projector into ``text_model``'s caption space trained on one half of the COCO
images (seed step ``"real/coco-split"``) and measured on the other half, bias ``recall_gap`` =
|recall@k(female) - recall@k(male)| and ``gender_word_skew`` (share of retrieved captions naming
only men minus the share naming only women, each in excess of the caption pool's share). The
convergence step compares the COCO test images' raw embeddings and projector outputs. Full
fine-tuning and the causal grid plant their levels in the synthetic world, so they do not run on
real data (empty tables, NaN glue values).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from clipbias.data.adapters import load_fairface
from clipbias.data.adapters.coco import caption_gender
from clipbias.data.battery import battery as real_battery
from clipbias.data.stimulus import ORDERS, EATSpec
from clipbias.data.synthetic import (
    PRETRAINING_DATASETS,
    WorldConfig,
    eat_specs,
    generate_world,
    pretraining_dataset,
    world_manifest,
)
from clipbias.data.synthetic.captions import article
from clipbias.data.synthetic.evaluation import EVAL_DEFAULTS, evaluation_set, evaluation_size
from clipbias.embed.runner import TextSet, run_zoo
from clipbias.interventions.adapt import (
    TASK_METRICS,
    TASKS,
    balanced_test_world,
    downstream_config,
    finetune,
    fit_linear_probe,
    fit_projector,
    ols_bootstrap,
    read_downstream_table,
    stereotype_gap,
    stereotype_skew,
)
from clipbias.interventions.train import TrainingData, train_synthetic_zoo
from clipbias.metrics.eat import effect_size
from clipbias.metrics.multiplicity import holm
from clipbias.metrics.retrieval import recall_at_k, top_k_indices
from clipbias.metrics.similarity import pairwise_linear_cka, pairwise_mutual_knn
from clipbias.metrics.stats import correlation
from clipbias.metrics.subsets import METRICS, global_bias
from clipbias.progress import progress as progress_bar
from clipbias.studies._contract import StudyParams, checkpoint_paths
from clipbias.studies._models import ModelLoader, battery_records, device_for, embed_battery
from clipbias.studies.global_vs_local import coco_inputs
from clipbias.threads import one_thread
from clipbias.zoo import load, select

__all__ = ["EAT_METRICS", "MEASURES", "PRETRAINING_METRICS", "REAL_TASK_METRICS", "SOURCES",
           "STAGES", "Params", "Result", "check_same_inputs", "glue_values", "run"]

#: EAT pretraining metrics: the mean effect size d of the relevant battery tests per order.
EAT_METRICS: tuple[str, ...] = tuple(f"eat_{order}" for order in ORDERS)
#: Pretraining bias metrics (the global metrics of the global-vs-local study, then the EATs).
PRETRAINING_METRICS: tuple[str, ...] = METRICS + EAT_METRICS
#: Data sources: the synthetic zoo and worlds, or open_clip models on FairFace / COCO.
SOURCES: tuple[str, ...] = ("synthetic", "real")
#: Downstream bias metrics of each task on real data (module docstring).
REAL_TASK_METRICS: dict[str, tuple[str, ...]] = {
    "classification": ("error_gap",),
    "retrieval": ("recall_gap", "gender_word_skew"),
}
#: Representation similarity measures.
MEASURES: tuple[str, ...] = ("cka", "mknn")
#: Representations compared: raw image embeddings, projector outputs, shuffled-target projector
#: outputs, and (for the fine-tuned subset) the raw and fine-tuned image towers.
STAGES: tuple[str, ...] = ("before", "projector", "control", "finetune_before", "finetune_after")
_ZOOS = ("ci", "default")
_ATTRIBUTE = "group"
_REAL_ATTRIBUTE = "gender"
_REAL_LABELS = ("age", "race")
#: The battery category whose tests match the planted association (synthetic) or the downstream
#: attribute (real).
_EAT_CATEGORY = {"synthetic": "Concept", "real": "Gender"}


@dataclass(frozen=True)
class Params(StudyParams):
    """Parameters of the bias-transfer chapter (flat, so papermill and profiles can set them)."""

    zoo: str = "ci"  # synthetic zoo profile: "ci" or "default"
    tasks: tuple[str, ...] = ("classification", "retrieval")  # downstream tasks
    metrics: tuple[str, ...] = ()  # downstream bias metrics; empty: every metric of the tasks
    per_cell: int = 20  # evaluation scenes per (group, concept, context) cell (pretraining bias)
    k: int = 100  # list length of MaxSkew@k and NDKL@k (the shared default)
    recall_k: int = 5  # list length of recall@k (pretraining and downstream retrieval)
    train_size: int = 1000  # image-caption pairs of a downstream training world
    test_per_cell: int = 4  # balanced downstream test scenes per (group, concept, context) cell
    visibility: float = 0.3  # probability that a downstream scene draws the concept object
    transfer_bias: float = 0.5  # downstream-data bias of the transfer and convergence steps
    text_model: str = ""  # model whose text tower is the projector's frozen space; empty: first
    probe_hidden: int = 0  # hidden units of the probe and projector (0: linear)
    epochs: int = 150  # full-batch epochs of probes and projectors
    n_boot: int = 200  # bootstrap resamples (Spearman intervals, similarity means, regression)
    knn_k: int = 10  # neighbours of mutual k-NN alignment
    finetune_models: int = 3  # models fine-tuned in full (the first of the zoo's grid_arch ones)
    finetune_steps: int = 30  # steps of full fine-tuning
    grid_arch: str = "synthetic-vit-s"  # architecture of the causal grid's models
    grid_levels: tuple[float, ...] = (0.0, 0.5, 0.9)  # planted downstream-data bias levels
    grid_seeds: int = 2  # replicates (downstream world and head seeds) per grid cell
    grid_tasks: tuple[str, ...] = ("classification",)  # tasks run on the causal grid
    downstream_table: str = ""  # CSV of user-measured downstream bias (replaces step 2's values)
    n_images: int = 24  # images per synthetic EAT image stimulus set (the zoo chapter's)
    source: str = "synthetic"  # "synthetic" (zoo, synthetic worlds) or "real" (FairFace, COCO)
    models: tuple[str, ...] = ()  # real: model ids "ARCH/TAG"; empty: the 29 scaling-law CLIPs
    checkpoints: tuple[str, ...] = ()  # real: weights of your own models, "ARCH/TAG=path"
    data_root: str = ""  # real: folder of fairface/, coco/, ieat/, oasis/; empty: CLIPBIAS_DATA
    label: str = "age"  # real: the FairFace label the probe predicts, "age" or "race"
    device: str = "auto"  # where EAT stimuli and real models embed: "auto" (CUDA if present), "cpu", "cuda"

    def validate(self) -> None:
        """Check the fields; messages say what to change."""
        if self.source not in SOURCES:
            raise ValueError(f"Params: source must be one of {SOURCES}, got {self.source!r}")
        if self.zoo not in _ZOOS:
            raise ValueError(f"Params: zoo must be one of {_ZOOS}, got {self.zoo!r}")
        if self.label not in _REAL_LABELS:
            raise ValueError(f"Params: label must be one of {_REAL_LABELS} (a FairFace label), "
                             f"got {self.label!r}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"Params: device must be 'auto', 'cpu' or 'cuda', got "
                             f"{self.device!r}")
        stray = [mid for mid in checkpoint_paths(self.checkpoints) if mid not in self.models]
        if stray:
            raise ValueError(f"Params: checkpoints name models that models does not list: "
                             f"{stray}; add them to models")
        if self.source == "synthetic" and (self.models or self.checkpoints):
            raise ValueError("Params: models and checkpoints apply to source='real'; the "
                             "synthetic source runs the zoo named by zoo")
        if self.n_images < 2:
            raise ValueError(f"Params: n_images must be >= 2, got {self.n_images}")
        for name in ("tasks", "grid_tasks"):
            bad = [t for t in getattr(self, name) if t not in TASKS]
            if bad or not getattr(self, name):
                raise ValueError(f"Params: {name} must be a non-empty list of tasks from "
                                 f"{TASKS}; unknown: {bad}")
        metrics = TASK_METRICS if self.source == "synthetic" else REAL_TASK_METRICS
        known = [m for t in self.tasks for m in metrics[t]]
        bad = [m for m in self.metrics if m not in known]
        if bad:
            raise ValueError(f"Params: unknown downstream metric(s) {bad} for tasks "
                             f"{list(self.tasks)}; choose from {known}")
        for name in ("per_cell", "k", "recall_k", "test_per_cell", "epochs", "knn_k",
                     "finetune_steps", "grid_seeds"):
            if getattr(self, name) < 1:
                raise ValueError(f"Params: {name} must be >= 1, got {getattr(self, name)}")
        if self.train_size < 100:
            raise ValueError(f"Params: train_size must be >= 100, got {self.train_size}")
        if self.probe_hidden < 0 or self.finetune_models < 0:
            raise ValueError("Params: probe_hidden and finetune_models must be >= 0")
        if self.finetune_models == 1:
            raise ValueError("Params: finetune_models must be 0 (skip) or at least 2 (a pair)")
        if self.n_boot < 20:
            raise ValueError(f"Params: n_boot must be >= 20 for a 95% interval, got "
                             f"{self.n_boot}")
        for name in ("visibility", "transfer_bias"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"Params: {name} must lie in [0, 1], got {getattr(self, name)}")
        levels = self.grid_levels
        if len(levels) < 3 or len(set(levels)) != len(levels) or \
                any(not 0.0 <= v <= 1.0 for v in levels):
            raise ValueError("Params: grid_levels needs at least three distinct values in "
                             f"[0, 1], got {levels!r}")
        if self.source == "real":
            return  # the set sizes are known once the data are read (checked in the run)
        n_test = evaluation_size(WorldConfig(), per_cell=self.test_per_cell)
        if self.recall_k >= n_test or self.knn_k >= n_test:
            raise ValueError(f"Params: recall_k and knn_k must be below the test set size "
                             f"({n_test}); raise test_per_cell")
        if self.k > evaluation_size(WorldConfig(), per_cell=self.per_cell):
            raise ValueError(f"Params: k={self.k} is larger than the evaluation set "
                             f"({evaluation_size(WorldConfig(), per_cell=self.per_cell)} images); lower k or raise per_cell")


@dataclass(frozen=True)
class Result:
    """What :func:`run` computed (tidy tables and the parameters)."""

    params: Params
    models: tuple[str, ...]  # model ids of the transfer step, in zoo order
    pretraining: pd.DataFrame  # model, metric, attribute, value, planted (association)
    downstream: pd.DataFrame  # model, task, metric, attribute, value, accuracy
    transfer: pd.DataFrame  # pretraining_metric, task, metric, attribute, n_models, rho, ci...
    similarity: pd.DataFrame  # measure, stage, model_a, model_b, value (pairs, both orders)
    convergence: pd.DataFrame  # measure, stage, n_models, mean, sd, ci_low, ci_high
    finetuned: pd.DataFrame  # model, finetuned_id, loss_first, loss_last
    grid: pd.DataFrame  # model, pretraining_level, downstream_level, replicate, task, metric...
    regression: pd.DataFrame  # task, metric, term, estimate, ci_low, ci_high, n_runs


def check_same_inputs(item_ids: dict[str, object]) -> None:
    """Raise ``ValueError`` unless every model's representation covers the same inputs in the
    same order (``item_ids``: model id -> sequence of input ids); CKA and mutual k-NN compare
    rows one to one."""
    ids = {m: tuple(str(i) for i in v) for m, v in item_ids.items()}
    first = next(iter(ids.values()), ())
    bad = [m for m, v in ids.items() if v != first]
    if bad:
        raise ValueError(f"the embeddings of {bad} cover different inputs (or another order) "
                         "than the first model's; embed the same manifest with every model")


# --- inputs -----------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class _Worlds:
    evaluation: object
    test: object
    train: dict  # (level, replicate) -> World


def _worlds(params: Params) -> _Worlds:
    base = WorldConfig()
    evaluation = evaluation_set(base, kind="figures", per_cell=params.per_cell,
                                seed=params.seed_for("evaluation"))
    test_cfg = downstream_config(base, bias=0.0, visibility=params.visibility, size=2)
    test = balanced_test_world(test_cfg, per_cell=params.test_per_cell,
                               seed=params.seed_for("downstream/test"))
    keys = {(float(lv), r) for lv in params.grid_levels for r in range(params.grid_seeds)}
    keys.add((float(params.transfer_bias), 0))
    train = {key: generate_world(downstream_config(base, bias=key[0], visibility=params.visibility,
                                                   size=params.train_size),
                                 seed=params.seed_for(f"downstream/train/{key[0]}/{key[1]}"))
             for key in sorted(keys)}
    return _Worlds(evaluation, test, train)


def _world_name(key: tuple[float, int]) -> str:
    return f"train/{key[0]}/{key[1]}"


def _embed(params: Params, models: list[str], grid_models: list[str], text_model: str,
           worlds: _Worlds, progress: bool) -> dict:
    """Every embedding the study reads, through the store: ``out[model][input]``."""
    ev = worlds.evaluation
    names = [f"{article(c.name)} {c.name}" for c in ev.config.concepts]
    transfer_key = (float(params.transfer_bias), 0)
    common = {"evaluation": world_manifest(ev), "captions": TextSet(tuple(ev.captions())),
              "concepts": TextSet(tuple(names), templates=EVAL_DEFAULTS.templates),
              "test": world_manifest(worlds.test),
              _world_name(transfer_key): world_manifest(worlds.train[transfer_key])}
    grid = {_world_name(k): world_manifest(w) for k, w in worlds.train.items()}
    texts = {"test_captions": TextSet(tuple(worlds.test.captions()))}
    texts.update({f"{_world_name(k)}/captions": TextSet(tuple(w.captions()))
                  for k, w in worlds.train.items()})
    out: dict[str, dict[str, np.ndarray]] = {}
    for ids, inputs in ((models, common), (grid_models, grid), ([text_model], texts)):
        run = run_zoo(ids, inputs, progress=progress)
        for m in ids:
            for name in inputs:
                res = run[m, name]
                if not res.valid.all():
                    raise ValueError(f"{m} could not embed {int((~res.valid).sum())} items of "
                                     f"{name}")
                out.setdefault(m, {})[name] = np.asarray(res.embeddings, dtype=np.float64)
    return out


# --- steps ------------------------------------------------------------------------------------

def _pretraining(params: Params, models: list[str], emb: dict, worlds: _Worlds,
                 planted: dict[str, float]) -> pd.DataFrame:
    groups = worlds.evaluation.groups[:, 0]
    frames = []
    for m in models:
        table = global_bias(emb[m]["evaluation"], emb[m]["captions"], groups,
                            concept_emb=emb[m]["concepts"], k=params.k, recall_k=params.recall_k)
        frames.append(table[["metric", "value"]].assign(model=m, attribute=_ATTRIBUTE,
                                                        planted=planted[m]))
    return pd.concat(frames, ignore_index=True)[["model", "metric", "attribute", "value",
                                                 "planted"]]


def _eat(params: Params, models: list[str], specs: list[EATSpec], loader, attribute: str,
         planted: dict[str, float], progress: bool) -> pd.DataFrame:
    """EAT effect size d of every model on ``specs`` (stimuli embedded through the store, one
    load per model), averaged over the tests of one order: rows ``model, metric (eat_<order>),
    attribute, value, planted``."""
    device = device_for(params.device)
    rows = []
    with torch.no_grad():
        for m in progress_bar(models, desc="EAT", unit="model", disable=not progress):
            emb = embed_battery(loader(m, device=device), specs, device)
            for spec, rec in zip(specs, battery_records(m, specs, emb), strict=True):
                rows.append({"model": m, "metric": f"eat_{spec.order}",
                             "value": effect_size(rec.x, rec.y, rec.a, rec.b)})
    table = pd.DataFrame(rows).groupby(["model", "metric"], sort=False)["value"].mean()
    table = table.reset_index()
    return table.assign(attribute=attribute, planted=table["model"].map(planted))[
        ["model", "metric", "attribute", "value", "planted"]]


def _synthetic_specs(params: Params) -> list[EATSpec]:
    """The synthetic battery's tests of the planted association (every zoo dataset shares one
    assignment, so any dataset's config gives the same tests; the zoo chapter's stimuli)."""
    config = next(iter(PRETRAINING_DATASETS.values())).config
    return [s for s in eat_specs(config, seed=params.seed_for("stimuli"),
                                 n_images=params.n_images)
            if s.category == _EAT_CATEGORY["synthetic"]]


def _adapt(params: Params, task: str, features: np.ndarray, world, test_features: np.ndarray,
           text: dict, test, seed: int, outputs: dict | None = None) -> list[dict]:
    """Adapt one model's frozen features for ``task`` on a training world and measure its
    downstream bias on the balanced test world; one record per metric. A retrieval projector's
    outputs on the test images go to ``outputs["projected"]`` when ``outputs`` is given."""
    classes = test.concepts[:, 0]
    stereo = test.stereotyped()[:, 0]
    if task == "classification":
        probe = fit_linear_probe(features, world.concepts[:, 0], hidden=params.probe_hidden,
                                 epochs=params.epochs, seed=seed)
        correct = probe.predict(test_features) == classes
        return [{"task": task, "metric": "error_gap", "accuracy": float(correct.mean()),
                 "value": stereotype_gap(correct, classes, stereo)}]
    projector = fit_projector(features, text["targets"], hidden=params.probe_hidden,
                              epochs=params.epochs, seed=seed)
    projected = projector.transform(test_features).astype(np.float64)
    if outputs is not None:
        outputs["projected"] = projected.copy()
    projected /= np.linalg.norm(projected, axis=1, keepdims=True)
    sim = projected @ text["test"].T
    pool = test.caption_concepts[:, 0]
    hits = recall_at_k(sim, pool[None, :] == classes[:, None], k=params.recall_k)
    top = top_k_indices(sim, k=params.recall_k)
    skew = stereotype_skew(pool[top], test.groups[:, 0], pool, test.config.concept_groups)
    acc = float(hits.mean())
    return [{"task": task, "metric": "recall_gap", "accuracy": acc,
             "value": stereotype_gap(hits, classes, stereo)},
            {"task": task, "metric": "stereotype_skew", "accuracy": acc, "value": skew}]


def _text(emb: dict, text_model: str, key: tuple[float, int]) -> dict:
    return {"targets": emb[text_model][f"{_world_name(key)}/captions"],
            "test": emb[text_model]["test_captions"]}


def _downstream(params: Params, models: list[str], emb: dict, worlds: _Worlds,
                text_model: str, progress: bool) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Downstream bias of every model, and its retrieval projector's test outputs (if run)."""
    key = (float(params.transfer_bias), 0)
    world = worlds.train[key]
    rows, projected = [], {}
    for m in progress_bar(models, desc="adapt", disable=not progress):
        for task in params.tasks:
            seed = params.seed_for(f"adapt/{task}/{m}")
            outputs: dict[str, np.ndarray] = {}
            for rec in _adapt(params, task, emb[m][_world_name(key)], world, emb[m]["test"],
                              _text(emb, text_model, key), worlds.test, seed, outputs):
                rows.append({"model": m, "attribute": _ATTRIBUTE, **rec})
            if "projected" in outputs:
                projected[m] = outputs["projected"]
    out = pd.DataFrame(rows)
    if params.metrics:
        out = out[out["metric"].isin(params.metrics)]
    return out.reset_index(drop=True)[["model", "task", "metric", "attribute", "value",
                                       "accuracy"]], projected


def _user_downstream(params: Params, models: list[str]) -> pd.DataFrame:
    table = read_downstream_table(params.downstream_table).rename(columns={"model_id": "model"})
    unknown = sorted(set(table["model"]) - set(models))
    if unknown:
        raise ValueError(f"the downstream-bias table names models that were not measured: "
                         f"{unknown}; the models are {models}")
    return table.assign(accuracy=np.nan)


def _transfer(params: Params, pre: pd.DataFrame, down: pd.DataFrame) -> pd.DataFrame:
    rows = []
    present = [pm for pm in PRETRAINING_METRICS if pm in set(pre["metric"])]
    for (task, metric, attribute), part in down.groupby(["task", "metric", "attribute"]):
        for pm in present:
            p = pre[(pre["metric"] == pm) & (pre["attribute"] == attribute)]
            merged = part.merge(p[["model", "value"]], on="model", suffixes=("", "_pre"))
            base = {"pretraining_metric": pm, "task": task, "metric": metric,
                    "attribute": attribute, "n_models": len(merged)}
            x, y = merged["value_pre"].to_numpy(), merged["value"].to_numpy()
            if len(merged) < 4 or np.ptp(x) == 0 or np.ptp(y) == 0:
                rows.append({**base, "rho": np.nan, "ci_low": np.nan, "ci_high": np.nan,
                             "p_value": np.nan})
                continue
            res = correlation(x, y, method="spearman", ci="bootstrap", n_bootstrap=params.n_boot,
                              seed=params.seed_for(f"transfer/{pm}/{task}/{metric}"))
            rows.append({**base, "rho": res.estimate, "ci_low": res.ci_low,
                         "ci_high": res.ci_high, "p_value": res.p_value})
    out = pd.DataFrame(rows)
    ok = out["p_value"].notna()
    out["p_holm"] = np.nan
    if ok.any():
        out.loc[ok, "p_holm"] = holm(out.loc[ok, "p_value"].to_numpy())
    return out


def _pairs(measure: str, stage: str, models: list[str], matrix: np.ndarray) -> list[dict]:
    return [{"measure": measure, "stage": stage, "model_a": a, "model_b": b,
             "value": float(matrix[i, j])}
            for i, a in enumerate(models) for j, b in enumerate(models) if i != j]


def _mean_off_diagonal(matrix: np.ndarray, n_boot: int, seed: int) -> tuple[float, float,
                                                                              float, float]:
    """Mean and sd of the off-diagonal entries; percentile interval of the mean over resamples
    of models (pairs of a model with its own copy left out)."""
    m = matrix.shape[0]
    off = ~np.eye(m, dtype=bool)
    rng = np.random.default_rng(seed)
    means = []
    for _ in range(n_boot):
        pick = rng.integers(0, m, size=m)
        sub = matrix[np.ix_(pick, pick)]
        keep = pick[:, None] != pick[None, :]
        if keep.any():
            means.append(sub[keep].mean())
    low, high = np.quantile(means, [0.025, 0.975])
    return float(matrix[off].mean()), float(matrix[off].std(ddof=1)), float(low), float(high)


def _finetune(params: Params, grid_models: list[str], worlds: _Worlds, progress: bool
              ) -> tuple[list[str], list[str], pd.DataFrame]:
    chosen = grid_models[:params.finetune_models]
    key = (float(params.transfer_bias), 0)
    world = worlds.train[key]
    data = TrainingData(world.config, world_seed=world.seed)
    tuned, rows = [], []
    for m in progress_bar(chosen, desc="fine-tune", disable=not progress):
        run = finetune(m, data, steps=params.finetune_steps,
                       seed=params.seed_for("finetune") % (2**31))
        losses = run.metadata["loss_every_10"]
        tuned.append(run.model_id)
        rows.append({"model": m, "finetuned_id": run.model_id, "loss_first": float(losses[0]),
                     "loss_last": float(run.metadata["final_loss"])})
    return chosen, tuned, pd.DataFrame(rows, columns=["model", "finetuned_id", "loss_first",
                                                      "loss_last"])


def _convergence(params: Params, models: list[str], test: dict[str, np.ndarray],
                 train: dict[str, np.ndarray], targets: np.ndarray, chosen: list[str],
                 tuned: list[str], tuned_emb: dict, projected: dict[str, np.ndarray]
                 ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Pairwise similarity of what each model's downstream head consumes on the same test
    inputs: ``test[m]`` (n, d_m) raw image embeddings; projectors fitted on ``train[m]`` to
    ``targets`` (and to shuffled targets, the control); the fine-tuned towers."""
    rng_targets = np.random.default_rng(params.seed_for("control/shuffle"))
    shuffled = targets[rng_targets.permutation(targets.shape[0])]
    reps: dict[str, tuple[list[str], list[np.ndarray]]] = {
        "before": (models, [test[m] for m in models])}
    for stage, goal in (("projector", targets), ("control", shuffled)):
        outs = []
        for m in models:
            if stage == "projector" and m in projected:  # the transfer step's projector
                outs.append(projected[m])
                continue
            proj = fit_projector(train[m], goal, hidden=params.probe_hidden,
                                 epochs=params.epochs, seed=params.seed_for(f"adapt/retrieval/{m}"))
            outs.append(proj.transform(test[m]).astype(np.float64))
        reps[stage] = (models, outs)
    if tuned:
        reps["finetune_before"] = (chosen, [test[m] for m in chosen])
        reps["finetune_after"] = (chosen, [tuned_emb[t] for t in tuned])
    rows, summary = [], []
    for stage, (ids, xs) in reps.items():
        for measure in MEASURES:
            matrix = pairwise_linear_cka(xs) if measure == "cka" else \
                pairwise_mutual_knn(xs, k=params.knn_k)
            rows += _pairs(measure, stage, ids, matrix)
            mean, sd, low, high = _mean_off_diagonal(
                matrix, params.n_boot, params.seed_for(f"convergence/{measure}/{stage}"))
            summary.append({"measure": measure, "stage": stage, "n_models": len(ids),
                            "mean": mean, "sd": sd, "ci_low": low, "ci_high": high})
    return pd.DataFrame(rows), pd.DataFrame(summary)


def _grid(params: Params, grid_models: list[str], emb: dict, worlds: _Worlds, text_model: str,
          planted: dict[str, float], progress: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    runs = [(m, float(lv), r) for m in grid_models for lv in params.grid_levels
            for r in range(params.grid_seeds)]
    rows = []
    for m, level, r in progress_bar(runs, desc="causal grid", disable=not progress):
        key = (level, r)
        for task in params.grid_tasks:
            seed = params.seed_for(f"grid/{task}/{m}/{level}/{r}")
            for rec in _adapt(params, task, emb[m][_world_name(key)], worlds.train[key],
                              emb[m]["test"], _text(emb, text_model, key), worlds.test, seed):
                rows.append({"model": m, "pretraining_level": planted[m],
                             "downstream_level": level, "replicate": r, **rec})
    grid = pd.DataFrame(rows)
    fits = []
    for (task, metric), part in grid.groupby(["task", "metric"], sort=False):
        fit = ols_bootstrap(part, y="value", x=["pretraining_level", "downstream_level"],
                            n_boot=params.n_boot, seed=params.seed_for(f"grid/ols/{metric}"))
        fits.append(fit.assign(task=task, metric=metric))
    cols = ["task", "metric", "term", "estimate", "ci_low", "ci_high", "n_runs"]
    return grid, pd.concat(fits, ignore_index=True)[cols]


def _planted(model_ids: list[str]) -> dict[str, float]:
    """Planted pretraining association of each synthetic zoo model (from its dataset)."""
    out = {}
    for m in model_ids:
        dataset = m.partition("/")[2].rsplit("_s", 1)[0]
        out[m] = float(pretraining_dataset(dataset).config.association)
    return out



def run(params: Params, *, progress: bool = True) -> Result:
    """Run every step (module docstring); reproducible for given ``params`` and cached models."""
    if not isinstance(params, Params):
        raise ValueError(f"run expects bias_transfer.Params, got {type(params).__name__}; "
                         "build it with Params(...) or params_from(Params, globals())")
    with one_thread():
        if params.source == "real":
            return _run_real(params, progress=progress)
        return _run(params, progress=progress)


def _run(params: Params, *, progress: bool) -> Result:
    catalog = train_synthetic_zoo(params.zoo, progress=progress)
    models = catalog["model_id"].tolist()
    grid_models = [m for m in models if m.startswith(params.grid_arch + "/")]
    if len(grid_models) < 2 or len(set(_planted(grid_models).values())) < 2:
        raise ValueError(f"Params: grid_arch {params.grid_arch!r} has too few models in zoo "
                         f"{params.zoo!r} (need two pretraining levels); architectures: "
                         f"{sorted({m.partition('/')[0] for m in models})}")
    if params.finetune_models > len(grid_models):
        raise ValueError(f"Params: finetune_models={params.finetune_models} exceeds the "
                         f"{len(grid_models)} {params.grid_arch} models of zoo {params.zoo!r}")
    text_model = params.text_model or models[0]
    if text_model not in models:
        raise ValueError(f"Params: text_model {text_model!r} is not a model of zoo "
                         f"{params.zoo!r}")
    planted = _planted(models)
    worlds = _worlds(params)
    emb = _embed(params, models, grid_models, text_model, worlds, progress)
    pre = pd.concat([_pretraining(params, models, emb, worlds, planted),
                     _eat(params, models, _synthetic_specs(params), load, _ATTRIBUTE, planted,
                          progress)], ignore_index=True)
    projected: dict[str, np.ndarray] = {}
    if params.downstream_table:
        down = _user_downstream(params, models)
    else:
        down, projected = _downstream(params, models, emb, worlds, text_model, progress)
    transfer = _transfer(params, pre, down)
    chosen, tuned, finetuned = ([], [], pd.DataFrame(columns=["model", "finetuned_id",
                                                              "loss_first", "loss_last"]))
    tuned_emb: dict[str, np.ndarray] = {}
    if params.finetune_models:
        chosen, tuned, finetuned = _finetune(params, grid_models, worlds, progress)
        ft = run_zoo(tuned, {"test": world_manifest(worlds.test)}, progress=progress)
        check_same_inputs({t: ft[t, "test"].item_ids for t in tuned}
                          | {m: worlds.test.table()["item_id"] for m in chosen[:1]})
        tuned_emb = {t: np.asarray(ft[t, "test"].embeddings, dtype=np.float64) for t in tuned}
    key = (float(params.transfer_bias), 0)
    similarity, convergence = _convergence(
        params, models, {m: emb[m]["test"] for m in models},
        {m: emb[m][_world_name(key)] for m in models}, _text(emb, text_model, key)["targets"],
        chosen, tuned, tuned_emb, projected)
    grid, regression = _grid(params, grid_models, emb, worlds, text_model, planted, progress)
    return Result(params=params, models=tuple(models), pretraining=pre, downstream=down,
                  transfer=transfer, similarity=similarity, convergence=convergence,
                  finetuned=finetuned, grid=grid, regression=regression)


# --- the real-data path -------------------------------------------------------------------------

_WORD_GENDERS = ("female", "male", "both", "none")  # caption_gender labels, coded 0..3
_EMPTY = {"finetuned": ["model", "finetuned_id", "loss_first", "loss_last"],
          "grid": ["model", "pretraining_level", "downstream_level", "replicate", "task",
                   "metric", "accuracy", "value"],
          "regression": ["task", "metric", "term", "estimate", "ci_low", "ci_high", "n_runs"]}


@dataclass(frozen=True, eq=False)
class _RealData:
    inputs: dict  # run_zoo inputs: COCO images, captions, concepts; FairFace train and val
    coco_groups: np.ndarray  # (n,) "female"/"male" of each COCO image
    coco_words: np.ndarray  # (n,) caption_gender code of each image's caption
    train: pd.DataFrame  # FairFace train rows (gender, label)
    val: pd.DataFrame  # FairFace val rows


def _real_data(params: Params) -> _RealData:
    """The real inputs (missing folders raise DatasetNotFoundError saying what to fetch)."""
    root = params.data_root
    fairface = load_fairface(f"{root}/fairface" if root else None)
    table = fairface.table
    both = table["gender"].isin(("female", "male")).to_numpy()
    train = fairface.subset(both & (table["split"] == "train").to_numpy())
    val = fairface.subset(both & (table["split"] == "val").to_numpy())
    for name, part in (("train", train), ("val", val)):
        if part.table["gender"].nunique() < 2:
            raise ValueError(f"FairFace {name} needs faces of both genders, got "
                             f"{part.table['gender'].unique().tolist()}")
    if train.table[params.label].nunique() < 2:
        raise ValueError(f"FairFace train has fewer than two {params.label!r} classes")
    coco_table, coco = coco_inputs(f"{root}/coco" if root else "")
    words = [_WORD_GENDERS.index(caption_gender(c)) for c in coco["captions"].texts]
    inputs = {"evaluation": coco["images"], "captions": coco["captions"],
              "concepts": coco["concepts"], "fairface_train": train, "fairface_val": val}
    return _RealData(inputs, coco_table["group"].to_numpy(), np.asarray(words), train.table,
                     val.table)


def _split_coco(params: Params, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Train and test rows of the COCO images: half of each gender's images (rounded down) to
    the test side, drawn without replacement (seeded), so both sides hold both genders."""
    rng = np.random.default_rng(params.seed_for("real/coco-split"))
    test = np.concatenate([rng.permutation(np.flatnonzero(groups == g))[:(groups == g).sum() // 2]
                           for g in np.unique(groups)])
    return np.setdiff1d(np.arange(len(groups)), test), np.sort(test)


def _real_downstream(params: Params, models: list[str], emb: dict, data: _RealData,
                     text_model: str, progress: bool
                     ) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Downstream bias of every model on real data (module docstring) and its retrieval
    projector's outputs on the COCO test images."""
    train, test = _split_coco(params, data.coco_groups)
    female_val = (data.val["gender"] == "female").to_numpy()
    female_test = data.coco_groups[test] == "female"
    targets = emb[text_model]["captions"]
    pool = targets[test] / np.linalg.norm(targets[test], axis=1, keepdims=True)
    words = data.coco_words[test]
    rows, projected = [], {}
    for m in progress_bar(models, desc="adapt", disable=not progress):
        if "classification" in params.tasks:
            probe = fit_linear_probe(emb[m]["fairface_train"], data.train[params.label],
                                     hidden=params.probe_hidden, epochs=params.epochs,
                                     seed=params.seed_for(f"adapt/classification/{m}"))
            correct = probe.predict(emb[m]["fairface_val"]) == data.val[params.label].to_numpy()
            gap = stereotype_gap(correct, np.zeros(len(correct)), female_val)
            rows.append({"model": m, "task": "classification", "metric": "error_gap",
                         "value": abs(gap), "accuracy": float(correct.mean())})
        if "retrieval" in params.tasks:
            proj = fit_projector(emb[m]["evaluation"][train], targets[train],
                                 hidden=params.probe_hidden, epochs=params.epochs,
                                 seed=params.seed_for(f"adapt/retrieval/{m}"))
            out = proj.transform(emb[m]["evaluation"][test]).astype(np.float64)
            projected[m] = out.copy()
            sim = (out / np.linalg.norm(out, axis=1, keepdims=True)) @ pool.T
            hits = recall_at_k(sim, np.arange(len(test)), k=params.recall_k)
            top = words[top_k_indices(sim, k=params.recall_k)]
            codes = np.arange(len(_WORD_GENDERS))
            skew = {g: stereotype_skew(top, np.full(len(test), _WORD_GENDERS.index(g)), words,
                                       codes) for g in ("female", "male")}
            acc = float(hits.mean())
            rows += [{"model": m, "task": "retrieval", "metric": "recall_gap", "accuracy": acc,
                      "value": abs(stereotype_gap(hits, np.zeros(len(hits)), female_test))},
                     {"model": m, "task": "retrieval", "metric": "gender_word_skew",
                      "accuracy": acc, "value": skew["male"] - skew["female"]}]
    out = pd.DataFrame(rows).assign(attribute=_REAL_ATTRIBUTE)
    if params.metrics:
        out = out[out["metric"].isin(params.metrics)]
    return out.reset_index(drop=True)[["model", "task", "metric", "attribute", "value",
                                       "accuracy"]], projected


def _run_real(params: Params, *, progress: bool) -> Result:
    models = list(params.models) if params.models else select("scaling_laws")
    if len(set(models)) != len(models):
        raise ValueError(f"Params: models lists a model twice: {models}")
    text_model = params.text_model or models[0]
    if text_model not in models:
        raise ValueError(f"Params: text_model {text_model!r} is not among the models")
    loader = ModelLoader(checkpoint_paths(params.checkpoints))
    loader(models[0], device="cpu")  # missing weights fail here, in seconds
    data = _real_data(params)
    device = device_for(params.device)
    run = run_zoo(models, data.inputs, loader=loader, device=device, progress=progress)
    emb: dict[str, dict[str, np.ndarray]] = {}
    for m in models:
        for name in data.inputs:
            res = run[m, name]
            if not res.valid.all():
                raise ValueError(f"{m} could not embed {int((~res.valid).sum())} items of {name}")
            emb.setdefault(m, {})[name] = np.asarray(res.embeddings, dtype=np.float64)
    n = len(data.coco_groups)
    train, test = _split_coco(params, data.coco_groups)
    if params.k > n or max(params.recall_k, params.knn_k) >= len(test):
        raise ValueError(f"Params: k={params.k} must be at most the {n} COCO images, and "
                         f"recall_k={params.recall_k} and knn_k={params.knn_k} below the "
                         f"{len(test)} COCO test images; lower them or use a larger COCO-style "
                         "set")
    planted = dict.fromkeys(models, float("nan"))
    frames = []
    for m in models:
        table = global_bias(emb[m]["evaluation"], emb[m]["captions"], data.coco_groups,
                            concept_emb=emb[m]["concepts"], k=params.k, recall_k=params.recall_k)
        frames.append(table[["metric", "value"]].assign(model=m, attribute=_REAL_ATTRIBUTE,
                                                        planted=np.nan))
    specs = real_battery(data_root=params.data_root or None,
                         categories=[_EAT_CATEGORY["real"]], skip_missing=True)
    frames.append(_eat(params, models, specs, loader, _REAL_ATTRIBUTE, planted, progress))
    pre = pd.concat(frames, ignore_index=True)[["model", "metric", "attribute", "value",
                                                "planted"]]
    projected: dict[str, np.ndarray] = {}
    if params.downstream_table:
        down = _user_downstream(params, models)
    else:
        down, projected = _real_downstream(params, models, emb, data, text_model, progress)
    similarity, convergence = _convergence(
        params, models, {m: emb[m]["evaluation"][test] for m in models},
        {m: emb[m]["evaluation"][train] for m in models}, emb[text_model]["captions"][train],
        [], [], {}, projected)
    empty = {name: pd.DataFrame(columns=cols) for name, cols in _EMPTY.items()}
    return Result(params=params, models=tuple(models), pretraining=pre, downstream=down,
                  transfer=_transfer(params, pre, down), similarity=similarity,
                  convergence=convergence, **empty)


def glue_values(result: Result) -> dict[str, float | int | str]:
    """Every number the chapter's prose cites, by glue key.

    Transfer: ``n_models`` (models adapted), ``n_cells`` (pretraining metric x task x downstream
    metric x attribute cells with a Spearman rho), ``share_cells_significant`` (share of them
    with Holm-adjusted p < 0.05), ``spearman_median``, ``spearman_min``, ``spearman_max`` (of
    rho over cells); ``n_cells_eat`` and ``spearman_median_eat`` (the same over the cells whose
    pretraining metric is an EAT effect size).
    Convergence, mean over model pairs of the test images' representations: ``cka_mean_before``
    and ``mknn_mean_before`` (raw image embeddings), ``cka_mean_after`` and ``mknn_mean_after``
    (projector outputs), ``cka_mean_control`` and ``mknn_mean_control`` (projectors trained on
    shuffled targets), ``cka_excess_over_control`` (after minus control), ``cka_sd_before`` and
    ``cka_sd_after`` (spread over pairs), ``cka_finetune_before`` and ``cka_finetune_after``
    (the fine-tuned subset before and after full fine-tuning; NaN when none),
    ``n_finetuned``; ``finetune_loss_drop`` (mean first minus last training loss).
    Causal grid (downstream bias = the classification error gap when the grid ran it, else the
    first task's first metric): ``slope_downstream_data`` and ``slope_pretraining`` (OLS slopes
    per unit of planted level) with their 95% bootstrap intervals ``slope_downstream_data_ci_low``,
    ``slope_downstream_data_ci_high``, ``slope_pretraining_ci_low`` and
    ``slope_pretraining_ci_high``; ``grid_runs`` (runs), ``grid_metric`` (the outcome's name).
    On real data the grid does not run: the slopes are NaN, ``grid_runs`` 0, ``grid_metric``
    ``"none"``.
    Context: ``downstream_accuracy`` (mean probe accuracy on the balanced test world, NaN with a
    user table), ``visibility``, ``transfer_bias``.
    """
    t = result.transfer.dropna(subset=["rho"])
    conv = result.convergence.set_index(["measure", "stage"])

    def c(measure: str, stage: str, col: str = "mean") -> float:
        return float(conv.loc[(measure, stage), col]) if (measure, stage) in conv.index \
            else float("nan")

    reg = result.regression
    pick = reg[(reg["metric"] == "error_gap")]
    if pick.empty and len(reg):
        first = reg.iloc[0]
        pick = reg[(reg["task"] == first["task"]) & (reg["metric"] == first["metric"])]
    terms = pick.set_index("term")
    eat = t[t["pretraining_metric"].isin(EAT_METRICS)]
    out: dict[str, float | int | str] = {
        "n_models": len(result.models),
        "n_cells": len(t),
        "share_cells_significant": float((t["p_holm"] < 0.05).mean()) if len(t) else float("nan"),
        "spearman_median": float(t["rho"].median()) if len(t) else float("nan"),
        "spearman_min": float(t["rho"].min()) if len(t) else float("nan"),
        "spearman_max": float(t["rho"].max()) if len(t) else float("nan"),
        "n_cells_eat": len(eat),
        "spearman_median_eat": float(eat["rho"].median()) if len(eat) else float("nan"),
        "cka_mean_before": c("cka", "before"), "cka_mean_after": c("cka", "projector"),
        "cka_mean_control": c("cka", "control"),
        "cka_excess_over_control": c("cka", "projector") - c("cka", "control"),
        "cka_sd_before": c("cka", "before", "sd"), "cka_sd_after": c("cka", "projector", "sd"),
        "mknn_mean_before": c("mknn", "before"), "mknn_mean_after": c("mknn", "projector"),
        "mknn_mean_control": c("mknn", "control"),
        "cka_finetune_before": c("cka", "finetune_before"),
        "cka_finetune_after": c("cka", "finetune_after"),
        "n_finetuned": len(result.finetuned),
        "finetune_loss_drop": float((result.finetuned["loss_first"]
                                     - result.finetuned["loss_last"]).mean())
        if len(result.finetuned) else float("nan"),
        "grid_runs": int(terms["n_runs"].iloc[0]) if len(terms) else 0,
        "grid_metric": str(pick["metric"].iloc[0]) if len(pick) else "none",
        "downstream_accuracy": float(result.downstream.loc[
            result.downstream["task"] == "classification", "accuracy"].mean()),
        "visibility": result.params.visibility,
        "transfer_bias": result.params.transfer_bias,
    }
    for name, term in (("slope_downstream_data", "downstream_level"),
                       ("slope_pretraining", "pretraining_level")):
        for suffix, col in (("", "estimate"), ("_ci_low", "ci_low"), ("_ci_high", "ci_high")):
            out[f"{name}{suffix}"] = float(terms.loc[term, col]) if term in terms.index \
                else float("nan")
    return out
