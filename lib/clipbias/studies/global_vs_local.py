"""Global vs local bias measurement (Ramos et al. 2025, part 1): how much a bias value depends on
the subset of images it is computed on.

Steps of :func:`run` (every random choice seeded from ``Params.seed``):

1. ``embed``: a group-annotated evaluation set embedded with every model through the embedding
   store (synthetic: the zoo profile ``zoo`` and the shared balanced evaluation set's
   ``"figures"`` scenes, seed step ``"evaluation"``; real, ``dataset="coco"``: the models
   ``models`` and a COCO-style caption set, image gender from the captions);
2. ``global``: recall-KL@k, MaxSkew@k and NDKL@k (both targets) of the whole set per model, with
   a bootstrap interval (:func:`clipbias.metrics.subsets.subset_bias`, step ``"bootstrap"``);
3. ``local``: the same on each subset of three views: k-means clusters of one reference model's
   image embeddings used for every model (``kmeans_shared``), each model's own clusters
   (``kmeans_per_model``; step ``"kmeans"``), and, on the synthetic world, the oracle partition
   by scene context (``oracle``), with the adjusted Rand index of the clusters against it;
4. ``depart``: per model, view, metric and target, the spread of local values around the global
   one, the share of subsets whose favoured group flips and whose interval excludes the global
   value; Kendall tau between the models' global ranking and each shared subset's ranking;
5. ``sweep`` (synthetic only): subsample the evaluation set so that every context leans to one
   group by r (:func:`tilted_selection`, step ``"sweep"``) for each of ``sweep_levels`` and
   repeat the oracle analysis: with r = 0 the subsets share the global group mix; as r grows
   their mixes diverge and, under the ``uniform`` target, local values leave their intervals.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from clipbias.data.adapters.coco import load_coco_captions
from clipbias.data.manifest import make_manifest
from clipbias.data.prompts import occupations
from clipbias.data.synthetic import World, WorldConfig, world_manifest
from clipbias.data.synthetic.captions import article
from clipbias.data.synthetic.evaluation import EVAL_DEFAULTS, evaluation_set, evaluation_size
from clipbias.embed.runner import TextSet, run_zoo
from clipbias.interventions.train import train_synthetic_zoo
from clipbias.metrics.subsets import (
    METRICS,
    TARGETS,
    kendall_tau_by_subset,
    kmeans_views,
    local_departure,
    partition_agreement,
    subset_bias,
)
from clipbias.progress import progress as progress_bar
from clipbias.studies._contract import StudyParams
from clipbias.threads import one_thread
from clipbias.zoo.load import load

__all__ = [
    "VIEWS",
    "Embedded",
    "Params",
    "Result",
    "coco_inputs",
    "glue_values",
    "run",
    "tilted_selection",
]

#: Local views: shared k-means clusters, per-model k-means clusters, the oracle partition.
VIEWS: tuple[str, ...] = ("kmeans_shared", "kmeans_per_model", "oracle")
_DATASETS = ("synthetic", "coco")
_SPACES = ("shared", "per_model")
_ZOOS = ("ci", "default")


@dataclass(frozen=True)
class Params(StudyParams):
    """Parameters of the global-vs-local chapter (flat, so papermill and profiles can set them)."""

    dataset: str = "synthetic"  # "synthetic" (zoo + shared evaluation set) or "coco" (real)
    zoo: str = "ci"  # synthetic zoo profile: "ci" or "default"
    models: tuple[str, ...] = ()  # real model ids (dataset "coco"); empty: the scaling-law 29
    checkpoint: str = ""  # a local checkpoint file for a single real model (else the cache's)
    data_root: str = ""  # COCO-style folder (dataset "coco"); empty: <data root>/coco
    per_cell: int = 20  # evaluation scenes per (group, concept, context) cell (synthetic)
    k: int = 100  # list length of MaxSkew@k and NDKL@k (the shared default)
    recall_k: int = 5  # list length of image-to-caption recall@k (the shared default)
    k_rule: str = "proportional"  # a subset's k: "proportional" (to its share) or "fixed"
    n_clusters: int = 6  # k-means clusters per clustering
    n_init: int = 10  # k-means starts (best kept)
    min_cluster_size: int = 100  # smaller clusters are left out
    min_group_size: int = 10  # a subset with a group under this size is flagged degenerate
    cluster_space: str = "shared"  # headline k-means view: "shared" or "per_model"
    reference_model: str = ""  # model whose clusters are shared; empty: the first model
    n_boot: int = 200  # bootstrap resamples of images per value
    matched_draws: int = 30  # random subsets per size-matched global value
    sweep_levels: tuple[float, ...] = (0.0, 0.4, 0.8)  # context tilts r of the sweep

    def validate(self) -> None:
        """Check the fields; messages say what to change."""
        for name, allowed in (("dataset", _DATASETS), ("zoo", _ZOOS),
                              ("cluster_space", _SPACES), ("k_rule", ("fixed", "proportional"))):
            if getattr(self, name) not in allowed:
                raise ValueError(f"Params: {name} must be one of {allowed}, got "
                                 f"{getattr(self, name)!r}")
        for name in ("per_cell", "k", "recall_k", "n_clusters", "n_init", "min_cluster_size",
                     "min_group_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"Params: {name} must be >= 1, got {getattr(self, name)}")
        if self.matched_draws < 1:
            raise ValueError(f"Params: matched_draws must be >= 1, got {self.matched_draws}")
        if self.n_boot < 20:
            raise ValueError(f"Params: n_boot must be >= 20 for a 95% interval, got "
                             f"{self.n_boot}")
        levels = tuple(float(v) for v in self.sweep_levels)
        if (len(levels) < 2 or 0.0 not in levels or len(set(levels)) != len(levels)
                or any(not 0.0 <= v < 1.0 for v in levels)):
            raise ValueError("Params: sweep_levels needs at least two distinct values in [0, 1) "
                             f"including 0.0 (the null), got {self.sweep_levels!r}")
        if self.checkpoint and len(self.models) != 1:
            raise ValueError("Params: checkpoint names one file, so models must list exactly "
                             f"one model id, got {len(self.models)}")
        if self.dataset == "synthetic":
            n = evaluation_size(WorldConfig(), per_cell=self.per_cell)
            if self.k > n:
                raise ValueError(f"Params: k={self.k} is larger than the evaluation set "
                                 f"({n} images); lower k or raise per_cell")
            if self.n_clusters > n:
                raise ValueError(f"Params: n_clusters={self.n_clusters} is larger than the "
                                 f"evaluation set ({n} images)")


@dataclass(frozen=True)
class Embedded:
    """One evaluation set embedded by every model.

    ``table``: one row per image (``group``, and on the synthetic world ``context``,
    ``concept``); ``images``/``captions``/``concepts``: model id -> (n, d), (n, d), (c, d);
    ``world``: the synthetic evaluation world (None on real data).
    """

    table: pd.DataFrame
    images: dict[str, np.ndarray]
    captions: dict[str, np.ndarray]
    concepts: dict[str, np.ndarray]
    world: World | None


@dataclass(frozen=True)
class Result:
    """What :func:`run` computed (tidy tables and the parameters)."""

    params: Params
    models: tuple[str, ...]  # model ids, in zoo order
    embedded: Embedded
    global_table: pd.DataFrame  # model, metric, target, k, n_images, value, favoured, ci_low...
    local_table: pd.DataFrame  # view, model, subset, metric, target, k, value, ci..., degenerate
    clusters: pd.DataFrame  # view, model, subset, size, kept (k-means clusters)
    shared_clusters: np.ndarray  # (n,) shared k-means cluster of every image (-1: left out)
    ari: pd.DataFrame  # view, model, ari (vs oracle), ari_group, ari_concept (synthetic only)
    departures: pd.DataFrame  # view, model, metric, target, n_subsets, spread, shares
    taus: pd.DataFrame  # view, metric, target, subset, n_models, tau, p_value
    top_subsets: pd.DataFrame  # view, metric, target, subset, mean local value over models
    sweep: pd.DataFrame  # level, model, metric, target, share_outside_ci, spread, n_images
    sweep_mix: pd.DataFrame  # level, subset, group, share (the oracle subsets' group mixes)


def _synthetic_inputs(params: Params, progress: bool):
    catalog = train_synthetic_zoo(params.zoo, progress=progress)
    model_ids = catalog["model_id"].tolist()
    world = evaluation_set(WorldConfig(), kind="figures", per_cell=params.per_cell,
                           seed=params.seed_for("evaluation"))
    table = world.table()[["item_id", "group", "concept", "context"]]
    names = [f"{article(c.name)} {c.name}" for c in world.config.concepts]
    inputs = {"images": world_manifest(world), "captions": TextSet(tuple(world.captions())),
              "concepts": TextSet(tuple(names), templates=EVAL_DEFAULTS.templates)}
    return model_ids, table, inputs, world, None


def coco_inputs(data_root: str = "") -> tuple[pd.DataFrame, dict]:
    """The real evaluation set: the images of a COCO-style caption set (``data_root``; empty:
    ``<data root>/coco``) whose captions name only men or only women, with their first captions
    and the occupation prompts. Returns ``(table, inputs)``: ``table`` has ``item_id`` and
    ``group`` (``"female"``/``"male"``) per image; ``inputs`` maps ``"images"`` (manifest),
    ``"captions"`` and ``"concepts"`` (:class:`TextSet`) for :func:`run_zoo`."""
    manifest = load_coco_captions(data_root or None, unit="image")
    table = manifest.table[manifest.table["gender"].isin(("female", "male"))]
    if table.empty or table["gender"].nunique() < 2:
        raise ValueError("the COCO-style set has no images whose captions name a man and no "
                         "woman, or the reverse: group metrics need both groups")
    images = make_manifest(table.reset_index(drop=True), root=manifest.root,
                           name="coco-gendered", metadata=manifest.metadata)
    inputs = {"images": images, "captions": TextSet(tuple(images.table["caption"])),
              "concepts": TextSet(occupations("chuang2023-test"),
                                  templates=EVAL_DEFAULTS.templates)}
    return images.table[["item_id", "gender"]].rename(columns={"gender": "group"}), inputs


def _coco_inputs(params: Params):
    from clipbias.zoo.selections import select

    table, inputs = coco_inputs(params.data_root)
    model_ids = list(params.models) if params.checkpoint else select(params.models or
                                                                      "scaling_laws")
    return model_ids, table, inputs, None, params.checkpoint or None


def _embed(params: Params, progress: bool) -> tuple[list[str], Embedded]:
    if params.dataset == "synthetic":
        model_ids, table, inputs, world, checkpoint = _synthetic_inputs(params, progress)
    else:
        model_ids, table, inputs, world, checkpoint = _coco_inputs(params)
    if not model_ids:
        raise ValueError("no models to evaluate: the selection is empty")

    def loader(model_id, **kw):
        return load(model_id, checkpoint=checkpoint, **kw) if checkpoint else load(model_id,
                                                                                     **kw)

    zoo_run = run_zoo(model_ids, inputs, loader=loader, progress=progress)
    pick = {name: {m: zoo_run[m, name].embeddings for m in model_ids} for name in inputs}
    n = len(table)
    if params.k > n or params.recall_k > n:
        raise ValueError(f"k={params.k} or recall_k={params.recall_k} is larger than the "
                         f"evaluation set ({n} images)")
    return model_ids, Embedded(table=table.reset_index(drop=True), images=pick["images"],
                               captions=pick["captions"], concepts=pick["concepts"], world=world)


def tilted_selection(groups: np.ndarray, contexts: np.ndarray, *, level: float, n_groups: int,
                     seed: int) -> np.ndarray:
    """Rows of a balanced set kept so that every context leans to one group by ``level``.

    Context x leans to group x mod G (G = ``n_groups``): it keeps all of that group's images and
    a share 1 - r of every other group's (r = ``level``), drawn without replacement (seeded). With
    as many contexts leaning to each group, the whole set stays balanced while each context's
    group mix moves from the global one (r = 0, every row kept) to 1 : (1 - r). Returns sorted
    row indices.
    """
    if not 0.0 <= level < 1.0:
        raise ValueError(f"level must lie in [0, 1), got {level}")
    rng = np.random.default_rng(seed)
    keep = []
    for x in np.unique(contexts):
        for g in range(n_groups):
            rows = np.flatnonzero((groups == g) & (contexts == x))
            m = rows.shape[0] if g == x % n_groups else round(rows.shape[0] * (1.0 - level))
            keep.append(rng.choice(rows, size=m, replace=False))
    return np.sort(np.concatenate(keep))


def _bias(emb: Embedded, model: str, rows: np.ndarray, subsets: np.ndarray, params: Params,
          seed: int, *, intervals: bool = True, matched: bool = True) -> pd.DataFrame:
    """subset_bias of one model on ``rows`` of the set with subset labels ``subsets``; without
    ``intervals`` no bootstrap, without ``matched`` no size-matched global values."""
    groups = emb.table["group"].to_numpy()[rows]
    return subset_bias(emb.images[model][rows], emb.captions[model][rows], groups, subsets,
                       concept_emb=emb.concepts[model], k=params.k, recall_k=params.recall_k,
                       targets=TARGETS, metrics=METRICS, k_rule=params.k_rule,
                       min_group_size=params.min_group_size,
                       n_boot=params.n_boot if intervals else 0,
                       matched_draws=params.matched_draws if matched else 0, seed=seed)



def _views(params: Params, models: list[str], emb: Embedded
           ) -> tuple[dict[tuple[str, str], np.ndarray], pd.DataFrame]:
    """Subset labels per (view, model) and the k-means clusters table."""
    reference = params.reference_model or models[0]
    if reference not in models:
        raise ValueError(f"Params: reference_model {reference!r} is not among the models")
    seed = params.seed_for("kmeans")
    fits = {m: kmeans_views(emb.images[m], n_clusters=params.n_clusters, seed=seed,
                            n_init=params.n_init, min_cluster_size=params.min_cluster_size)
            for m in models}
    labels, rows = {}, []
    for m in models:
        labels["kmeans_shared", m] = fits[reference].subsets
        labels["kmeans_per_model", m] = fits[m].subsets
        if emb.world is not None:
            labels["oracle", m] = emb.table["context"].to_numpy()
    for view, who in (("kmeans_shared", [reference]), ("kmeans_per_model", models)):
        for m in who:
            for c, size in enumerate(fits[m].sizes):
                rows.append({"view": view, "model": m, "subset": c, "size": int(size),
                             "kept": bool(size >= params.min_cluster_size)})
    return labels, pd.DataFrame(rows)


def _ari(labels: dict, emb: Embedded, models: list[str]) -> pd.DataFrame:
    """ARI of each clustering against the oracle (context) and, to see what the clusters did
    find, against the scenes' groups and concepts."""
    cols = ["view", "model", "ari", "ari_group", "ari_concept"]
    if emb.world is None:
        return pd.DataFrame(columns=cols)
    truth = {c: emb.table[c].to_numpy() for c in ("context", "group", "concept")}
    return pd.DataFrame([{"view": view, "model": m,
                          "ari": partition_agreement(labels[view, m], truth["context"]),
                          "ari_group": partition_agreement(labels[view, m], truth["group"]),
                          "ari_concept": partition_agreement(labels[view, m], truth["concept"])}
                         for view in ("kmeans_shared", "kmeans_per_model") for m in models],
                        columns=cols)


def _top_subsets(local: pd.DataFrame) -> pd.DataFrame:
    ok = local[~local["degenerate"] & local["view"].isin(("kmeans_shared", "oracle"))]
    out = (ok.groupby(["view", "metric", "target", "subset"])["value"].mean()
           .rename("mean_value").reset_index()
           .sort_values(["view", "metric", "target", "mean_value"],
                        ascending=[True, True, True, False]))
    return out.reset_index(drop=True)


def _taus(global_table: pd.DataFrame, local: pd.DataFrame) -> pd.DataFrame:
    frames = []
    for view in ("kmeans_shared", "oracle"):
        for (metric, target), part in local[(local["view"] == view)
                                            & ~local["degenerate"]].groupby(["metric",
                                                                             "target"]):
            glob = global_table[(global_table["metric"] == metric)
                                & (global_table["target"] == target)].set_index("model")["value"]
            tau = kendall_tau_by_subset(glob, part, model="model")
            frames.append(tau.assign(view=view, metric=metric, target=target))
    cols = ["view", "metric", "target", "subset", "n_models", "tau", "p_value"]
    return pd.concat(frames, ignore_index=True)[cols] if frames else pd.DataFrame(columns=cols)


def _sweep(params: Params, models: list[str], emb: Embedded, oracle: pd.DataFrame,
           progress: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Oracle departures at each sweep level; level 0 keeps every image, so its rows are the
    main analysis's (``oracle``: its departures by model)."""
    cols = ["level", "model", "metric", "target", "n_images", "n_subsets", "spread",
            "share_sign_flips", "share_outside_ci", "share_outside_ci_matched"]
    if emb.world is None:
        return pd.DataFrame(columns=cols), pd.DataFrame(columns=["level", "subset", "group",
                                                                 "share"])
    cfg = emb.world.config
    groups = emb.world.groups[:, 0]
    contexts = emb.world.contexts
    out, mixes = [], []
    levels = sorted(float(v) for v in params.sweep_levels)
    for level in progress_bar(levels, desc="context sweep", disable=not progress):
        rows = tilted_selection(groups, contexts, level=level, n_groups=cfg.n_groups,
                                seed=params.seed_for(f"sweep/{level}"))
        ctx = emb.table["context"].to_numpy()[rows]
        mix = pd.crosstab(ctx, emb.table["group"].to_numpy()[rows], normalize="index")
        mixes.append(mix.stack().rename("share").reset_index()
                     .set_axis(["subset", "group", "share"], axis=1).assign(level=level))
        if level == 0.0:
            out.append(oracle.assign(level=level, n_images=int(rows.shape[0])))
            continue
        for m in models:
            seed = params.seed_for(f"bootstrap/sweep/{level}/{m}")
            glob = _bias(emb, m, rows, np.full(rows.shape[0], "all", dtype=object), params,
                         seed, intervals=False, matched=False)
            loc = _bias(emb, m, rows, ctx, params, seed + 1)
            dep = local_departure(glob, loc)
            out.append(dep.assign(level=level, model=m, n_images=int(rows.shape[0])))
    sweep = pd.concat(out, ignore_index=True)[cols]
    mix = pd.concat(mixes, ignore_index=True)[["level", "subset", "group", "share"]]
    return sweep, mix


def run(params: Params, *, progress: bool = True) -> Result:
    """Run every step (module docstring); reproducible for given ``params`` and cached models."""
    if not isinstance(params, Params):
        raise ValueError(f"run expects global_vs_local.Params, got {type(params).__name__}; "
                         "build it with Params(...) or params_from(Params, globals())")
    with one_thread():
        return _run(params, progress)


def _run(params: Params, progress: bool) -> Result:
    models, emb = _embed(params, progress)
    n = len(emb.table)
    everything = np.arange(n)
    labels, clusters = _views(params, models, emb)
    glob, local = [], []
    bar = progress_bar(models, desc="global and local bias", disable=not progress)
    for m in bar:
        seed = params.seed_for(f"bootstrap/{m}")
        g = _bias(emb, m, everything, np.full(n, "all", dtype=object), params, seed,
                  matched=False)
        glob.append(g.drop(columns=["subset", "degenerate"]).assign(model=m))
        for i, view in enumerate(VIEWS):
            if (view, m) in labels:
                shared = view != "kmeans_per_model"  # per-model clusters: spreads only
                part = _bias(emb, m, everything, labels[view, m], params, seed + 1 + i,
                             intervals=shared, matched=shared)
                local.append(part.assign(view=view, model=m))
    global_table = pd.concat(glob, ignore_index=True)
    local_table = pd.concat(local, ignore_index=True)
    local_table["subset"] = local_table["subset"].astype(str)
    departures = pd.concat(
        [local_departure(global_table, local_table[local_table["view"] == v], by=("model",))
         .assign(view=v) for v in local_table["view"].unique()], ignore_index=True)
    ari = _ari(labels, emb, models)
    sweep, mix = _sweep(params, models, emb, departures[departures["view"] == "oracle"],
                        progress)
    return Result(params=params, models=tuple(models), embedded=emb, global_table=global_table,
                  local_table=local_table, clusters=clusters,
                  shared_clusters=labels["kmeans_shared", models[0]], ari=ari,
                  departures=departures,
                  taus=_taus(global_table, local_table), top_subsets=_top_subsets(local_table),
                  sweep=sweep, sweep_mix=mix)


def _headline_view(result: Result) -> str:
    return f"kmeans_{result.params.cluster_space}"


def glue_values(result: Result) -> dict[str, float | int | str]:
    """Every number the chapter's prose cites, by glue key.

    Counts: ``n_models``, ``n_images`` (evaluation set), ``n_clusters_kept`` and
    ``n_clusters_flagged`` (k-means subsets of the headline view, ``cluster_space``, summed over
    the models for ``per_model``: kept = large enough and every group at least
    ``min_group_size``; flagged = left out as too small or degenerate), ``n_clusters_small``
    (of the flagged, those under ``min_cluster_size``).
    Agreement: ``cluster_oracle_ari`` (median over models of the adjusted Rand index of the
    headline clusters against the oracle partition; NaN on real data), ``cluster_group_ari``
    and ``cluster_concept_ari`` (the same against the scenes' groups and concepts).
    Recall-KL: ``global_kl_mean`` (mean over models of the global recall-KL), ``local_kl_spread``
    and ``oracle_kl_spread`` (mean over models of the RMS deviation of local recall-KL values
    from the global one, headline k-means view and oracle).
    Directions: ``share_sign_flips`` and ``oracle_share_sign_flips`` (share of non-degenerate
    subset x metric x target values, over models, whose favoured group differs from the global
    one).
    Rankings: ``kendall_tau_median`` and ``oracle_kendall_tau_median`` (median over subsets,
    metrics and targets of Kendall tau between the models' global and local rankings; shared
    clusters and oracle).
    Intervals: ``share_outside_ci_kmeans`` and ``share_outside_ci_oracle`` (share of local
    values, uniform target, recall-KL included, whose bootstrap interval excludes the
    size-matched global value, on the full set); ``share_outside_ci_null`` and
    ``share_outside_ci_planted`` (the same for the oracle partition at the sweep's level 0 and
    its highest level, mean over models of the per-model, per-metric shares);
    ``share_outside_ci_null_dataset`` and ``share_outside_ci_planted_dataset`` (the same under
    the ``dataset`` target); ``sweep_high`` (the highest sweep level).
    """
    p = result.params
    view = _headline_view(result)
    local = result.local_table
    km = local[local["view"] == view]
    if view == "kmeans_shared":  # one clustering, the same subsets for every model
        km = km[km["model"] == km["model"].iloc[0]]
    by_subset = km.groupby(["model", "subset"])["degenerate"].any().reset_index()
    clusters = result.clusters[result.clusters["view"] == view]
    n_small = int((~clusters["kept"]).sum())
    dep = result.departures

    def mean_of(view_name: str, column: str, **where) -> float:
        d = dep[dep["view"] == view_name]
        for key, value in where.items():
            d = d[d[key] == value]
        return float(d[column].mean()) if len(d) else float("nan")

    def shares(view_name: str, target: str) -> float:
        d = local[(local["view"] == view_name) & ~local["degenerate"]
                  & (local["target"] == target)]
        out = (d["matched"] < d["ci_low"]) | (d["matched"] > d["ci_high"])
        return float(out.mean()) if len(out) else float("nan")

    def sweep_share(level: float, target: str) -> float:
        s = result.sweep[(result.sweep["level"] == level) & (result.sweep["target"] == target)]
        return float(s["share_outside_ci_matched"].mean()) if len(s) else float("nan")

    def tau_median(view_name: str) -> float:
        t = result.taus[result.taus["view"] == view_name]["tau"].dropna()
        return float(t.median()) if len(t) else float("nan")

    high = max(float(v) for v in p.sweep_levels)
    ari = result.ari[result.ari["view"] == view]
    return {
        "n_models": len(result.models),
        "n_images": len(result.embedded.table),
        "n_clusters_kept": int((~by_subset["degenerate"]).sum()),
        "n_clusters_flagged": n_small + int(by_subset["degenerate"].sum()),
        "n_clusters_small": n_small,
        "cluster_oracle_ari": float(ari["ari"].median()) if len(ari) else float("nan"),
        "cluster_group_ari": float(ari["ari_group"].median()) if len(ari) else float("nan"),
        "cluster_concept_ari": (float(ari["ari_concept"].median()) if len(ari)
                                else float("nan")),
        "global_kl_mean": float(result.global_table.loc[
            result.global_table["metric"] == "recall_kl", "value"].mean()),
        "local_kl_spread": mean_of(view, "spread", metric="recall_kl"),
        "oracle_kl_spread": mean_of("oracle", "spread", metric="recall_kl"),
        "share_sign_flips": mean_of(view, "share_sign_flips"),
        "oracle_share_sign_flips": mean_of("oracle", "share_sign_flips"),
        "kendall_tau_median": tau_median("kmeans_shared"),
        "oracle_kendall_tau_median": tau_median("oracle"),
        "share_outside_ci_kmeans": shares(view, "uniform"),
        "share_outside_ci_oracle": shares("oracle", "uniform"),
        "share_outside_ci_null": sweep_share(0.0, "uniform"),
        "share_outside_ci_planted": sweep_share(high, "uniform"),
        "share_outside_ci_null_dataset": sweep_share(0.0, "dataset"),
        "share_outside_ci_planted_dataset": sweep_share(high, "dataset"),
        "sweep_high": high,
    }
