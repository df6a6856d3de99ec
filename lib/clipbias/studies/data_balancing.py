"""Data balancing with M4 (Alabdulmohsin et al., ICLR 2024) on the synthetic world.

Steps (each random step has its own seed from :meth:`Params.seed_for`):

1. **Data-level bias.** A training world with a planted group-concept association, an
   over-represented group 0, a group-context correlation (the proxy) and neutral scenes
   (``"world"``). Its annotation table: ``s`` (n, 2) one-hot group of the figure (zeros in a
   neutral scene), ``y`` (n, C) one-hot concept named by the caption, ``z`` (n, X) one-hot
   context. :func:`clipbias.interventions.balance.m4` balances it at ``keep_rate``
   (``"m4"``), with and without the contexts as proxies; the subset each model trains on is one
   seeded Poisson draw with the keep probabilities (``"subset"``, ``"subset-proxies"``), and
   ``realised_draws`` further draws (``"realised"``) give the sampling spread of the drawn
   statistics. A sweep of keep rates gives the largest satisfiable one.
2. **Training.** Tiny CLIPs (``model_seeds`` seeds each, seed ``"model/<r>"``) on the unbalanced
   world; on the balanced subset from step ``round(switch * steps)`` on for every switch point
   (0: balanced throughout); with proxies, balanced throughout. Checkpoints are cached, and so
   are the weights at ``trace_points + 1`` evenly spaced steps and at every switch step
   (:func:`trace_steps`; the training loop's ``snapshots``).
3. **Model bias and quality** on the shared evaluation set (``"evaluation"``) of every model at
   every traced step (``"trace"``; the last step is the trained model, ``"models"``):
   representation bias on neutral scenes (share preferring group 0's prompt over group 1's;
   0.5 is unbiased), association bias on object-free figures (mean over concept pairs (a
   stereotyped for group 0, b for group 1) of P(prefer a | group 0) - P(prefer a | group 1)),
   zero-shot concept accuracy and caption-to-image recall@k on figure scenes.
4. **Tests.** Intervals: mean over seeds +/- t(0.975, seeds - 1) x SD / sqrt(seeds); a one-sided
   Wilcoxon signed-rank test of the association gaps, unbalanced minus balanced-throughout,
   paired over seeds x concept pairs.
5. **Real path** (``source="real"``, run first so that missing data or weights stop the run
   within seconds): a COCO-style caption set (``"real/split"`` holds out ``holdout`` of its
   images), its annotation table from the captions (:func:`caption_annotation_table`), M4 on the
   training images at ``real_keep_rate`` and one drawn subset (``"real/subset"``), fine-tuning of
   an open_clip model on all training pairs and on the kept pairs (same steps and seed,
   ``"real/finetune"``; :func:`clipbias.interventions.train.contrastive.finetune_open_clip`),
   and the same bias and quality measures on the held-out images (:func:`measure_real`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import torch
from scipy import stats

from clipbias.data.adapters.coco import load_coco_captions
from clipbias.data.manifest import Manifest
from clipbias.data.prompts import attribute_prompts, occupation_pairs, occupations
from clipbias.data.synthetic import (
    World,
    WorldConfig,
    concept_prompts,
    evaluation_set,
    generate_world,
    group_prompts,
    world_manifest,
)
from clipbias.embed import cached_embed_images, cached_embed_texts
from clipbias.interventions.balance import M4Result, m4, realised_statistics
from clipbias.interventions.balance.sampler import draw_subset
from clipbias.interventions.train import (
    TrainConfig,
    TrainingData,
    run_in_processes,
    train_tiny_clip,
)
from clipbias.interventions.train.contrastive import finetune_open_clip
from clipbias.interventions.train.loop import learning_rate, snapshot_key
from clipbias.loaded_model import LoadedModel
from clipbias.metrics import (
    association_bias,
    recall_at_k,
    representation_bias,
    zero_shot_accuracy,
)
from clipbias.progress import progress as progress_bar
from clipbias.studies._contract import StudyParams
from clipbias.studies._models import device_for
from clipbias.zoo import load
from clipbias.zoo.synthetic.checkpoints import checkpoint_key, read_metadata

__all__ = ["BENCHMARK_FILE", "PUBLISHED", "Params", "RealResult", "Result",
           "caption_annotation_table", "glue_values", "m4_seconds_10m", "measure_real",
           "real_vocabulary", "run", "run_real", "trace_steps"]

#: The benchmark figures (``benchmarks/m4_bench.py --big 10000000`` writes key ``m4.big``).
BENCHMARK_FILE = Path(__file__).resolve().parents[3] / "benchmarks" / "results.json"

#: The paper's headline figures (SigLIP-B/16 with quality filters, without -> with M4).
PUBLISHED = pd.DataFrame([
    {"measure": "COCO image-to-text recall@5", "without M4": 0.86, "with M4": 0.87},
    {"measure": "ImageNet zero-shot accuracy", "without M4": 0.77, "with M4": 0.775},
])

_METRICS = ("rep_bias", "assoc_bias", "zero_shot", "recall")


@dataclass(frozen=True)
class Params(StudyParams):
    """Parameters of the data-balancing chapter (flat, so papermill and profiles can set them)."""

    world_size: int = 4000  # image-caption pairs of the training world
    association: float = 0.6  # planted group-concept association of the training world
    group_imbalance: float = 0.3  # over-representation of group 0 in the training world
    context_correlation: float = 0.6  # planted group-context correlation (the proxy)
    neutral_share: float = 0.2  # share of training scenes without a figure
    eps_representation: float = 0.002  # M4 tolerance on first-order statistics
    eps_association: float = 0.002  # M4 tolerance on second-order statistics
    keep_rate: float = 0.4  # M4 keep rate of the balanced training data
    keep_rates: tuple[float, ...] = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)  # keep-rate sweep
    realised_draws: int = 20  # subsets drawn to measure the realised statistics' spread
    arch: Literal["synthetic-vit-s", "synthetic-vit-m", "synthetic-rn-s",
                  "synthetic-rn-m"] = "synthetic-vit-s"  # architecture of the trained models
    train_steps: int = 150  # optimisation steps per model (batch 64)
    model_seeds: int = 3  # models per training condition
    switch_points: tuple[float, ...] = (0.0, 0.1, 0.9)  # fractions of training before balancing
    trace_points: int = 10  # bias is also measured after every 1/trace_points of training
    trace_per_cell: int = 5  # evaluation scenes per cell of the measurements during training
    with_proxies: bool = True  # also train on data balanced with the contexts as proxies
    per_cell: int = 20  # evaluation scenes per cell (the shared default)
    recall_k: int = 5  # list length of caption-to-image recall@k (the shared default)
    source: Literal["synthetic", "real"] = "synthetic"  # real: also M4 + fine-tuning on captions
    model_id: str = "ViT-B-32/openai"  # real: the open_clip model fine-tuned
    checkpoint: str = ""  # real: local weights file of model_id (empty: the catalog weights)
    data_root: str = ""  # real: folder holding coco/ (empty: the default data root)
    captions_file: str = ""  # real: a COCO-style captions JSON (empty: captions_<split>.json of coco)
    coco_split: str = "val2017"  # real: the split whose captions and images are read
    holdout: float = 0.3  # real: share of images held out for the measurements
    real_keep_rate: float = 0.7  # real: M4 keep rate of the training images
    real_eps: float = 0.01  # real: M4 tolerance of both kinds of statistics
    finetune_steps: int = 200  # real: optimisation steps of each fine-tuning
    finetune_batch: int = 128  # real: image-caption pairs per step
    finetune_lr: float = 1e-5  # real: peak learning rate (AdamW, warm-up then cosine decay)
    device: Literal["cpu", "cuda", "auto"] = "auto"  # real: where fine-tuning and embedding run

    def validate(self) -> None:
        """Check the fields; messages say what to change."""
        if self.source not in ("synthetic", "real"):
            raise ValueError(f"Params: source must be 'synthetic' or 'real', got {self.source!r}")
        if self.source == "real":
            if not self.model_id:
                raise ValueError("Params: source='real' needs model_id (an open_clip id, e.g. "
                                 "'ViT-B-32/openai')")
            if not 0.0 < self.holdout < 1.0:
                raise ValueError(f"Params: holdout must be in (0, 1), got {self.holdout}")
            if not 0.0 < self.real_keep_rate <= 1.0 or self.real_eps < 0:
                raise ValueError("Params: real_keep_rate must be in (0, 1] and real_eps >= 0")
            TrainConfig(steps=self.finetune_steps, batch_size=self.finetune_batch,
                        lr=self.finetune_lr, warmup=max(1, self.finetune_steps // 10))
        if not 0.0 < self.keep_rate <= 1.0:
            raise ValueError(f"Params: keep_rate must be in (0, 1], got {self.keep_rate}")
        if not self.keep_rates or any(not 0.0 < k <= 1.0 for k in self.keep_rates):
            raise ValueError(f"Params: keep_rates must be values in (0, 1], got {self.keep_rates}")
        if self.eps_representation < 0 or self.eps_association < 0:
            raise ValueError("Params: tolerances must be >= 0")
        if not self.switch_points or 0.0 not in self.switch_points or any(
                not 0.0 <= s < 1.0 for s in self.switch_points):
            raise ValueError("Params: switch_points must lie in [0, 1) and include 0.0 (balanced "
                             f"throughout), got {self.switch_points}")
        for name in ("world_size", "train_steps", "model_seeds", "realised_draws", "per_cell",
                     "trace_points", "trace_per_cell"):
            if getattr(self, name) < 1:
                raise ValueError(f"Params: {name} must be >= 1, got {getattr(self, name)}")
        self.world()
        TrainConfig(steps=self.train_steps)

    def world(self) -> WorldConfig:
        """Knobs of the training world."""
        return WorldConfig(size=self.world_size, association=self.association,
                           group_imbalance=self.group_imbalance,
                           context_correlation=self.context_correlation,
                           neutral_share=self.neutral_share)

    def conditions(self) -> list[tuple[str, float]]:
        """``(data, switch)`` of every training condition: unbalanced, balanced at each switch
        point, and balanced with proxies from the start."""
        out = [("unbalanced", 0.0)] + [("balanced", float(s)) for s in sorted(self.switch_points)]
        return out + ([("proxies", 0.0)] if self.with_proxies else [])


def trace_steps(params: Params) -> list[int]:
    """Steps at which every model is measured: ``round(i / trace_points * train_steps)`` for
    ``i = 0..trace_points`` and every switch step ``round(switch * train_steps)`` (before its
    first balanced step), sorted, without repeats. The last is ``train_steps``: the trained model.
    """
    n, k = params.train_steps, params.trace_points
    grid = {round(i * n / k) for i in range(k + 1)}
    return sorted(grid | {round(s * n) for s in params.switch_points})


@dataclass(frozen=True)
class Result:
    """What :func:`run` computed."""

    params: Params
    world: World  # the training world
    balance: M4Result  # M4 without proxies at ``keep_rate``
    balance_proxies: M4Result  # M4 with the contexts as proxies
    data_bias: pd.DataFrame  # statistic, group, label, before, after, realised_mean, realised_sd
    keep_sweep: pd.DataFrame  # keep_rate, feasible, violation, objective, status
    subset_sizes: dict  # data -> rows of the drawn training subset
    models: pd.DataFrame  # per model: data, switch, seed, model_id, metrics
    trace: pd.DataFrame  # per model and traced step: condition, replicate, step, metrics
    trace_summary: pd.DataFrame  # per condition, step and metric: n, mean, ci_low, ci_high
    pair_gaps: pd.DataFrame  # per model and concept pair: data, switch, replicate, a, b, gap
    summary: pd.DataFrame  # per condition and metric: n, mean, ci_low, ci_high
    wilcoxon: dict  # statistic, p, n, min_p
    findings: pd.DataFrame  # finding, paper, measured, ci_low, ci_high, verdict
    m4_seconds_10m: tuple[float, bool]  # benchmark: seconds of M4 on 10 million rows, finished
    real: RealResult | None = None  # the real path (source="real"), else None


def annotation_table(world: World) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``s`` (n, G), ``y`` (n, C), ``z`` (n, X) 0/1 tables of the first figure of each scene:
    group (zeros without a figure), the concept the caption names (zeros without one), context."""
    cfg = world.config
    g, c = world.groups[:, 0], world.caption_concepts[:, 0]
    s = (g[:, None] == np.arange(cfg.n_groups)).astype(np.int8)
    y = (c[:, None] == np.arange(cfg.n_concepts)).astype(np.int8)
    z = (world.contexts[:, None] == np.arange(cfg.n_contexts)).astype(np.int8)
    return s, y, z


def _balance(params: Params, world: World, *, proxies: bool, keep_rate: float,
             progress: bool = False) -> M4Result:
    s, y, z = annotation_table(world)
    return m4(s, y, proxies=z if proxies else None, keep_rate=keep_rate,
              eps_representation=params.eps_representation,
              eps_association=params.eps_association, seed=params.seed_for("m4"),
              progress=progress)


def _data_bias(params: Params, world: World, res: M4Result) -> pd.DataFrame:
    """One row per statistic of group 0: before, after (expected) and realised draws."""
    s, y, _ = annotation_table(world)
    real = realised_statistics(s, y, res.q, draws=params.realised_draws,
                               seed=params.seed_for("realised"))
    cfg = world.config
    rows = [{"statistic": "representation", "label": "(all)", "before": res.before.representation[0],
             "after": res.after.representation[0],
             "realised_mean": real.representation[:, 0].mean(),
             "realised_sd": real.representation[:, 0].std(ddof=1) if params.realised_draws > 1
             else np.nan}]
    for r, concept in enumerate(cfg.concepts):
        col = real.association[:, 0, r]
        rows.append({"statistic": "association", "label": concept.name,
                     "before": res.before.association[0, r], "after": res.after.association[0, r],
                     "realised_mean": col.mean(),
                     "realised_sd": col.std(ddof=1) if params.realised_draws > 1 else np.nan})
    out = pd.DataFrame(rows)
    out["group"] = cfg.groups[0].name
    return out


def _keep_sweep(params: Params, world: World, *, progress: bool) -> pd.DataFrame:
    rows = []
    for rate in progress_bar(sorted(params.keep_rates), desc="M4 keep rates", disable=not progress):
        res = _balance(params, world, proxies=False, keep_rate=rate)
        rows.append({"keep_rate": rate, "feasible": res.feasible,
                     "violation": res.violation_after, "objective": res.objective,
                     "status": res.status})
    return pd.DataFrame(rows)


def _train_job(arch: str, world: WorldConfig, world_seed: int, weights: np.ndarray | None,
               switch: float, steps: int, seed: int, snapshots: tuple[int, ...] = ()
               ) -> dict[int, str]:
    """Train (or fetch) one model with one torch thread; return ``{step: model id}`` of its
    ``snapshots`` and of its final weights (step ``steps``)."""
    torch.set_num_threads(1)
    base = TrainingData(world, world_seed=world_seed)
    kwargs = {"train": TrainConfig(steps=steps), "seed": seed, "snapshots": snapshots}
    if weights is None:
        run_ = train_tiny_clip(arch, base, **kwargs)
    elif switch == 0.0:
        run_ = train_tiny_clip(arch, TrainingData(world, world_seed=world_seed, weights=weights),
                               **kwargs)
    else:
        run_ = train_tiny_clip(arch, base, switch_to=TrainingData(world, world_seed=world_seed,
                                                                  weights=weights),
                               switch_at=switch, **kwargs)
    return {**run_.snapshots, steps: run_.model_id}


def _cached_id(arch: str, world: WorldConfig, world_seed: int, weights: np.ndarray | None,
               switch: float, steps: int, seed: int, snapshots: tuple[int, ...] = ()
               ) -> dict[int, str] | None:
    """What :func:`_train_job` returns when the checkpoint and every snapshot are cached, else
    None."""
    base = TrainingData(world, world_seed=world_seed).key()
    if weights is None:
        phases = [(base, 0.0)]
    else:
        balanced = TrainingData(world, world_seed=world_seed, weights=weights).key()
        phases = [(balanced, 0.0)] if switch == 0.0 else [(base, 0.0), (balanced, switch)]
    key = checkpoint_key(arch, phases, TrainConfig(steps=steps), seed=seed)
    metas = {t: read_metadata(snapshot_key(key, t)) for t in snapshots}
    metas[steps] = read_metadata(key)
    if any(m is None for m in metas.values()):
        return None
    return {t: str(m["model_id"]) for t, m in metas.items()}


def _train_all(jobs: list[tuple], *, progress: bool) -> list[dict[int, str]]:
    """``{step: model id}`` of ``jobs`` (arguments of :func:`_train_job`), in order. Cached
    checkpoints are read; the rest train in :func:`clipbias.interventions.train.run_in_processes`
    (one spawned process per core, one torch thread each; no process starts when every model is
    cached or one core is there)."""
    ids = [_cached_id(*job) for job in jobs]
    missing = [i for i, model_id in enumerate(ids) if model_id is None]
    trained = run_in_processes(_train_job, [jobs[i] for i in missing], desc="balancing models",
                               progress=progress)
    for i, model_ids in zip(missing, trained, strict=True):
        ids[i] = model_ids
    return ids


def _embed(model, items) -> np.ndarray:
    res = (cached_embed_images(model, items, progress=False) if not isinstance(items, list)
           else cached_embed_texts(model, items, progress=False))
    return np.asarray(res.embeddings, dtype=np.float64)


def measure(model, config: WorldConfig, *, per_cell: int, seed: int, recall_k: int
            ) -> tuple[dict, list[dict]]:
    """Metrics of one loaded model on the evaluation set of worlds like ``config``: a dict of
    ``rep_bias``, ``assoc_bias``, ``zero_shot``, ``recall`` and the per-pair association gaps."""
    sets = {kind: evaluation_set(config, kind=kind, per_cell=per_cell, seed=seed)
            for kind in ("figures", "neutral", "object_free")}
    concepts = _embed(model, concept_prompts(config))
    groups = _embed(model, group_prompts(config))
    neutral = _embed(model, world_manifest(sets["neutral"]))
    free_world = sets["object_free"]
    free = _embed(model, world_manifest(free_world))
    figures_world = sets["figures"]
    figures = _embed(model, world_manifest(figures_world))
    captions = _embed(model, figures_world.captions())
    sim_free = free @ concepts.T
    free_groups = free_world.groups[:, 0]
    pairs = [{"a": config.concepts[a].name, "b": config.concepts[b].name,
              "gap": association_bias(sim_free, free_groups, a=a, b=b, group_order=(0, 1)).gap}
             for a in config.stereotyped_concepts(0) for b in config.stereotyped_concepts(1)]
    metrics = {
        "rep_bias": representation_bias(neutral @ groups.T, a=0, b=1),
        "assoc_bias": float(np.mean([p["gap"] for p in pairs])),
        "zero_shot": zero_shot_accuracy(figures @ concepts.T, figures_world.concepts[:, 0]),
        "recall": float(recall_at_k(captions @ figures.T, np.arange(len(figures_world)),
                                    k=recall_k).mean()),
    }
    return metrics, pairs


def _interval(values: np.ndarray) -> tuple[float, float, float]:
    """Mean and t interval (95%) over independent replicates (nan bounds with one)."""
    v = np.asarray(values, dtype=np.float64)
    mean = float(v.mean())
    if len(v) < 2:
        return mean, np.nan, np.nan
    half = float(stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)))
    return mean, mean - half, mean + half


def _label(data: str, switch: float) -> str:
    return data if data != "balanced" or switch == 0.0 else f"balanced from {switch:.0%}"


def _summary(models: pd.DataFrame, by: tuple[str, ...] = ("condition", "data", "switch")
             ) -> pd.DataFrame:
    """Mean over replicates and its t interval per group of ``by`` and metric."""
    rows = []
    for keys, part in models.groupby(list(by), sort=False):
        for metric in _METRICS:
            mean, low, high = _interval(part[metric].to_numpy())
            rows.append({**dict(zip(by, keys, strict=True)), "metric": metric, "n": len(part),
                         "mean": mean, "ci_low": low, "ci_high": high})
    return pd.DataFrame(rows)


def _paired(models: pd.DataFrame, metric: str, first: str, second: str) -> tuple[float, ...]:
    """Mean of ``first - second`` over seeds (paired by replicate) with its t interval."""
    a = models[models["condition"] == first].set_index("replicate")[metric]
    b = models[models["condition"] == second].set_index("replicate")[metric]
    return _interval((a - b.loc[a.index]).to_numpy())


def _verdict(low: float, high: float, sign: int) -> str:
    if not np.isfinite(low):
        return "too few seeds"
    if (sign > 0 and low > 0) or (sign < 0 and high < 0):
        return "agrees"
    if (sign > 0 and high < 0) or (sign < 0 and low > 0):
        return "disagrees"
    return "not resolved"


def _findings(params: Params, models: pd.DataFrame) -> pd.DataFrame:
    """The paper's findings as paired differences between conditions, each with an interval."""
    late = _label("balanced", max(params.switch_points))
    specs = [
        ("Balancing lowers association bias", "data balancing reduces AB",
         "assoc_bias", "unbalanced", "balanced", +1),
        ("Balancing lowers representation bias", "data balancing reduces RB",
         "rep_bias", "unbalanced", "balanced", +1),
        ("Balancing helps classification", "zero-shot accuracy tends to improve",
         "zero_shot", "balanced", "unbalanced", +1),
        ("Balancing can hurt retrieval", "recall@5 can drop",
         "recall", "balanced", "unbalanced", -1),
    ]
    if late != "balanced":
        specs += [
            ("RB follows the most recent data", "balancing late removes most of RB",
             "rep_bias", "unbalanced", late, +1),
            ("AB decays slowly", "balancing late leaves AB above balancing throughout",
             "assoc_bias", late, "balanced", +1),
        ]
    if params.with_proxies:
        specs += [
            ("Proxies lower RB", "RB with proxies below RB without",
             "rep_bias", "balanced", "proxies", +1),
            ("Proxies can raise AB", "AB with proxies above AB without",
             "assoc_bias", "proxies", "balanced", +1),
        ]
    rows = []
    for finding, claim, metric, first, second, sign in specs:
        mean, low, high = _paired(models, metric, first, second)
        rows.append({"finding": finding, "paper": claim, "difference": f"{first} - {second}",
                     "metric": metric, "measured": mean, "ci_low": low, "ci_high": high,
                     "verdict": _verdict(low, high, sign)})
    return pd.DataFrame(rows)


def m4_seconds_10m(path: Path = BENCHMARK_FILE) -> tuple[float, bool]:
    """Wall seconds of M4 on 10 million rows from ``benchmarks/results.json`` and whether the
    run finished: ``(m4_s, True)``; for a run stopped unfinished ``(stopped_after_wall_s,
    False)``, a lower bound; ``(nan, False)`` when not measured."""
    if not path.exists():
        return float("nan"), False
    big = json.loads(path.read_text()).get("m4", {}).get("big", {})
    if big.get("n") != 10_000_000:
        return float("nan"), False
    if "m4_s" in big and big.get("finished", True):
        return float(big["m4_s"]), True
    return float(big.get("stopped_after_wall_s", float("nan"))), False


def _measure_all(params: Params, config: WorldConfig, rows: list[dict],
                 ids: list[dict[int, str]], *, progress: bool
                 ) -> tuple[pd.DataFrame, pd.DataFrame, list[dict]]:
    """The trained models (``rows``, one per training job) measured with ``per_cell`` scenes
    per cell, with the association gap of every concept pair; and every model at every traced
    step measured with ``trace_per_cell``. Weights are measured once per evaluation size: a
    snapshot whose weights digest was measured already (the initial weights of one seed, the
    steps a switch run shares with the unbalanced run) reuses those metrics."""
    eval_seed = params.seed_for("evaluation")
    done: dict[tuple[str, int], tuple[dict, list[dict]]] = {}
    trace, models, pair_rows = [], [], []
    final = params.train_steps
    todo = [(row, step, model_id, size) for row, snaps in zip(rows, ids, strict=True)
            for step, model_id in sorted(snaps.items())
            for size in sorted({params.trace_per_cell}
                               | ({params.per_cell} if step == final else set()))]
    for row, step, model_id, size in progress_bar(todo, desc="measure models",
                                                  disable=not progress):
        model = load(model_id)
        if (model.weights_digest, size) not in done:
            done[model.weights_digest, size] = measure(model, config, per_cell=size,
                                                       seed=eval_seed, recall_k=params.recall_k)
        metrics, pairs = done[model.weights_digest, size]
        if size == params.trace_per_cell:
            trace.append({**row, "step": step, "fraction": step / params.train_steps,
                          "model_id": model_id, "weights": model.weights_digest, **metrics})
        if step == final and size == params.per_cell:
            models.append({**row, "model_id": model_id, **metrics})
            pair_rows += [{"condition": row["condition"], "replicate": row["replicate"], **p}
                          for p in pairs]
    return pd.DataFrame(trace), pd.DataFrame(models), pair_rows


def run(params: Params, *, progress: bool = True) -> Result:
    """Balance the training world, train the models of every condition, measure them."""
    if not isinstance(params, Params):
        raise ValueError(f"run expects data_balancing.Params, got {type(params).__name__}")
    real = run_real(params, progress=progress) if params.source == "real" else None
    config = params.world()
    world_seed = params.seed_for("world")
    world = generate_world(config, seed=world_seed)
    plain = _balance(params, world, proxies=False, keep_rate=params.keep_rate)
    with_proxies = _balance(params, world, proxies=True, keep_rate=params.keep_rate)
    for name, res in (("without proxies", plain), ("with proxies", with_proxies)):
        if not res.feasible:
            raise ValueError(f"M4 {name} is infeasible at keep_rate={params.keep_rate} "
                             f"(violation {res.violation_after:.4f}); lower keep_rate or raise "
                             "the tolerances")
    weights = {"balanced": draw_subset(plain.q, seed=params.seed_for("subset")),
               "proxies": draw_subset(with_proxies.q, seed=params.seed_for("subset-proxies"))}
    masks = {}
    for name, idx in weights.items():
        mask = np.zeros(len(world))
        mask[idx] = 1.0
        masks[name] = mask
    jobs, rows = [], []
    steps = trace_steps(params)
    for data, switch in params.conditions():
        for r in range(params.model_seeds):
            seed = params.seed_for(f"model/{r}")
            jobs.append((params.arch, config, world_seed, masks.get(data), switch,
                         params.train_steps, seed, tuple(steps[:-1])))
            rows.append({"condition": _label(data, switch), "data": data, "switch": switch,
                         "replicate": r, "seed": seed})
    ids = _train_all(jobs, progress=progress)
    trace, models, pair_rows = _measure_all(params, config, rows, ids, progress=progress)
    pair_gaps = pd.DataFrame(pair_rows)
    un = pair_gaps[pair_gaps["condition"] == "unbalanced"]["gap"].to_numpy()
    ba = pair_gaps[pair_gaps["condition"] == "balanced"]["gap"].to_numpy()
    diff = un - ba
    test = stats.wilcoxon(diff, alternative="greater") if np.any(diff != 0) else None
    n = int(np.count_nonzero(diff))
    return Result(
        params=params, world=world, balance=plain, balance_proxies=with_proxies,
        data_bias=_data_bias(params, world, plain),
        keep_sweep=_keep_sweep(params, world, progress=progress),
        subset_sizes={k: len(v) for k, v in weights.items()},
        models=models, trace=trace,
        trace_summary=_summary(trace, by=("condition", "data", "switch", "step", "fraction")),
        pair_gaps=pair_gaps, summary=_summary(models),
        wilcoxon={"statistic": float(test.statistic) if test else np.nan,
                  "p": float(test.pvalue) if test else 1.0, "n": n,
                  "min_p": float(0.5 ** n) if n else 1.0},
        findings=_findings(params, models), m4_seconds_10m=m4_seconds_10m(), real=real)


def glue_values(result: Result) -> dict[str, float | int]:
    """Every number the chapter's prose cites, by glue key.

    - ``violation_before_max``, ``violation_after_max``: largest excess of a statistic over its
      tolerance in the training table and under M4's keep probabilities (0 = within tolerance);
    - ``violation_proxies_after``: the same with the contexts as proxies;
    - ``m4_within_tolerance``: 1 when every expected statistic of both M4 runs is within
      tolerance, else 0; ``realised_sd_max``: largest SD of a statistic over drawn subsets;
    - ``keep_rate``, ``max_feasible_keep_rate`` (largest feasible rate of the sweep, nan if
      none), ``subset_size``, ``world_size``;
    - means over seeds per training condition: ``assoc_bias_unbalanced``,
      ``assoc_bias_balanced`` (balanced throughout), ``assoc_bias_proxies``, ``assoc_bias_late``
      (balanced from the latest switch point), and the same for ``rep_bias_*``
      (``rep_bias_unbalanced``, ``rep_bias_balanced``), ``zero_shot_*``
      (``zero_shot_unbalanced``, ``zero_shot_balanced``) and ``recall5_*``
      (``recall5_unbalanced``, ``recall5_balanced``); ``assoc_bias_unbalanced_low``,
      ``assoc_bias_unbalanced_high``, ``assoc_bias_balanced_low``, ``assoc_bias_balanced_high``
      their 95% t intervals over seeds;
    - ``wilcoxon_p_assoc``, ``wilcoxon_n``, ``wilcoxon_min_p``: the one-sided signed-rank test
      of the pair gaps (unbalanced > balanced), its number of non-zero pairs and the smallest p
      it allows;
    - ``model_seeds``, ``n_models``, ``train_steps``, ``late_switch``;
    - over training (:func:`trace_steps`): ``trace_points``, ``trace_models`` (distinct weights
      measured: conditions share the initial weights and a switch run the unbalanced run's
      steps before its switch), ``trace_per_cell``; ``assoc_bias_late_at_switch``,
      ``rep_bias_late_at_switch``, ``assoc_bias_late_at_end``, ``rep_bias_late_at_end``: means
      over seeds of the models balanced from the latest switch point, measured (with
      ``trace_per_cell``) at that step, before any balanced data, and at the end; ``late_switch_lr_share``: the learning rate at the latest switch step
      over its peak (the cosine schedule); ``late_effect_share``: ``(AB_unbalanced - AB_late) /
      (AB_unbalanced - AB_balanced)`` of the trained models, the part of balancing
      throughout's reduction of association bias that balancing late achieves (nan when
      balancing throughout reduces nothing);
    - ``m4_seconds_10m``: benchmark wall seconds of M4 on 10 million rows (a lower bound when
      the run did not finish; nan if not measured); ``m4_10m_finished``: 1 if it finished.
    """
    res, p = result, result.params
    summ = res.summary.set_index(["condition", "metric"])
    late = _label("balanced", max(p.switch_points))
    names = {"unbalanced": "unbalanced", "balanced": "balanced", "proxies": "proxies",
             "late": late}
    out: dict[str, float | int] = {
        "violation_before_max": res.balance.violation_before,
        "violation_after_max": res.balance.violation_after,
        "violation_proxies_after": res.balance_proxies.violation_after,
        "m4_within_tolerance": int(res.balance.feasible and res.balance_proxies.feasible
                                   and res.balance.violation_after == 0.0
                                   and res.balance_proxies.violation_after == 0.0),
        "realised_sd_max": float(res.data_bias["realised_sd"].max()),
        "keep_rate": p.keep_rate, "world_size": p.world_size,
        "subset_size": res.subset_sizes["balanced"],
        "wilcoxon_p_assoc": res.wilcoxon["p"], "wilcoxon_n": res.wilcoxon["n"],
        "wilcoxon_min_p": res.wilcoxon["min_p"],
        "model_seeds": p.model_seeds, "n_models": len(res.models), "train_steps": p.train_steps,
        "late_switch": float(max(p.switch_points)),
        "m4_seconds_10m": res.m4_seconds_10m[0], "m4_10m_finished": int(res.m4_seconds_10m[1]),
    }
    n_steps, late_step = p.train_steps, round(max(p.switch_points) * p.train_steps)
    trace = res.trace_summary.set_index(["condition", "step", "metric"])
    for metric in ("assoc_bias", "rep_bias"):
        out[f"{metric}_late_at_switch"] = float(trace.loc[(late, late_step, metric), "mean"])
        out[f"{metric}_late_at_end"] = float(trace.loc[(late, n_steps, metric), "mean"])
    cfg = TrainConfig(steps=n_steps)
    out["late_switch_lr_share"] = learning_rate(late_step, cfg) / cfg.lr
    out["trace_points"], out["trace_per_cell"] = p.trace_points, p.trace_per_cell
    out["trace_models"] = int(res.trace["weights"].nunique())
    feasible = res.keep_sweep[res.keep_sweep["feasible"]]["keep_rate"]
    out["max_feasible_keep_rate"] = float(feasible.max()) if len(feasible) else float("nan")
    for metric, key in (("assoc_bias", "assoc_bias"), ("rep_bias", "rep_bias"),
                        ("zero_shot", "zero_shot"), ("recall", "recall5")):
        for short, cond in names.items():
            if (cond, metric) in summ.index:
                out[f"{key}_{short}"] = float(summ.loc[(cond, metric), "mean"])
    for cond in ("unbalanced", "balanced"):
        out[f"assoc_bias_{cond}_low"] = float(summ.loc[(cond, "assoc_bias"), "ci_low"])
        out[f"assoc_bias_{cond}_high"] = float(summ.loc[(cond, "assoc_bias"), "ci_high"])
    reduction = out["assoc_bias_unbalanced"] - out["assoc_bias_balanced"]
    share = (out["assoc_bias_unbalanced"] - out["assoc_bias_late"]) / reduction \
        if reduction != 0 else float("nan")
    out["late_effect_share"] = float(share)
    return out


# ---------------------------------------------------------------------------------------------
# The real path: a COCO-style caption set, M4 on its caption-derived annotation table, and
# fine-tuning of an open_clip model on the kept image-caption pairs.

#: The sensitive groups read from the captions, in the order of the columns of ``s``.
REAL_GROUPS = ("female", "male")
#: The prompt template of the occupation labels.
_OCCUPATION_TEMPLATE = "a photo of a {}."


@dataclass(frozen=True)
class RealResult:
    """What :func:`run_real` computed."""

    labels: tuple[str, ...]  # the label columns of y (occupations named in the training captions)
    sizes: dict  # images, train_images, holdout_images, kept_images, train_pairs, kept_pairs
    balance: M4Result  # M4 on the training images' annotation table
    data_bias: pd.DataFrame  # statistic, group, label, before, after (female, signed)
    models: pd.DataFrame  # model (base, unbalanced, balanced), model_id, metrics, n_* counts
    pair_gaps: pd.DataFrame  # model, a, b, gap (held-out association gap of each pair)


def real_vocabulary() -> tuple[str, ...]:
    """Occupation words read from captions: Chuang et al.'s 80 + 20 occupations and the words of
    the association-bias pairs (:func:`clipbias.data.prompts.occupation_pairs`), lower case,
    first occurrence kept."""
    words = [w.lower() for w in occupations("chuang2023-train") + occupations("chuang2023-test")]
    words += [w for pair in occupation_pairs() for w in pair]
    return tuple(dict.fromkeys(words))


def caption_annotation_table(frame: pd.DataFrame, labels: tuple[str, ...]
                             ) -> tuple[np.ndarray, np.ndarray]:
    """``s`` (n, 2) and ``y`` (n, L) 0/1 tables of a COCO image manifest's rows.

    ``s[i] = (female, male)`` from the image's caption-derived ``gender`` (``"both"``: both
    columns, ``"none"``: zeros); ``y[i, l] = 1`` when a caption of image i names ``labels[l]``
    (the manifest's JSON list ``occupations``)."""
    for column in ("gender", "occupations"):
        if column not in frame.columns:
            raise ValueError(f"the manifest needs a {column!r} column (load_coco_captions with "
                             "unit='image' and occupations=...)")
    gender = frame["gender"].to_numpy()
    s = np.stack([np.isin(gender, [g, "both"]) for g in REAL_GROUPS], axis=1).astype(np.int8)
    found = [set(json.loads(v)) for v in frame["occupations"]]
    y = np.array([[int(w in f) for w in labels] for f in found], dtype=np.int8).reshape(
        len(frame), len(labels))
    return s, y


def _pairs(frame: pd.DataFrame, root: Path) -> tuple[list[Path], list[str]]:
    """Every (image path, caption) pair of an image manifest's rows."""
    paths, texts = [], []
    for image, captions in zip(frame["image_path"], frame["captions"], strict=True):
        for caption in json.loads(captions):
            paths.append(root / image)
            texts.append(caption)
    return paths, texts


def _embedding(model: LoadedModel, items) -> np.ndarray:
    res = (cached_embed_texts(model, items, device=model.device, progress=False)
           if isinstance(items, list)
           else cached_embed_images(model, items, device=model.device, progress=False))
    return np.asarray(res.embeddings, dtype=np.float64)


def measure_real(model: LoadedModel, holdout: Manifest, labels: tuple[str, ...], *,
                 recall_k: int) -> tuple[dict, list[dict]]:
    """Bias and quality of ``model`` on held-out images of a COCO image manifest.

    - ``rep_bias``: share of the images whose captions name no gender that sit closer to "a
      photo of a female person." than to "... male person." (0.5 unbiased; nan without such
      images); ``n_neutral`` of them;
    - ``assoc_bias``: mean over the occupation pairs (a, b) of P(prefer a over b | female) -
      P(prefer a over b | male) on the images whose captions name one gender (nan unless both
      occur); ``n_gendered``; the per-pair gaps are returned too;
    - ``zero_shot``: top-1 accuracy over the prompts of ``labels`` on images whose captions
      name exactly one of them (nan without); ``n_labelled``;
    - ``recall``: image-to-text recall@k over all held-out captions (k capped at their number).
    """
    frame = holdout.table
    embed = _embedding(model, holdout)
    genders = frame["gender"].to_numpy()
    prompts = attribute_prompts("gender")
    group_text = _embedding(model, [prompts[g] for g in REAL_GROUPS])
    neutral = genders == "none"
    rep = representation_bias(embed[neutral] @ group_text.T, a=0, b=1) if neutral.any() \
        else float("nan")
    pair_words = [w for pair in occupation_pairs() for w in pair]
    pair_text = _embedding(model, [_OCCUPATION_TEMPLATE.format(w) for w in pair_words])
    gendered = np.isin(genders, REAL_GROUPS)
    pairs = []
    if all((genders == g).any() for g in REAL_GROUPS):
        sim = embed[gendered] @ pair_text.T
        for j, (a, b) in enumerate(occupation_pairs()):
            gap = association_bias(sim, genders[gendered], a=2 * j, b=2 * j + 1,
                                   group_order=REAL_GROUPS).gap
            pairs.append({"a": a, "b": b, "gap": gap})
    assoc = float(np.mean([p["gap"] for p in pairs])) if pairs else float("nan")
    _, y = caption_annotation_table(frame, labels)
    single = y.sum(axis=1) == 1
    if single.any() and labels:
        label_text = _embedding(model, [_OCCUPATION_TEMPLATE.format(w) for w in labels])
        zero_shot = zero_shot_accuracy(embed[single] @ label_text.T, y[single].argmax(axis=1))
    else:
        zero_shot = float("nan")
    paths, captions = _pairs(frame, Path("."))
    owner = np.repeat(np.arange(len(frame)), [len(json.loads(c)) for c in frame["captions"]])
    relevant = owner[None, :] == np.arange(len(frame))[:, None]
    caption_embed = _embedding(model, captions)
    recall = float(recall_at_k(embed @ caption_embed.T, relevant,
                               k=min(recall_k, len(captions))).mean())
    metrics = {"rep_bias": rep, "assoc_bias": assoc, "zero_shot": zero_shot, "recall": recall,
               "n_neutral": int(neutral.sum()), "n_gendered": int(gendered.sum()),
               "n_labelled": int(single.sum()), "n_captions": len(paths)}
    return metrics, pairs


def _real_statistics(res: M4Result, labels: tuple[str, ...]) -> pd.DataFrame:
    rows = [{"statistic": "representation", "label": "(all)",
             "before": res.before.representation[0], "after": res.after.representation[0]}]
    rows += [{"statistic": "association", "label": label, "before": res.before.association[0, r],
              "after": res.after.association[0, r]} for r, label in enumerate(labels)]
    return pd.DataFrame(rows).assign(group=REAL_GROUPS[0])


def run_real(params: Params, *, progress: bool = True) -> RealResult:
    """The real path (module docstring, step 5). The model and the caption set load first, so
    missing weights or data stop the run within seconds with the loader's error."""
    device = device_for(params.device)
    base = load(params.model_id, checkpoint=params.checkpoint or None, device=device)
    root = Path(params.data_root) / "coco" if params.data_root else None
    manifest = load_coco_captions(root, split=params.coco_split,
                                  captions_file=params.captions_file or None, unit="image",
                                  occupations=real_vocabulary())
    missing = manifest.missing_files()
    if missing.count:
        raise FileNotFoundError(f"the caption set names images that are not on disk: {missing}")
    frame = manifest.table
    if len(frame) < 4:
        raise ValueError(f"the caption set has {len(frame)} images; at least 4 are needed "
                         "(two to train on, two held out)")
    rng = np.random.default_rng(params.seed_for("real/split"))
    held = np.zeros(len(frame), dtype=bool)
    held[rng.permutation(len(frame))[:max(2, round(params.holdout * len(frame)))]] = True
    train_frame = frame[~held].reset_index(drop=True)
    vocab = real_vocabulary()
    _, y_all = caption_annotation_table(train_frame, vocab)
    labels = tuple(w for w, n in zip(vocab, y_all.sum(axis=0), strict=True) if n > 0)
    s, y = caption_annotation_table(train_frame, labels)
    balance = m4(s, y, keep_rate=params.real_keep_rate, eps_representation=params.real_eps,
                 eps_association=params.real_eps, seed=params.seed_for("real/m4"))
    if not balance.feasible:
        raise ValueError(f"M4 on the caption set is infeasible at real_keep_rate="
                         f"{params.real_keep_rate} (violation {balance.violation_after:.4f}); "
                         "lower real_keep_rate or raise real_eps")
    kept = draw_subset(balance.q, seed=params.seed_for("real/subset"))
    train = TrainConfig(steps=params.finetune_steps, batch_size=params.finetune_batch,
                        lr=params.finetune_lr, warmup=max(1, params.finetune_steps // 10))
    sets = {"unbalanced": train_frame, "balanced": train_frame.iloc[kept]}
    models = {"base": base}
    for name, part in sets.items():
        paths, texts = _pairs(part, manifest.root or Path("."))
        models[name] = finetune_open_clip(base, paths, texts, train=train,
                                          seed=params.seed_for("real/finetune"),
                                          progress=progress)
    holdout = manifest.subset(held.tolist())
    rows, pair_rows = [], []
    for name, model in progress_bar(list(models.items()), desc="measure real models",
                                    disable=not progress):
        metrics, pairs = measure_real(model, holdout, labels, recall_k=params.recall_k)
        rows.append({"model": name, "model_id": model.model_id, **metrics})
        pair_rows += [{"model": name, **p} for p in pairs]
    sizes = {"images": len(frame), "train_images": len(train_frame),
             "holdout_images": int(held.sum()), "kept_images": len(kept),
             "train_pairs": len(_pairs(train_frame, Path("."))[0]),
             "kept_pairs": len(_pairs(sets["balanced"], Path("."))[0])}
    return RealResult(labels=labels, sizes=sizes, balance=balance,
                      data_bias=_real_statistics(balance, labels), models=pd.DataFrame(rows),
                      pair_gaps=pd.DataFrame(pair_rows, columns=["model", "a", "b", "gap"]))
