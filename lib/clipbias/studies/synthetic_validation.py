"""The synthetic world's check: what bias metrics measure when nothing is planted, and how they
follow a planted association.

Steps of :func:`run` (every random choice seeded from ``Params.seed``):

1. ``zoo``: train (or fetch) the synthetic zoo profile and list it;
2. ``gallery``: a sample world of the default knobs, for the chapter's pictures;
3. ``null`` and ``sweep``: train one tiny CLIP per (planted level, replicate) on a world of
   ``world_size`` scenes with association ``s = level`` and nothing else planted; the
   ``null_seeds`` replicates at ``s = 0`` measure the noise floor, ``sweep_seeds`` replicates at
   every other level measure the response. Replicate ``r`` at level ``s`` has its own seed (world
   and training), so the points are independent;
4. ``measure``: per model, through the embedding engine, the synthetic battery's EAT effect size d
   and one-sided permutation p in the four modality orders (tests ``Concept``, planted by ``s``,
   and ``Context``, never planted here), MaxSkew@k and NDKL@k of the concept prompts over the
   balanced benchmark images (group labels), the association gap (:func:`_association_gap`),
   caption-to-image recall@k and the KL divergence of its per-group shares, and zero-shot
   accuracy;
5. ``summarise``: the null distribution of each metric (mean, SD and the 95% prediction interval
   of one more seed), and the OLS slope of each metric on the planted level with its t interval
   (:func:`slope_interval`), and the signal-to-noise ratio ``0.5 * slope / null SD``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import torch
from scipy import stats

from clipbias.data.stimulus import ORDERS
from clipbias.data.synthetic import (
    World,
    WorldConfig,
    benchmark_world,
    concept_prompts,
    eat_specs,
    generate_world,
    world_manifest,
)
from clipbias.embed import embed_images, embed_texts
from clipbias.interventions.train import (
    TrainConfig,
    TrainingData,
    run_in_processes,
    train_synthetic_zoo,
    train_tiny_clip,
)
from clipbias.metrics import (
    association_bias,
    max_skew_at_k,
    ndkl_at_k,
    permutation_test,
    recall_at_k,
    recall_kl_at_k,
    zero_shot_accuracy,
)
from clipbias.progress import progress as progress_bar
from clipbias.studies._contract import StudyParams
from clipbias.threads import one_thread
from clipbias.zoo.synthetic.checkpoints import checkpoint_key, read_metadata

__all__ = ["METRICS", "SNR_AIM", "TEXT_MEAN", "Params", "Result", "glue_values", "measure_model",
           "measure_sweep", "null_summary", "run", "slope_interval", "slope_table"]

#: Per-model metrics (name -> what it is); EAT rows carry a category and an order.
METRICS: dict[str, str] = {
    "eat_d": "EAT effect size d (stereotype-congruent positive)",
    "eat_p": "EAT one-sided permutation p-value",
    "max_skew": "MaxSkew@k of the concept prompts over benchmark images (mean over prompts)",
    "ndkl": "NDKL@k of the concept prompts over benchmark images (mean over prompts)",
    "assoc_gap": "association gap: P(prefer own-group concept) gap between groups (mean of pairs)",
    "recall": "caption-to-image recall@k on the benchmark",
    "recall_kl": "KL divergence of per-group caption-to-image recall@k from uniform",
    "zero_shot": "zero-shot concept accuracy on the benchmark",
}
#: The order label of the per-model mean of the Concept d over the three orders with text.
TEXT_MEAN = "text-mean"
_TEXT_ORDERS = tuple(o for o in ORDERS if "text" in o)
#: The SNR aimed at for the Concept test in every order with text (issue 10): the effect of
#: planting ``s = 0.5`` at least twice the SD of d between training seeds.
SNR_AIM = 2.0


@dataclass(frozen=True)
class Params(StudyParams):
    """Parameters of the synthetic-world chapter (flat, so papermill and profiles can set them)."""

    zoo: Literal["ci", "default"] = "ci"  # synthetic zoo profile to train and list
    levels: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)  # planted association levels
    sweep_seeds: int = 2  # replicate models per planted level above 0
    null_seeds: int = 8  # replicate models at level 0 (the measured null)
    train_steps: int = 200  # optimisation steps per sweep model (batch 64)
    arch: Literal["synthetic-vit-s", "synthetic-vit-m", "synthetic-rn-s",
                  "synthetic-rn-m"] = "synthetic-rn-s"  # architecture of the sweep models
    world_size: int = 4000  # image-caption pairs in each sweep model's world
    n_concepts: int = 8  # concepts of the sweep worlds (half stereotyped for each group)
    synonyms: int = 1  # words per group, concept and context in captions and text stimuli
    n_images: int = 24  # images per EAT image stimulus set
    n_permutations: int = 2000  # permutations per EAT p-value
    benchmark_size: int = 600  # balanced held-out images for retrieval and zero-shot metrics
    k: int = 100  # list length of MaxSkew@k and NDKL@k
    recall_k: int = 5  # list length of caption-to-image recall@k

    def validate(self) -> None:
        """Check the fields; messages say what to change."""
        levels = tuple(float(v) for v in self.levels)
        if len(levels) < 2 or len(set(levels)) != len(levels) or 0.0 not in levels:
            raise ValueError("Params: levels needs at least two distinct values including 0.0 "
                             f"(the null), got {self.levels!r}")
        if any(not 0.0 <= v <= 1.0 for v in levels):
            raise ValueError(f"Params: levels must lie in [0, 1], got {self.levels!r}")
        if self.null_seeds < 2:
            raise ValueError(f"Params: null_seeds must be >= 2 (an SD needs two), got "
                             f"{self.null_seeds}")
        if not 1 <= self.sweep_seeds <= self.null_seeds:
            raise ValueError(f"Params: sweep_seeds must be in [1, null_seeds={self.null_seeds}], "
                             f"got {self.sweep_seeds}")
        for name in ("train_steps", "world_size", "n_permutations", "benchmark_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"Params: {name} must be >= 1, got {getattr(self, name)}")
        if self.n_images < 2:
            raise ValueError(f"Params: n_images must be >= 2, got {self.n_images}")
        for name in ("k", "recall_k"):
            if not 1 <= getattr(self, name) <= self.benchmark_size:
                raise ValueError(f"Params: {name} must be in [1, benchmark_size="
                                 f"{self.benchmark_size}], got {getattr(self, name)}")
        self.world(0.0)  # the world knobs validate themselves
        TrainConfig(steps=self.train_steps)

    def world(self, level: float) -> WorldConfig:
        """Knobs of a sweep world with association ``level`` (nothing else planted); which
        concepts are stereotyped for which group is drawn once per study seed."""
        return WorldConfig(size=self.world_size, n_concepts=self.n_concepts,
                           synonyms=self.synonyms, association=float(level),
                           context_correlation=0.0,
                           assignment_seed=self.seed_for("assignment"))

    def jobs(self) -> list[tuple[float, int, int]]:
        """``(level, replicate, seed)`` of every model: ``null_seeds`` at 0, ``sweep_seeds`` at
        each other level; ``seed = seed_for("model/<level>/<replicate>")``."""
        out = []
        for level in sorted(float(v) for v in self.levels):
            for r in range(self.null_seeds if level == 0.0 else self.sweep_seeds):
                out.append((level, r, self.seed_for(f"model/{level}/{r}")))
        return out


@dataclass(frozen=True)
class Result:
    """What :func:`run` computed (tidy tables and the parameters)."""

    params: Params
    catalog: pd.DataFrame  # the zoo's catalog rows
    sample_world: World  # a world of the default knobs (seeded by step "gallery"), to show
    default_stereotyped_share: float  # share of its figures holding a stereotyped concept
    models: pd.DataFrame  # per model: level, replicate, seed, metric, category, order, value
    null: pd.DataFrame  # per metric/category/order at level 0: n, mean, sd, low, high
    slopes: pd.DataFrame  # per metric/category/order: slope, se, ci_low, ci_high, n, snr
    levels: pd.DataFrame  # per metric/category/order/level: mean, sd, n


def _association_gap(sim: np.ndarray, groups: np.ndarray, config: WorldConfig) -> float:
    """Mean over group pairs (g, h) and concept pairs (a stereotyped for g, b for h) of
    P(image prefers a over b | group g) - P(same | group h) (:func:`association_bias`);
    ``sim`` is (n_images, n_concepts), ``groups`` (n_images,)."""
    gaps = []
    for g in range(config.n_groups):
        for h in range(g + 1, config.n_groups):
            rows = np.isin(groups, (g, h))
            for a in config.stereotyped_concepts(g):
                for b in config.stereotyped_concepts(h):
                    gaps.append(association_bias(sim[rows], groups[rows], a=a, b=b,
                                                 group_order=(g, h)).gap)
    return float(np.mean(gaps))


def measure_model(model, battery, bench, *, n_permutations: int, seed: int, k: int,
                  recall_k: int) -> list[dict]:
    """Every metric of :data:`METRICS` for one loaded model: rows ``metric, category, order,
    value`` (EAT rows per battery test, averaged over tests of one category and order).

    ``battery``: :func:`eat_specs` of the sweep world; ``bench``: ``(manifest, world)`` of the
    benchmark; ``seed``: of the permutation tests.
    """
    cache: dict = {}

    def embed(stimulus) -> np.ndarray:
        key = (stimulus.name, stimulus.modality)
        if key not in cache:
            cache[key] = (embed_images(model, stimulus.paths(), progress=False)
                          if stimulus.modality == "image"
                          else embed_texts(model, list(stimulus.items), progress=False)
                          ).embeddings
        return cache[key]

    eat = []
    for spec in battery:
        res = permutation_test(*(embed(s) for s in (spec.x, spec.y, spec.a, spec.b)),
                               n_permutations=n_permutations, seed=seed, progress=False)
        eat += [("eat_d", spec.category, spec.order, res.effect_size),
                ("eat_p", spec.category, spec.order, res.p_value)]
    rows = (pd.DataFrame(eat, columns=["metric", "category", "order", "value"])
            .groupby(["metric", "category", "order"], sort=False)["value"].mean()
            .reset_index().to_dict("records"))
    manifest, world = bench
    groups = world.groups[:, 0]
    images = embed_images(model, manifest, progress=False).embeddings
    prompts = embed_texts(model, concept_prompts(world.config), progress=False).embeddings
    captions = embed_texts(model, world.captions(), progress=False).embeddings
    sim = prompts @ images.T                       # (n_concepts, n_images)
    cap_sim = captions @ images.T                  # (n_images, n_images)
    relevant = np.arange(len(groups))
    more = {
        "max_skew": float(max_skew_at_k(sim, groups, k=k).mean()),
        "ndkl": float(ndkl_at_k(sim, groups, k=k).mean()),
        "assoc_gap": _association_gap(sim.T, groups, world.config),
        "recall": float(recall_at_k(cap_sim, relevant, k=recall_k).mean()),
        "recall_kl": recall_kl_at_k(cap_sim, relevant, groups, k=recall_k).kl,
        "zero_shot": zero_shot_accuracy(sim.T, world.concepts[:, 0]),
    }
    order = {"max_skew": "text-image", "ndkl": "text-image", "assoc_gap": "image-text",
             "recall": "text-image", "recall_kl": "text-image", "zero_shot": "image-text"}
    rows += [{"metric": m, "category": "Concept" if m != "recall" else "Retrieval",
              "order": order[m], "value": float(v)} for m, v in more.items()]
    return rows


def _train_job(arch: str, world: WorldConfig, seed: int, steps: int) -> str:
    """Train (or fetch) one sweep model; return its model id."""
    data = TrainingData(world, world_seed=seed)
    return train_tiny_clip(arch, data, train=TrainConfig(steps=steps), seed=seed).model_id


def _train_all(params: Params, jobs: list[tuple[float, int, int]], *, progress: bool) -> list:
    """Train every sweep model that is not cached (:func:`run_in_processes`: one process per
    core, one torch thread each; no process starts when all are cached), then return their
    TrainedRuns."""
    def cached(level: float, seed: int) -> bool:
        data = TrainingData(params.world(level), world_seed=seed)
        key = checkpoint_key(params.arch, [(data.key(), 0.0)],
                             TrainConfig(steps=params.train_steps), seed=seed)
        return read_metadata(key) is not None

    missing = [(params.arch, params.world(level), seed, params.train_steps)
               for level, _, seed in jobs if not cached(level, seed)]
    run_in_processes(_train_job, missing, desc="sweep models", progress=progress)
    return [train_tiny_clip(params.arch, TrainingData(params.world(level), world_seed=seed),
                            train=TrainConfig(steps=params.train_steps), seed=seed)
            for level, _, seed in jobs]


def _with_text_mean(models: pd.DataFrame) -> pd.DataFrame:
    """Append, per model, the Concept d averaged over the three orders that involve text
    (order :data:`TEXT_MEAN`)."""
    d = models[(models["metric"] == "eat_d") & (models["category"] == "Concept")
               & models["order"].isin(_TEXT_ORDERS)]
    mean = (d.groupby(["level", "replicate", "seed"], as_index=False)["value"].mean()
            .assign(metric="eat_d", category="Concept", order=TEXT_MEAN))
    return pd.concat([models, mean[models.columns]], ignore_index=True)


def slope_interval(level: np.ndarray, value: np.ndarray, *, confidence: float = 0.95
                   ) -> tuple[float, float, float, float]:
    """OLS slope of ``value`` on ``level`` with its t interval.

    ``value_i = a + b * level_i + e_i`` (independent errors, equal variance):
    ``b = sum (x - xbar)(y - ybar) / Sxx``, ``se = sqrt(RSS / (n - 2) / Sxx)``, interval
    ``b -/+ t_{n-2, (1+confidence)/2} * se``.

    Args:
        level: (n,) planted levels, at least two distinct.
        value: (n,) measured values, finite; n >= 3.
        confidence: interval level in (0, 1).

    Returns:
        ``(slope, se, low, high)``.
    """
    x = np.asarray(level, dtype=np.float64)
    y = np.asarray(value, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"level and value must be 1-d of one length, got {x.shape}, {y.shape}")
    if len(x) < 3:
        raise ValueError(f"need at least 3 points for a slope interval, got {len(x)}")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("level and value must be finite")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    sxx = float(((x - x.mean()) ** 2).sum())
    if sxx == 0.0:
        raise ValueError("level holds a single value: the slope is not identified; "
                         "add a second planted level")
    slope = float(((x - x.mean()) * (y - y.mean())).sum() / sxx)
    resid = y - y.mean() - slope * (x - x.mean())
    se = float(np.sqrt((resid ** 2).sum() / (len(x) - 2) / sxx))
    half = float(stats.t.ppf(0.5 + confidence / 2, len(x) - 2)) * se
    return slope, se, slope - half, slope + half


def null_summary(models: pd.DataFrame, *, confidence: float = 0.95) -> pd.DataFrame:
    """The null distribution of every metric: the models at level 0, per (metric, category,
    order): ``n``, ``mean``, ``sd`` (ddof 1) and the prediction interval of one more seed,
    ``mean -/+ t_{n-1} * sd * sqrt(1 + 1/n)`` (``low``, ``high``)."""
    zero = models[models["level"] == 0.0]
    if zero.empty:
        raise ValueError("no models at level 0: the null needs level 0.0")
    out = zero.groupby(["metric", "category", "order"])["value"].agg(
        n="count", mean="mean", sd="std").reset_index()
    if (out["n"] < 2).any():
        raise ValueError("the null needs at least two models at level 0")
    t = stats.t.ppf(0.5 + confidence / 2, out["n"] - 1)
    half = t * out["sd"] * np.sqrt(1 + 1 / out["n"])
    return out.assign(low=out["mean"] - half, high=out["mean"] + half)


def slope_table(models: pd.DataFrame, null: pd.DataFrame, *, at: float = 0.5) -> pd.DataFrame:
    """Per (metric, category, order): the OLS slope on the level with its t interval
    (:func:`slope_interval`), ``effect = at * slope`` (the fitted effect of planting ``at``) and
    ``snr = effect / null sd``."""
    rows = []
    for (metric, category, order), g in models.groupby(["metric", "category", "order"]):
        slope, se, low, high = slope_interval(g["level"].to_numpy(), g["value"].to_numpy())
        rows.append({"metric": metric, "category": category, "order": order, "slope": slope,
                     "se": se, "ci_low": low, "ci_high": high, "n": len(g)})
    out = pd.DataFrame(rows).merge(null[["metric", "category", "order", "sd"]],
                                   on=["metric", "category", "order"])
    out = out.assign(effect=at * out["slope"])
    return out.assign(snr=out["effect"] / out["sd"]).rename(columns={"sd": "null_sd"})


def _level_table(models: pd.DataFrame) -> pd.DataFrame:
    return (models.groupby(["metric", "category", "order", "level"])["value"]
            .agg(mean="mean", sd="std", n="count").reset_index())


def measure_sweep(params: Params, *, progress: bool = True) -> pd.DataFrame:
    """Train (or fetch) every model of ``params.jobs()`` and measure it (:func:`measure_model`).

    Returns the tidy per-model table: ``level, replicate, seed, metric, category, order, value``,
    with the Concept d averaged over the three text orders added as order :data:`TEXT_MEAN`.
    """
    base = params.world(0.0)
    battery = eat_specs(base, seed=params.seed_for("stimuli"), n_images=params.n_images)
    bench_world = benchmark_world(base, size=params.benchmark_size,
                                  seed=params.seed_for("benchmark"))
    bench = (world_manifest(bench_world), bench_world)
    jobs = params.jobs()
    runs = _train_all(params, jobs, progress=progress)
    rows = []
    with one_thread(), torch.no_grad():  # tiny models: intra-op threads cost more than they gain
        for (level, r, seed), trained in progress_bar(
                list(zip(jobs, runs, strict=True)), desc="measure", unit="model",
                disable=not progress):
            for row in measure_model(trained.load(), battery, bench,
                                     n_permutations=params.n_permutations,
                                     seed=params.seed_for("permutations"), k=params.k,
                                     recall_k=params.recall_k):
                rows.append({"level": level, "replicate": r, "seed": seed, **row})
    return _with_text_mean(pd.DataFrame(rows, columns=["level", "replicate", "seed", "metric",
                                                       "category", "order", "value"]))


def run(params: Params, *, progress: bool = True) -> Result:
    """Train the zoo and the sweep, measure every model, summarise (see the module docstring)."""
    catalog = train_synthetic_zoo(params.zoo, progress=progress)
    sample = generate_world(WorldConfig(), seed=params.seed_for("gallery"))
    models = measure_sweep(params, progress=progress)
    null = null_summary(models)
    return Result(params=params, catalog=catalog, sample_world=sample,
                  default_stereotyped_share=float(sample.stereotyped().mean()), models=models,
                  null=null, slopes=slope_table(models, null), levels=_level_table(models))


def _key(order: str) -> str:
    return order.replace("-", "_")


def glue_values(result: Result) -> dict[str, float | int]:
    """Every number the chapter cites, by key.

    Concept-test EAT d, per order (``text_mean``: the per-model mean of the three orders with
    text): the null mean, SD and 95% prediction interval of one more seed, the slope on the
    planted level with its 95% t interval, and the SNR ``0.5 * slope / null SD``:

    ``null_mean_d_image_image``, ``null_sd_d_image_image``, ``null_low_d_image_image``,
    ``null_high_d_image_image``, ``slope_d_image_image``, ``slope_d_image_image_ci_low``,
    ``slope_d_image_image_ci_high``, ``snr_d_image_image``;
    ``null_mean_d_image_text``, ``null_sd_d_image_text``, ``null_low_d_image_text``,
    ``null_high_d_image_text``, ``slope_d_image_text``, ``slope_d_image_text_ci_low``,
    ``slope_d_image_text_ci_high``, ``snr_d_image_text``;
    ``null_mean_d_text_image``, ``null_sd_d_text_image``, ``null_low_d_text_image``,
    ``null_high_d_text_image``, ``slope_d_text_image``, ``slope_d_text_image_ci_low``,
    ``slope_d_text_image_ci_high``, ``snr_d_text_image``;
    ``null_mean_d_text_text``, ``null_sd_d_text_text``, ``null_low_d_text_text``,
    ``null_high_d_text_text``, ``slope_d_text_text``, ``slope_d_text_text_ci_low``,
    ``slope_d_text_text_ci_high``, ``snr_d_text_text``;
    ``null_mean_d_text_mean``, ``null_sd_d_text_mean``, ``null_low_d_text_mean``,
    ``null_high_d_text_mean``, ``slope_d_text_mean``, ``slope_d_text_mean_ci_low``,
    ``slope_d_text_mean_ci_high``, ``snr_d_text_mean``;

    Context-test d (never planted here), null SD per order: ``null_sd_context_image_image``,
    ``null_sd_context_image_text``, ``null_sd_context_text_image``,
    ``null_sd_context_text_text``;

    the other metrics, same figures:
    ``null_mean_max_skew``, ``null_sd_max_skew``, ``slope_max_skew``, ``slope_max_skew_ci_low``,
    ``slope_max_skew_ci_high``, ``snr_max_skew``;
    ``null_mean_ndkl``, ``null_sd_ndkl``, ``slope_ndkl``, ``slope_ndkl_ci_low``,
    ``slope_ndkl_ci_high``, ``snr_ndkl``;
    ``null_mean_assoc_gap``, ``null_sd_assoc_gap``, ``slope_assoc_gap``, ``slope_assoc_gap_ci_low``,
    ``slope_assoc_gap_ci_high``, ``snr_assoc_gap``;
    ``null_mean_recall_kl``, ``null_sd_recall_kl``, ``slope_recall_kl``, ``slope_recall_kl_ci_low``,
    ``slope_recall_kl_ci_high``, ``snr_recall_kl``;

    how many of the four orders recover the planted association (slope interval above 0:
    ``orders_recovered``) and how many of the three orders with text reach the aimed SNR
    :data:`SNR_AIM` (``text_orders_at_snr_aim``, with ``snr_aim``);

    counts: ``null_seeds``, ``sweep_seeds``, ``n_levels``, ``n_models``, ``train_steps``,
    ``n_concepts``, ``synonyms``; zero-shot accuracy of the sweep models in percent
    (``zero_shot_min``, ``zero_shot_mean``) and of the zoo (``zoo_models``, ``zoo_acc_min``,
    ``zoo_acc_mean``); the sample world: ``default_association`` and
    ``default_stereotyped_share`` (percent).
    """
    p = result.params
    null = result.null.set_index(["metric", "category", "order"])
    slopes = result.slopes.set_index(["metric", "category", "order"])
    out: dict[str, float | int] = {}
    for order in (*ORDERS, TEXT_MEAN):
        at = ("eat_d", "Concept", order)
        k = _key(order)
        out[f"null_mean_d_{k}"] = float(null.loc[at, "mean"])
        out[f"null_sd_d_{k}"] = float(null.loc[at, "sd"])
        out[f"null_low_d_{k}"] = float(null.loc[at, "low"])
        out[f"null_high_d_{k}"] = float(null.loc[at, "high"])
        out[f"slope_d_{k}"] = float(slopes.loc[at, "slope"])
        out[f"slope_d_{k}_ci_low"] = float(slopes.loc[at, "ci_low"])
        out[f"slope_d_{k}_ci_high"] = float(slopes.loc[at, "ci_high"])
        out[f"snr_d_{k}"] = float(slopes.loc[at, "snr"])
    for order in ORDERS:
        out[f"null_sd_context_{_key(order)}"] = float(null.loc[("eat_d", "Context", order), "sd"])
    for metric in ("max_skew", "ndkl", "assoc_gap", "recall_kl"):
        at = next(i for i in slopes.index if i[0] == metric)
        out[f"null_mean_{metric}"] = float(null.loc[at, "mean"])
        out[f"null_sd_{metric}"] = float(null.loc[at, "sd"])
        out[f"slope_{metric}"] = float(slopes.loc[at, "slope"])
        out[f"slope_{metric}_ci_low"] = float(slopes.loc[at, "ci_low"])
        out[f"slope_{metric}_ci_high"] = float(slopes.loc[at, "ci_high"])
        out[f"snr_{metric}"] = float(slopes.loc[at, "snr"])
    concept = [("eat_d", "Concept", order) for order in ORDERS]
    out["orders_recovered"] = sum(float(slopes.loc[at, "ci_low"]) > 0 for at in concept)
    out["text_orders_at_snr_aim"] = sum(float(slopes.loc[at, "snr"]) >= SNR_AIM
                                        for at in concept if at[2] in _TEXT_ORDERS)
    out["snr_aim"] = SNR_AIM
    acc = result.models[result.models["metric"] == "zero_shot"]["value"]
    out.update({
        "null_seeds": int(p.null_seeds), "sweep_seeds": int(p.sweep_seeds),
        "n_levels": len(p.levels), "n_models": len(p.jobs()), "train_steps": int(p.train_steps),
        "n_concepts": int(p.n_concepts), "synonyms": int(p.synonyms),
        "zero_shot_min": 100 * float(acc.min()), "zero_shot_mean": 100 * float(acc.mean()),
        "zoo_models": len(result.catalog),
        "zoo_acc_min": 100 * float(result.catalog["downstream_score"].min()),
        "zoo_acc_mean": 100 * float(result.catalog["downstream_score"].mean()),
        "default_association": float(WorldConfig().association),
        "default_stereotyped_share": 100 * result.default_stereotyped_share,
    })
    return out
