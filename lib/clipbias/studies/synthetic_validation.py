"""Planted vs measured bias: train tiny CLIPs over levels of one knob and measure what they learnt.

For each level of the knob (``association`` by default) and each seed, a model of ``arch`` is
trained on a world with that level planted; then, through the embedding engine, the synthetic
battery's EAT effect sizes and permutation p-values in all four modality orders, the MaxSkew@k of
every concept query over the balanced benchmark images, and the zero-shot concept accuracy. The
result is one tidy table, the ground truth against which every bias metric is checked.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from scipy.stats import spearmanr

from clipbias.data.synthetic import (
    WorldConfig,
    benchmark_world,
    concept_prompts,
    eat_specs,
    world_manifest,
)
from clipbias.embed import embed_images, embed_texts
from clipbias.interventions.train.loop import TrainingData, train_tiny_clip
from clipbias.metrics.eat import permutation_test
from clipbias.metrics.retrieval import max_skew_at_k
from clipbias.progress import progress as progress_bar
from clipbias.zoo.tiny import DEFAULT_ARCH, TrainConfig

__all__ = ["SweepConfig", "planted_bias_sweep", "sweep_summary"]

_KNOBS = ("association", "context_correlation")


@dataclass(frozen=True)
class SweepConfig:
    """Knobs of a planted-vs-measured sweep."""

    knob: str = "association"                       # world knob that is varied
    levels: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)  # planted levels of the knob
    seeds: tuple[int, ...] = (0, 1)                 # training (and world) seeds per level
    arch: str = DEFAULT_ARCH                        # synthetic architecture
    world: WorldConfig = field(default_factory=lambda: WorldConfig(size=4000))  # other knobs
    train: TrainConfig = field(default_factory=lambda: TrainConfig(steps=200))  # training knobs
    n_images: int = 24                              # images per EAT image set
    n_permutations: int = 10_000                    # permutations per EAT p-value
    retrieval_size: int = 600                       # benchmark images ranked by concept queries
    k: int = 100                                    # list length of MaxSkew@k

    def __post_init__(self) -> None:
        if self.knob not in _KNOBS:
            raise ValueError(f"SweepConfig: knob must be one of {_KNOBS}, got {self.knob!r}")
        if not self.levels or not self.seeds:
            raise ValueError("SweepConfig: need at least one level and one seed")
        if not 1 <= self.k <= self.retrieval_size:
            raise ValueError(f"SweepConfig: k must be in [1, retrieval_size], got {self.k}")


def _embed(model, stimulus, cache: dict) -> np.ndarray:
    """Embeddings of one stimulus set (memoised per set name and modality)."""
    key = (stimulus.name, stimulus.modality)
    if key not in cache:
        result = (embed_images(model, stimulus.paths(), progress=False)
                  if stimulus.modality == "image"
                  else embed_texts(model, list(stimulus.items), progress=False))
        cache[key] = result.embeddings
    return cache[key]


def _measure(model, config: SweepConfig, specs, retrieval) -> list[dict]:
    """EAT rows (d, p per test and order), MaxSkew rows (per concept) for one model."""
    cache: dict = {}
    rows = []
    for spec in specs:
        x, y, a, b = (_embed(model, s, cache) for s in (spec.x, spec.y, spec.a, spec.b))
        res = permutation_test(x, y, a, b, n_permutations=config.n_permutations, seed=0,
                               progress=False)
        rows.append({"metric": "eat_d", "test": spec.test, "category": spec.category,
                     "order": spec.order, "value": res.effect_size})
        rows.append({"metric": "eat_p", "test": spec.test, "category": spec.category,
                     "order": spec.order, "value": res.p_value})
    manifest, world = retrieval
    images = embed_images(model, manifest, progress=False).embeddings
    prompts = concept_prompts(world.config)
    texts = embed_texts(model, prompts, progress=False).embeddings
    skew = max_skew_at_k(texts @ images.T, world.groups[:, 0], k=config.k)
    rows += [{"metric": "max_skew", "test": prompt, "category": "Concept", "order": "text-image",
              "value": float(v)} for prompt, v in zip(prompts, skew, strict=True)]
    return rows


def planted_bias_sweep(config: SweepConfig = SweepConfig(), *, progress: bool = True,
                       threads: int | None = 1) -> pd.DataFrame:
    """Train one model per (level, seed) and measure it; trained models come from the cache.

    ``threads``: torch threads for the duration (see
    :func:`clipbias.interventions.train.train_synthetic_zoo`; None keeps the current value).

    Returns a tidy table with columns ``level, seed, metric, test, category, order, value``:
    metric ``eat_d``/``eat_p`` (one row per battery test and modality order), ``max_skew``
    (MaxSkew@k of each concept query over ``retrieval_size`` balanced benchmark images, groups
    as labels) and ``zero_shot`` (accuracy on the held-out benchmark).
    """
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    specs = eat_specs(config.world, seed=0, n_images=config.n_images)
    bench = benchmark_world(config.world, size=config.retrieval_size, seed=0)
    retrieval = (world_manifest(bench), bench)
    jobs = [(lv, s) for lv in config.levels for s in config.seeds]
    rows = []
    try:
        bar = progress_bar(jobs, desc=f"sweep {config.knob}", unit="model") if progress else jobs
        for level, seed in bar:
            world = dataclasses.replace(config.world, **{config.knob: float(level)})
            run = train_tiny_clip(config.arch, TrainingData(world, world_seed=seed),
                                  train=config.train, seed=seed)
            base = {"level": float(level), "seed": seed}
            rows.append({**base, "metric": "zero_shot", "test": "benchmark",
                         "category": "Accuracy", "order": "image-text",
                         "value": run.zero_shot_accuracy})
            with torch.no_grad():
                rows += [{**base, **r} for r in _measure(run.load(), config, specs, retrieval)]
    finally:
        torch.set_num_threads(before)
    return pd.DataFrame(rows, columns=["level", "seed", "metric", "test", "category", "order",
                                       "value"])


def sweep_summary(table: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, float]]:
    """Per-level means of a :func:`planted_bias_sweep` table, and headline figures.

    Returns ``(levels, figures)``: ``levels`` has one row per (metric, level) with ``mean``,
    ``sem`` (standard error over seeds and tests/orders/queries), ``n`` and the band
    ``low``/``high`` = mean -/+ sem (sem 0 when n = 1), for the Concept
    EAT d, MaxSkew and zero-shot accuracy; ``figures`` holds ``spearman_eat_d`` and
    ``spearman_max_skew`` (Spearman rho between level and per-level mean), ``eat_d_at_zero``,
    ``eat_d_at_max``, ``share_p_below_05_at_zero`` (Concept tests at the lowest level),
    ``max_skew_at_zero``, ``max_skew_at_max``, ``zero_shot_min`` and ``zero_shot_mean``.
    """
    picked = table[((table["category"] == "Concept") & table["metric"].isin(["eat_d",
                                                                               "max_skew"]))
                   | (table["metric"] == "zero_shot")]
    levels = (picked.groupby(["metric", "level"])["value"]
              .agg(mean="mean", sem="sem", n="count").reset_index())
    spread = levels["sem"].fillna(0.0)
    levels = levels.assign(low=levels["mean"] - spread, high=levels["mean"] + spread)
    lo, hi = table["level"].min(), table["level"].max()

    def curve(metric: str) -> pd.Series:
        return levels[levels["metric"] == metric].set_index("level")["mean"]

    p0 = table[(table["metric"] == "eat_p") & (table["category"] == "Concept")
               & (table["level"] == lo)]["value"]
    d, skew, acc = curve("eat_d"), curve("max_skew"), curve("zero_shot")
    figures = {
        "spearman_eat_d": float(spearmanr(d.index, d.to_numpy()).statistic),
        "spearman_max_skew": float(spearmanr(skew.index, skew.to_numpy()).statistic),
        "eat_d_at_zero": float(d.loc[lo]), "eat_d_at_max": float(d.loc[hi]),
        "share_p_below_05_at_zero": float((p0 < 0.05).mean()),
        "max_skew_at_zero": float(skew.loc[lo]), "max_skew_at_max": float(skew.loc[hi]),
        "zero_shot_min": float(acc.min()), "zero_shot_mean": float(acc.mean()),
    }
    return levels, figures
