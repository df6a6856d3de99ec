"""Intrinsic bias across the model zoo: upstream factors and downstream performance.

Reproduces and extends Ghate et al. (NAACL 2025): the EAT battery on every model of a zoo, the
aggregate effect sizes, the paper's mixed-effects regression of d on upstream factors, a
model-aware fit beside it (with a coverage simulation of both on this zoo's layout), the
correlation of d with downstream performance, a random-initialisation baseline and a
sensitivity analysis. Methods: ``book/methods/zoo_regression.md``.

Steps of :func:`run` (random steps seeded from ``Params.seed`` by name):

1. ``select``: the models and their upstream factors (:func:`model_table`): the synthetic zoo
   profile ``zoo`` (trained or fetched) when ``selection="synthetic"``, else catalog ids or a
   named selection (``paper_131``, ``all_unique``, ``scaling_laws``), with user checkpoints and a
   factors file for models the catalog does not list; the downstream score of each
   (:func:`clipbias.zoo.downstream.downstream_scores`);
2. ``embed``: every stimulus set with every model through the embedding store, one load per
   model (local, or one Ray task per model with ``executor="ray"``);
3. ``battery``: :func:`clipbias.metrics.run_eat_battery` over all models x tests (step seed
   ``"permutations"``): d, p, bootstrap CI of d, Holm and BH adjusted p;
4. ``aggregate``: mean and SD of d per category x order; the shares of cases with d >= 0.2 and
   d > 0 with model-bootstrap intervals (seed ``"shares"``);
5. ``paper fit``: ``d ~ log_params + architecture_family + dataset_family + log_dataset_size``
   (natural logs, z-scored), random intercept and slopes of both logs by category x order, REML
   (:func:`clipbias.metrics.fit_mixedlm`), on the battery categories ``Params.categories``
   (default: every category on real models; on the synthetic zoo the categories whose planted
   knob differs between the zoo's datasets, :func:`planted_categories`, the others being
   negative controls shown per category);
6. ``model-aware fit``: the same fixed effects with the model as a variance component
   (:func:`clipbias.metrics.regression.fit_model_aware`), and a coverage simulation of both
   specifications on this zoo's layout (seed ``"coverage"``), and the model-aware fit per
   category and on all tests pooled;
7. ``performance``: Pearson r (Fisher interval) of d with the downstream score per category x
   order;
8. ``beyond``: the battery on untrained models of each architecture (seed ``"random_init"``),
   the model-aware fit without one dataset family at a time, and a fit with the architecture as
   a random effect.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import torch

from clipbias.data.battery import battery as real_battery
from clipbias.data.stimulus import EATSpec
from clipbias.data.synthetic import PRETRAINING_DATASETS, eat_specs, planted_truth
from clipbias.interventions.train import train_synthetic_zoo
from clipbias.metrics import EATRecord, run_eat_battery
from clipbias.metrics.cluster_bootstrap import cluster_share
from clipbias.metrics.regression import MixedLMFit, MixedLMFitError, fit_mixedlm, fit_model_aware
from clipbias.metrics.regression_sim import simulate_coverage
from clipbias.metrics.stats import correlation_table
from clipbias.progress import progress as progress_bar
from clipbias.studies._contract import StudyParams, checkpoint_paths
from clipbias.studies._models import ModelLoader, battery_records, device_for, embed_battery
from clipbias.zoo import select, selection_table
from clipbias.zoo.downstream import downstream_scores
from clipbias.zoo.random_init import random_init_id
from clipbias.zoo.selections import SELECTIONS

__all__ = ["FORMULA", "Params", "Result", "check_references", "fit_specifications", "fit_table",
           "glue_values", "key_part", "model_table", "planted_categories", "regression_rows",
           "run"]

#: Fixed part of both fits (the paper's).
FORMULA = "d ~ log_params + architecture_family + dataset_family + log_dataset_size"
_LOGS = ("log_params", "log_dataset_size")
_FACTOR_COLUMNS = ("model_id", "arch", "arch_family", "dataset_family", "dataset_size",
                   "params_total")


@dataclass(frozen=True)
class Params(StudyParams):
    """Parameters of the zoo chapter (the notebook's ``parameters`` cell mirrors them)."""

    seed: int = 0  # study seed: stimuli, permutations, bootstraps, simulation, untrained models
    selection: str | tuple[str, ...] = "synthetic"  # "synthetic", a catalog selection or model ids
    zoo: Literal["ci", "default"] = "ci"  # synthetic zoo profile (selection "synthetic")
    checkpoints: tuple[str, ...] = ()  # weights of your own models: ARCH/TAG, equals sign, path
    factors_file: str = ""  # CSV of upstream factors of models the catalog does not list
    data_root: str = ""  # folder of the real stimuli (iEAT, OASIS); empty: CLIPBIAS_DATA
    categories: tuple[str, ...] = ()  # battery categories of the fits; empty: planted or all (see doc)
    n_images: int = 24  # images per synthetic image stimulus set
    n_permutations: int = 2000  # permutations per EAT p-value (the paper: 10**6)
    n_bootstrap: int = 200  # bootstrap resamples of each d interval and of the shares
    dataset_reference: str = ""  # reference dataset family; empty: the first in sorted order
    arch_reference: str = ""  # reference architecture family; empty: the first in sorted order
    coverage_datasets: int = 20  # simulated datasets of the coverage check; 0 skips it
    random_init: bool = True  # also run the battery on untrained models of each architecture
    device: str = "auto"  # "auto" (CUDA when present), "cpu" or "cuda"
    executor: Literal["local", "ray"] = "local"  # embed one model after another, or with Ray

    def validate(self) -> None:
        """Check the fields; messages say what to change."""
        if isinstance(self.selection, tuple):
            if not self.selection:
                raise ValueError("Params: selection is an empty list; name a selection "
                                 f"({sorted(SELECTIONS)}) or list model ids 'ARCH/TAG'")
        elif self.selection not in SELECTIONS and "/" not in self.selection:
            raise ValueError(f"Params: selection must be one of {sorted(SELECTIONS)} or model "
                             f"ids 'ARCH/TAG', got {self.selection!r}")
        checkpoint_paths(self.checkpoints)
        if self.factors_file and not Path(self.factors_file).is_file():
            raise ValueError(f"Params: factors_file {self.factors_file!r} does not exist")
        if self.n_images < 2:
            raise ValueError(f"Params: n_images must be >= 2, got {self.n_images}")
        if self.n_permutations < 1:
            raise ValueError(f"Params: n_permutations must be >= 1, got {self.n_permutations}")
        if self.n_bootstrap < 1:
            raise ValueError(f"Params: n_bootstrap must be >= 1, got {self.n_bootstrap}")
        if self.coverage_datasets < 0:
            raise ValueError("Params: coverage_datasets must be >= 0 (0 skips the simulation), "
                             f"got {self.coverage_datasets}")
        if len(set(self.categories)) != len(self.categories):
            raise ValueError(f"Params: categories lists a category twice: {self.categories}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"Params: device must be 'auto', 'cpu' or 'cuda', got {self.device!r}")

    @property
    def synthetic(self) -> bool:
        """Whether the study runs on the synthetic zoo."""
        return self.selection == "synthetic"

    def checkpoint_map(self) -> dict[str, str]:
        """``checkpoints`` as ``{model id: path}``."""
        return checkpoint_paths(self.checkpoints)


@dataclass(frozen=True)
class Result:
    """What :func:`run` computed (tidy tables, fits and scalars)."""

    params: Params
    models: pd.DataFrame  # one row per model: factors, logs, downstream scores
    coverage_table: pd.DataFrame  # models per architecture family x dataset family
    missing_downstream: pd.DataFrame  # models without a downstream figure, with the reason
    battery: pd.DataFrame  # one row per model x test: BATTERY_COLUMNS + category, order, name
    aggregate: pd.DataFrame  # per category x order: n, mean, sd of d
    shares: pd.DataFrame  # per condition (d >= 0.2, d > 0): share with model-bootstrap CI
    categories: tuple[str, ...]  # battery categories the fits and correlations use
    paper_fit: MixedLMFit  # the paper's specification
    paper_re_formula: str  # random-effects formula the paper fit used (see fit notes)
    model_fit: MixedLMFit  # the model-aware fit
    model_slopes: tuple[str, ...]  # random slopes the model-aware fit kept
    fit_notes: tuple[str, ...]  # fallbacks taken while fitting, in words
    coefficients: pd.DataFrame  # both fits' coefficient tables, column "fit"
    category_fits: pd.DataFrame  # model-aware family coefficients per category and pooled
    coverage: pd.DataFrame  # per specification: coverage, false-positive rate, ... (may be empty)
    correlations: pd.DataFrame  # per category x order x score: r, p, CI, Holm/BH p
    random_init: pd.DataFrame  # battery rows of the untrained models (may be empty)
    sensitivity: pd.DataFrame  # family coefficients of the model-aware fit leaving one out


def key_part(text: str) -> str:
    """A glue-key fragment: lower case, runs of other characters as one ``_``
    (``"Insect-Flower"`` -> ``"insect_flower"``)."""
    return re.sub(r"[^a-z0-9]+", "_", str(text).lower()).strip("_")


# --- step 1: models and factors ------------------------------------------------------------


def _factors_from_file(path: str, ids: list[str]) -> pd.DataFrame:
    table = pd.read_csv(path)
    lacking = [c for c in _FACTOR_COLUMNS if c not in table.columns]
    if lacking:
        raise ValueError(f"factors_file {path!r} lacks the columns {lacking}; it needs "
                         f"{list(_FACTOR_COLUMNS)} (and optionally downstream_score)")
    table = table[table["model_id"].isin(ids)].copy()
    if "downstream_score" not in table.columns:
        table["downstream_score"] = np.nan
    table["source"] = "factors_file"
    table["alias_of"] = None
    table["pretraining_dataset"] = table.get("pretraining_dataset", table["dataset_family"])
    return table


def model_table(params: Params, *, progress: bool = True) -> pd.DataFrame:
    """One row per model of the selection: ``model_id``, ``arch``, ``arch_family``,
    ``pretraining_dataset``, ``dataset_family``, ``dataset_size``, ``params_total``, ``source``,
    ``log_params`` = ln(params_total), ``log_dataset_size`` = ln(dataset_size), and the downstream
    ``vtab_plus``, ``average_38`` with ``missing_reason``.

    Synthetic selection: trains (or fetches) the zoo profile ``params.zoo``. Otherwise catalog
    rows of :func:`clipbias.zoo.selection_table`, and rows of ``params.factors_file`` for ids the
    catalog does not list. A model lacking a factor raises ``ValueError`` naming it.
    """
    if params.synthetic:
        table = train_synthetic_zoo(params.zoo, progress=progress)
        if table["downstream_score"].isna().any():
            raise RuntimeError("a synthetic zoo model has no zero-shot accuracy; retrain it")
    else:
        ids = _model_ids(params)
        listed = set(select("all")) | {m for m in ids if m.startswith("synthetic-")}
        own = [m for m in ids if m not in listed]
        parts = []
        if len(own) < len(ids):
            parts.append(selection_table([m for m in ids if m not in own]))
        if own:
            if not params.factors_file:
                raise ValueError(f"models not in the catalog need their upstream factors: "
                                 f"{own[:5]}; write them to a CSV with the columns "
                                 f"{list(_FACTOR_COLUMNS)} and pass it as factors_file")
            extra = _factors_from_file(params.factors_file, own)
            absent = sorted(set(own) - set(extra["model_id"]))
            if absent:
                raise ValueError(f"factors_file has no row for {absent[:5]}")
            parts.append(extra)
        table = pd.concat(parts, ignore_index=True).set_index("model_id").loc[ids].reset_index()
    table = table.reset_index(drop=True)
    for col in ("dataset_size", "params_total"):
        bad = table.loc[~(pd.to_numeric(table[col], errors="coerce") > 0), "model_id"].tolist()
        if bad:
            raise ValueError(f"{col} is missing or not positive for {bad[:5]}: give it in "
                             "factors_file or drop those models from the selection")
    for col in ("arch_family", "dataset_family"):
        bad = table.loc[table[col].isna(), "model_id"].tolist()
        if bad:
            raise ValueError(f"{col} is missing for {bad[:5]}")
    scores = downstream_scores(table["model_id"].tolist(), table)
    out = table[["model_id", "arch", "arch_family", "pretraining_dataset", "dataset_family",
                 "dataset_size", "params_total", "source"]].copy()
    out["log_params"] = np.log(out["params_total"].astype(float))
    out["log_dataset_size"] = np.log(out["dataset_size"].astype(float))
    return pd.concat([out, scores[["vtab_plus", "average_38", "missing_reason"]]], axis=1)


def _model_ids(params: Params) -> list[str]:
    if isinstance(params.selection, tuple):
        ids = list(params.selection)
        known = set(select("all"))
        checked = [m for m in ids if m in known or m.startswith("synthetic-")]
        if checked:
            select(checked)  # unknown synthetic ids raise here
        missing = [m for m in ids if m not in known and m not in params.checkpoint_map()
                   and not m.startswith("synthetic-")]
        if missing:
            select(missing)  # raises UnknownModelError naming the closest ids
        return ids
    return select(params.selection)


def planted_categories() -> tuple[str, ...]:
    """The synthetic battery's categories whose association differs between the zoo's datasets
    (:func:`clipbias.data.synthetic.planted_truth`): ``Concept`` when the planted association
    varies, ``Context`` when the context correlation varies. The regressions of the synthetic
    zoo use these by default; the others are negative controls (nothing differs to find)."""
    truth = planted_truth()
    knobs = {"Concept": "planted_association", "Context": "context_correlation"}
    return tuple(cat for cat, knob in knobs.items() if truth[knob].nunique() > 1)


def _fit_categories(params: Params, battery: pd.DataFrame) -> tuple[str, ...]:
    present = sorted(battery["category"].unique())
    if params.categories:
        unknown = sorted(set(params.categories) - set(present))
        if unknown:
            raise ValueError(f"categories {unknown} are not in the battery; its categories are "
                             f"{present}")
        return tuple(params.categories)
    if params.synthetic:
        return tuple(c for c in planted_categories() if c in present)
    return tuple(present)


# --- steps 2-3: embed and run the battery -----------------------------------------------------


def _synthetic_battery(params: Params) -> list[EATSpec]:
    """The synthetic battery: every zoo dataset shares one assignment, so any dataset's config
    gives the same tests."""
    config = next(iter(PRETRAINING_DATASETS.values())).config
    return eat_specs(config, seed=params.seed_for("stimuli"), n_images=params.n_images)


def _embed_all(ids: list[str], params: Params, loader: ModelLoader, device: str, *,
               progress: bool) -> tuple[list[EATSpec], list[EATRecord]]:
    """Load each model once (the first before any stimulus is read, so missing weights fail
    fast), build the battery, embed it; return the specs and the battery records."""
    specs: list[EATSpec] | None = _synthetic_battery(params) if params.synthetic else None
    records: list[EATRecord] = []
    if params.executor == "ray":
        return _embed_ray(ids, params, loader, device, specs)
    with torch.no_grad():
        for mid in progress_bar(ids, desc="embed", unit="model", disable=not progress):
            model = loader(mid, device=device)
            if specs is None:
                specs = real_battery(data_root=params.data_root or None)
            records += battery_records(mid, specs, embed_battery(model, specs, device))
            del model
    return specs, records


def _embed_ray(ids: list[str], params: Params, loader: ModelLoader, device: str,
               specs: list[EATSpec] | None) -> tuple[list[EATSpec], list[EATRecord]]:
    """The same embeddings with one Ray task per model (:func:`clipbias.embed.run_zoo`)."""
    from clipbias.data.manifest import make_manifest
    from clipbias.embed import TextSet, run_zoo

    if specs is None:
        specs = real_battery(data_root=params.data_root or None)
    inputs: dict = {}
    for spec in specs:
        for s in (spec.x, spec.y, spec.a, spec.b):
            name = f"{s.modality}:{s.name}"
            if name in inputs:
                continue
            if s.modality == "image":
                paths = [str(p) for p in s.paths()]
                inputs[name] = make_manifest(pd.DataFrame({
                    "item_id": [str(i) for i in range(len(paths))], "split": "stimuli",
                    "image_path": paths}), name=name)
            else:
                inputs[name] = TextSet(tuple(s.items))
    run = run_zoo(ids, inputs, executor="ray", device=device, loader=loader, progress=False)
    records = []
    for mid in ids:
        emb = {(n.split(":", 1)[1], n.split(":", 1)[0]): run[mid, n].embeddings for n in inputs}
        records += battery_records(mid, specs, emb)
    return specs, records


@contextlib.contextmanager
def _bars(show: bool) -> Iterator[None]:
    """Hide the progress bars of the kernels called inside (``CLIPBIAS_PROGRESS=0``) unless
    ``show``."""
    before = os.environ.get("CLIPBIAS_PROGRESS")
    if not show:
        os.environ["CLIPBIAS_PROGRESS"] = "0"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("CLIPBIAS_PROGRESS", None)
        else:
            os.environ["CLIPBIAS_PROGRESS"] = before


def _battery_table(specs: list[EATSpec], records: list[EATRecord], params: Params,
                   device: str, *, progress: bool = True) -> pd.DataFrame:
    with _bars(progress):
        table = run_eat_battery(records, device=device, n_permutations=params.n_permutations,
                                seed=params.seed_for("permutations"),
                                n_bootstrap=params.n_bootstrap)
    info = pd.DataFrame([{"test": s.name, "category": s.category, "order": s.order,
                          "definition": s.test} for s in specs])
    return table.merge(info, on="test", how="left")


# --- steps 4-8 -------------------------------------------------------------------------------


def _aggregate(battery: pd.DataFrame) -> pd.DataFrame:
    return (battery.groupby(["category", "order"], sort=True)["d"]
            .agg(n="count", mean="mean", sd="std").reset_index())


def _shares(battery: pd.DataFrame, params: Params) -> pd.DataFrame:
    rows = []
    for name, strict in (("d >= 0.2", False), ("d > 0", True)):
        threshold = 0.2 if not strict else 0.0
        s = cluster_share(battery["d"].to_numpy(), battery["model"].to_numpy(),
                          threshold=threshold, strict=strict, n_bootstrap=params.n_bootstrap,
                          seed=params.seed_for("shares"))
        rows.append({"condition": name, "share": s.share, "ci_low": s.ci_low,
                     "ci_high": s.ci_high, "n_cases": s.n_cases, "n_models": s.n_clusters})
    return pd.DataFrame(rows)


def regression_rows(battery: pd.DataFrame, models: pd.DataFrame) -> pd.DataFrame:
    """The long table both fits use: one row per model x test, columns ``d``, ``model``,
    ``category``, ``order``, ``arch``, ``architecture_family``, ``dataset_family``,
    ``log_params``, ``log_dataset_size``."""
    factors = models.rename(columns={"model_id": "model", "arch_family": "architecture_family"})
    rows = battery[["model", "test", "category", "order", "d"]].merge(
        factors[["model", "arch", "architecture_family", "dataset_family", *_LOGS]], on="model",
        how="left")
    return rows


def check_references(models: pd.DataFrame, params: Params) -> None:
    """Raise ``ValueError`` if a chosen reference level is not a family of the selected models
    (``models``: :func:`model_table`), naming the families present."""
    for col, chosen, what in (("dataset_family", params.dataset_reference, "dataset_reference"),
                              ("arch_family", params.arch_reference, "arch_reference")):
        present = sorted(models[col].unique())
        if chosen and chosen not in present:
            raise ValueError(f"{what} {chosen!r} is not a {col} of the selected models "
                             f"(present: {present}); choose one of these")


def _references(rows: pd.DataFrame, params: Params) -> dict[str, str]:
    refs = {}
    for col, chosen in (("dataset_family", params.dataset_reference),
                        ("architecture_family", params.arch_reference)):
        refs[col] = chosen or sorted(rows[col].unique())[0]
    return refs


def _varying(rows: pd.DataFrame) -> tuple[list[str], str]:
    """The formula's terms that vary in ``rows`` (a constant column cannot be estimated)."""
    terms = [t for t in ("log_params", "architecture_family", "dataset_family",
                         "log_dataset_size") if rows[t].nunique() > 1]
    if not any(t == "dataset_family" for t in terms):
        raise ValueError("every model has the same dataset family: the regression needs at "
                         "least two; select more models")
    return terms, "d ~ " + " + ".join(terms)


def fit_specifications(rows: pd.DataFrame, refs: dict[str, str], notes: list[str]
                       ) -> tuple[MixedLMFit, str, MixedLMFit, tuple[str, ...]]:
    """Fit the paper's specification and the model-aware fit on ``rows``
    (:func:`regression_rows`): the formula's terms that vary, logs z-scored, reference levels
    ``refs``; random slopes of the logs, dropped (with a line in ``notes``) when no optimiser
    gives a usable fit with them. Returns ``(paper fit, its random-effects formula, model-aware
    fit, its slopes)``. A rank-deficient design raises ``ValueError`` naming the confounded
    columns."""
    terms, formula = _varying(rows)
    logs = [c for c in _LOGS if c in terms]
    refs = {k: v for k, v in refs.items() if k in terms}
    common = {"standardize": logs, "reference_levels": refs}
    re_formula = "~ " + " + ".join(logs) if logs else None
    try:
        paper = fit_mixedlm(rows, formula, groups=["category", "order"], re_formula=re_formula,
                            **common)
    except MixedLMFitError as err:
        notes.append(f"paper's specification with random slopes did not fit ({err}); refitted "
                     "with a random intercept only")
        re_formula = None
        paper = fit_mixedlm(rows, formula, groups=["category", "order"], **common)
    slopes = tuple(logs)
    try:
        aware = fit_model_aware(rows, formula, model="model", groups=["category", "order"],
                                slopes=slopes, **common)
    except MixedLMFitError as err:
        notes.append(f"model-aware fit with random slopes did not fit ({err}); refitted "
                     "without them")
        slopes = ()
        aware = fit_model_aware(rows, formula, model="model", groups=["category", "order"],
                                **common)
    return paper, re_formula or "~ 1", aware, slopes


def fit_table(fit: MixedLMFit, name: str) -> pd.DataFrame:
    """A fit's coefficient table with a ``fit`` column and readable ``label``s
    (``dataset_family[T.skew]`` -> ``dataset family: skew``)."""
    table = fit.coefficients.copy()
    table.insert(0, "fit", name)
    table["label"] = table["term"].map(_label)
    return table


def _label(term: str) -> str:
    m = re.match(r"(\w+)\[T\.(.+)\]$", term)
    if m:
        return f"{m[1].replace('_', ' ')}: {m[2]}"
    return {"log_params": "log params (z)", "log_dataset_size": "log dataset size (z)"}.get(
        term, term)


def _coverage(rows: pd.DataFrame, models: pd.DataFrame, fit: MixedLMFit, refs: dict[str, str],
              params: Params, *, progress: bool) -> pd.DataFrame:
    """Coverage of both specifications on this zoo's layout: the model-aware fit's estimates
    as the truth (``log_dataset_size`` set to 0, the null term), its variance components as
    the random parts; coefficient: the dataset family with the largest estimate."""
    if params.coverage_datasets == 0 or "log_dataset_size" not in rows or \
            rows["log_dataset_size"].nunique() < 2:
        return pd.DataFrame()
    terms, formula = _varying(rows)
    coef = fit.coefficients.set_index("term")["estimate"]
    families = [t for t in coef.index if t.startswith("dataset_family[")]
    target = max(families, key=lambda t: coef[t])
    truth = {t: float(v) for t, v in coef.items() if t != "log_dataset_size"}
    truth["log_dataset_size"] = 0.0
    vc = fit.variance_components.set_index("component")["variance"]
    table = models.rename(columns={"model_id": "model", "arch_family": "architecture_family"})
    cells = rows.groupby(["category", "order"]).ngroups
    n_tests = rows["category"].nunique()
    if cells != n_tests * rows["order"].nunique():
        n_tests = cells
    logs = [c for c in _LOGS if c in terms]
    sim = simulate_coverage(
        table[["model", "architecture_family", "dataset_family", *_LOGS]], formula=formula,
        truth=truth, coefficient=target, null_term="log_dataset_size", n_tests=n_tests,
        n_orders=cells // n_tests, group_sd=math.sqrt(max(float(vc.get("group", 0.0)), 0.0)),
        model_sd=math.sqrt(max(float(vc.get("model", 0.0)), 0.0)),
        residual_sd=math.sqrt(max(float(fit.residual_variance), 1e-12)), standardize=logs,
        reference_levels={k: v for k, v in refs.items() if k in terms},
        n_datasets=params.coverage_datasets, seed=params.seed_for("coverage"),
        progress_bar=progress)
    return sim.summary.assign(coefficient=target, truth=sim.truth)


def _correlations(battery: pd.DataFrame, models: pd.DataFrame) -> pd.DataFrame:
    scores = models[["model_id", "vtab_plus", "average_38"]].rename(columns={"model_id": "model"})
    data = battery[["model", "category", "order", "d"]].merge(scores, on="model")
    out = []
    for score in ("vtab_plus", "average_38"):
        part = data.dropna(subset=[score])
        ok = part.groupby(["category", "order"])[score].transform(
            lambda s: s.nunique() > 1 and len(s) >= 4)
        part = part[ok.astype(bool)]
        if part.empty:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            table = correlation_table(part, x="d", y=score, by=["category", "order"])
        out.append(table.assign(score=score))
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame()


def _random_init(models: pd.DataFrame, specs: list[EATSpec], params: Params, loader: ModelLoader,
                 device: str, *, progress: bool) -> pd.DataFrame:
    if not params.random_init:
        return pd.DataFrame()
    seed = params.seed_for("random_init") % (2**31)
    ids = [random_init_id(arch, seed=seed) for arch in sorted(models["arch"].unique())]
    records = []
    with torch.no_grad():
        for mid in progress_bar(ids, desc="untrained models", unit="model",
                                disable=not progress):
            records += battery_records(mid, specs, embed_battery(loader(mid, device=device), specs,
                                                         device))
    table = _battery_table(specs, records, params, device, progress=progress)
    return table.assign(arch=table["model"].str.split("/").str[0])


def _category_fits(rows: pd.DataFrame, refs: dict[str, str], slopes: tuple[str, ...]
                   ) -> pd.DataFrame:
    """Family coefficients of the model-aware fit within each category and on all tests
    pooled (``scope`` = the category or ``"all tests"``)."""
    out = []
    scopes = [(c, rows[rows["category"] == c]) for c in sorted(rows["category"].unique())]
    for scope, part in [*scopes, ("all tests", rows)]:
        terms, formula = _varying(part)
        try:
            fit = fit_model_aware(part, formula, model="model", groups=["category", "order"],
                                  slopes=[s for s in slopes if s in terms],
                                  standardize=[c for c in _LOGS if c in terms],
                                  reference_levels={k: v for k, v in refs.items() if k in terms})
        except (MixedLMFitError, ValueError) as err:
            out.append(pd.DataFrame([{"scope": scope, "term": "", "label": f"failed: {err}"}]))
            continue
        out.append(fit_table(fit, "model-aware").assign(scope=scope))
    table = pd.concat(out, ignore_index=True)
    return table[table["term"].str.startswith("dataset_family[") | (table["term"] == "")]


def _architecture_random(rows: pd.DataFrame, refs: dict[str, str]) -> pd.DataFrame:
    """The family coefficients with the architecture as a random effect: ``d ~ log_params +
    dataset_family + log_dataset_size + C(cell)`` (a fixed mean per category x order cell), a
    random intercept per architecture (:func:`fit_mixedlm` grouped by ``arch``)."""
    terms, _ = _varying(rows)
    fixed = [t for t in terms if t != "architecture_family"]
    data = rows.assign(cell=rows["category"] + " " + rows["order"])
    formula = "d ~ " + " + ".join([*fixed, "C(cell)"])
    name = "architecture random"
    if data["arch"].nunique() < 2:
        return pd.DataFrame([{"fit": name, "left_out": "none", "term": "",
                              "label": "skipped: a single architecture"}])
    try:
        fit = fit_mixedlm(data, formula, groups="arch",
                          standardize=[c for c in _LOGS if c in terms],
                          reference_levels={"dataset_family": refs["dataset_family"]})
    except (MixedLMFitError, ValueError) as err:
        return pd.DataFrame([{"fit": name, "left_out": "none", "term": "",
                              "label": f"failed: {err}"}])
    return fit_table(fit, name).assign(left_out="none")


def _sensitivity(rows: pd.DataFrame, refs: dict[str, str], slopes: tuple[str, ...],
                 full: MixedLMFit) -> pd.DataFrame:
    """Dataset-family coefficients of the model-aware fit on all models, without each family in
    turn (the reference moves to the first remaining family when the reference is left out), and
    with the architecture as a random effect (:func:`_architecture_random`)."""
    out = [fit_table(full, "all families").assign(left_out="none"),
           _architecture_random(rows, refs)]
    for family in sorted(rows["dataset_family"].unique()):
        part = rows[rows["dataset_family"] != family]
        if part["dataset_family"].nunique() < 2:
            continue
        terms, formula = _varying(part)
        r = {k: (v if v in set(part[k]) else sorted(part[k].unique())[0])
             for k, v in refs.items() if k in terms}
        try:
            fit = fit_model_aware(part, formula, model="model", groups=["category", "order"],
                                  slopes=[s for s in slopes if s in terms],
                                  standardize=[c for c in _LOGS if c in terms],
                                  reference_levels=r)
        except (MixedLMFitError, ValueError) as err:
            out.append(pd.DataFrame([{"fit": f"without {family}", "left_out": family,
                                      "term": "", "label": f"failed: {err}"}]))
            continue
        out.append(fit_table(fit, f"without {family}").assign(left_out=family))
    table = pd.concat(out, ignore_index=True)
    return table[table["term"].str.startswith("dataset_family[") | (table["term"] == "")]


def run(params: Params, *, progress: bool = True) -> Result:
    """Run every step (see the module docstring) and return the :class:`Result`."""
    if not isinstance(params, Params):
        raise ValueError(f"run expects zoo_intrinsic_bias.Params, got {type(params).__name__}")
    device = device_for(params.device)
    loader = ModelLoader(params.checkpoint_map())
    if not params.synthetic:
        loader(_model_ids(params)[0], device="cpu")  # missing weights fail here, in seconds
    models = model_table(params, progress=progress)
    check_references(models, params)
    ids = models["model_id"].tolist()
    specs, records = _embed_all(ids, params, loader, device, progress=progress)
    battery = _battery_table(specs, records, params, device, progress=progress)
    categories = _fit_categories(params, battery)
    all_rows = regression_rows(battery, models)
    rows = all_rows[all_rows["category"].isin(categories)]
    refs = _references(rows, params)
    notes: list[str] = []
    paper, re_formula, aware, slopes = fit_specifications(rows, refs, notes)
    coverage_table = (models.groupby(["arch_family", "dataset_family"]).size()
                      .rename("models").reset_index())
    return Result(
        params=params, models=models, coverage_table=coverage_table,
        missing_downstream=models.loc[models["vtab_plus"].isna(),
                                      ["model_id", "missing_reason"]].reset_index(drop=True),
        battery=battery, aggregate=_aggregate(battery), shares=_shares(battery, params),
        categories=categories, paper_fit=paper, paper_re_formula=re_formula, model_fit=aware, model_slopes=slopes,
        fit_notes=tuple(notes),
        coefficients=pd.concat([fit_table(paper, "paper"), fit_table(aware, "model-aware")],
                               ignore_index=True),
        category_fits=_category_fits(all_rows, refs, slopes),
        coverage=_coverage(rows, models, aware, refs, params, progress=progress),
        correlations=_correlations(battery, models),
        random_init=_random_init(models, specs, params, loader, device, progress=progress),
        sensitivity=_sensitivity(rows, refs, slopes, aware),
    )


def _fit_values(fit: MixedLMFit, prefix: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for row in fit.coefficients.itertuples():
        m = re.match(r"dataset_family\[T\.(.+)\]$", row.term)
        if m:
            name = f"family_{key_part(m[1])}"
        elif row.term in _LOGS:
            name = row.term
        else:
            continue
        out[f"{prefix}coef_{name}"] = float(row.estimate)
        out[f"{prefix}p_{name}"] = float(row.p)
        out[f"{prefix}ci_low_{name}"] = float(row.ci_low)
        out[f"{prefix}ci_high_{name}"] = float(row.ci_high)
    return out


def _top_family(fit: MixedLMFit) -> str:
    """The non-reference dataset family with the largest coefficient."""
    table = fit.coefficients
    rows = table[table["term"].str.startswith("dataset_family[")]
    term = rows.loc[rows["estimate"].idxmax(), "term"]
    return re.match(r"dataset_family\[T\.(.+)\]$", term)[1]


def glue_values(result: Result) -> dict[str, float | int | str]:
    """Every number the chapter cites, by key.

    Counts: ``n_models``, ``n_tests`` (tests per model), ``n_cases`` (model x test rows),
    ``n_missing_downstream`` (models without a downstream figure).
    Shares of cases with their model-bootstrap 95% interval: ``share_d_ge_0_2``,
    ``share_d_ge_0_2_ci_low``, ``share_d_ge_0_2_ci_high``, ``share_d_gt_0``,
    ``share_d_gt_0_ci_low``, ``share_d_gt_0_ci_high``.
    Model-aware fit, for every non-reference dataset family ``<level>`` and the two logs:
    ``coef_family_<level>``, ``p_family_<level>``, ``ci_low_family_<level>``,
    ``ci_high_family_<level>``, ``coef_log_params``, ``p_log_params``, ``ci_low_log_params``,
    ``ci_high_log_params``, ``coef_log_dataset_size``, ``p_log_dataset_size``,
    ``ci_low_log_dataset_size``, ``ci_high_log_dataset_size`` (a log absent from the design,
    being constant, has no key); ``model_var`` (variance of the per-model effect),
    ``model_optimizer``, ``model_singular`` (1 if singular);
    the paper's specification, the same keys with prefix ``paper_`` (``paper_coef_family_<level>``,
    ``paper_p_family_<level>``, ``paper_coef_log_params``, ``paper_p_log_params``,
    ``paper_coef_log_dataset_size``, ``paper_p_log_dataset_size``, ...), ``group_var`` (its
    random-intercept variance of the category x order groups), ``paper_optimizer``,
    ``paper_singular``, ``paper_re_formula``;
    ``dataset_reference``, ``arch_reference`` (reference levels); ``fit_categories`` (the
    battery categories both fits use, joined by ", "), ``control_categories`` (the others, or
    "none");
    the family with the largest model-aware coefficient, ``top_family``, and its figures in both
    fits: ``top_family_coef``, ``top_family_p``, ``top_family_ci_low``, ``top_family_ci_high``,
    ``paper_top_family_coef``, ``paper_top_family_p``, ``paper_top_family_ci_low``,
    ``paper_top_family_ci_high``; the same family in the model-aware fit on all tests pooled,
    ``all_top_family_coef``, ``all_top_family_p``;
    on the synthetic zoo (reference ``fair``) the family keys are ``coef_family_skew``,
    ``p_family_skew``, ``coef_family_web``, ``p_family_web``, ``paper_p_family_skew``,
    ``paper_p_family_web``, ``cat_concept_coef_family_skew``, ``cat_concept_p_family_skew``,
    ``cat_context_coef_family_skew``, ``cat_context_p_family_skew``;
    model-aware fit within each battery category and on all tests pooled:
    ``cat_<category>_coef_family_<level>``, ``cat_<category>_p_family_<level>``,
    ``all_coef_family_<level>``, ``all_p_family_<level>``;
    coverage simulation (NaN when skipped): ``coverage_paper_spec``, ``coverage_model_aware``
    (share of 95% intervals covering the truth), ``fpr_paper_spec``, ``fpr_model_aware`` (share of
    null-factor p < 0.05), ``coverage_datasets``;
    ``r_perf_<test>_<order>`` (Pearson r of d with the downstream score, VTAB+ on real models,
    zero-shot accuracy on the synthetic zoo) and ``p_perf_<test>_<order>`` for every category x
    order cell with a correlation; ``r_perf_max_abs`` and ``r_perf_max_cell`` (the largest |r|
    and its cell); ``r_perf_mean_abs_change`` (mean |r(VTAB+) - r(average 38)|,
    0 on the synthetic zoo);
    ``random_init_mean_abs_d`` and ``trained_mean_abs_d`` (mean |d| of the untrained and trained
    models; NaN when the baseline is off); ``sensitivity_max_shift`` (largest change of a family
    coefficient when one other family is left out, same reference); ``arch_random_coef_top``
    (the ``top_family`` coefficient with the architecture as a random effect, NaN if that fit
    failed or was skipped).
    """
    p = result.params
    shares = result.shares.set_index("condition")
    out: dict[str, float | int | str] = {
        "n_models": int(result.battery["model"].nunique()),
        "n_tests": int(result.battery["test"].nunique()),
        "n_cases": len(result.battery),
        "n_missing_downstream": len(result.missing_downstream),
    }
    for cond, key in (("d >= 0.2", "share_d_ge_0_2"), ("d > 0", "share_d_gt_0")):
        out[key] = float(shares.at[cond, "share"])
        out[f"{key}_ci_low"] = float(shares.at[cond, "ci_low"])
        out[f"{key}_ci_high"] = float(shares.at[cond, "ci_high"])
    out.update(_fit_values(result.model_fit, ""))
    out.update(_fit_values(result.paper_fit, "paper_"))
    vc_model = result.model_fit.variance_components.set_index("component")["variance"]
    vc_paper = result.paper_fit.variance_components.set_index("component")["variance"]
    out.update({
        "model_var": float(vc_model.get("model", np.nan)),
        "model_optimizer": result.model_fit.optimizer,
        "model_singular": int(result.model_fit.singular),
        "group_var": float(vc_paper.get("group", np.nan)),
        "paper_optimizer": result.paper_fit.optimizer,
        "paper_singular": int(result.paper_fit.singular),
        "paper_re_formula": result.paper_re_formula,
    })
    rows = regression_rows(result.battery, result.models)
    refs = _references(rows[rows["category"].isin(result.categories)], p)
    out["dataset_reference"] = refs["dataset_family"]
    out["arch_reference"] = refs["architecture_family"]
    cov = result.coverage.set_index("specification") if len(result.coverage) else None
    for spec, key in (("grouped", "paper_spec"), ("model-aware", "model_aware")):
        out[f"coverage_{key}"] = float(cov.at[spec, "coverage"]) if cov is not None else np.nan
        out[f"fpr_{key}"] = (float(cov.at[spec, "false_positive_rate"]) if cov is not None
                             else np.nan)
    out["coverage_datasets"] = int(p.coverage_datasets)
    out["fit_categories"] = ", ".join(result.categories)
    others = sorted(set(result.battery["category"]) - set(result.categories))
    out["control_categories"] = ", ".join(others) if others else "none"
    top = _top_family(result.model_fit)
    out["top_family"] = top
    for prefix, fit in (("", result.model_fit), ("paper_", result.paper_fit)):
        row = fit.coefficients.set_index("term").loc[f"dataset_family[T.{top}]"]
        out[f"{prefix}top_family_coef"] = float(row["estimate"])
        out[f"{prefix}top_family_p"] = float(row["p"])
        out[f"{prefix}top_family_ci_low"] = float(row["ci_low"])
        out[f"{prefix}top_family_ci_high"] = float(row["ci_high"])
    pooled = result.category_fits[(result.category_fits["scope"] == "all tests")
                                  & (result.category_fits["term"] == f"dataset_family[T.{top}]")]
    out["all_top_family_coef"] = float(pooled["estimate"].iloc[0]) if len(pooled) else np.nan
    out["all_top_family_p"] = float(pooled["p"].iloc[0]) if len(pooled) else np.nan
    for row in result.category_fits.dropna(subset=["estimate"]).itertuples():
        level = key_part(re.match(r"dataset_family\[T\.(.+)\]$", row.term)[1])
        scope = "all" if row.scope == "all tests" else f"cat_{key_part(row.scope)}"
        out[f"{scope}_coef_family_{level}"] = float(row.estimate)
        out[f"{scope}_p_family_{level}"] = float(row.p)
    corr = result.correlations
    out["r_perf_max_abs"] = np.nan
    out["r_perf_max_cell"] = "none"
    if len(corr):
        main = corr[corr["score"] == "vtab_plus"]
        strongest = main.loc[main["estimate"].abs().idxmax()]
        out["r_perf_max_abs"] = float(abs(strongest["estimate"]))
        out["r_perf_max_cell"] = f"{strongest['category']} {strongest['order']}"
        for row in main.itertuples():
            k = f"{key_part(row.category)}_{key_part(row.order)}"
            out[f"r_perf_{k}"] = float(row.estimate)
            out[f"p_perf_{k}"] = float(row.p_value)
        both = main.merge(corr[corr["score"] == "average_38"], on=["category", "order"])
        out["r_perf_mean_abs_change"] = (float((both["estimate_x"] - both["estimate_y"])
                                               .abs().mean()) if len(both) else np.nan)
    else:
        out["r_perf_mean_abs_change"] = np.nan
    ri = result.random_init
    out["random_init_mean_abs_d"] = float(ri["d"].abs().mean()) if len(ri) else np.nan
    out["trained_mean_abs_d"] = float(result.battery["d"].abs().mean())
    sens = result.sensitivity.dropna(subset=["estimate"]) if "estimate" in result.sensitivity \
        else pd.DataFrame()
    shifts = []
    if len(sens):
        base = sens[sens["fit"] == "all families"].set_index("term")["estimate"]
        others = sens[~sens["left_out"].isin(["none", refs["dataset_family"]])]
        for _, part in others.groupby("left_out"):
            same = part.set_index("term")["estimate"]
            common = same.index.intersection(base.index)
            shifts += list((same[common] - base[common]).abs())
    out["sensitivity_max_shift"] = float(max(shifts)) if shifts else np.nan
    arch_random = sens[(sens["fit"] == "architecture random")
                       & (sens["term"] == f"dataset_family[T.{top}]")] if len(sens) else sens
    out["arch_random_coef_top"] = (float(arch_random["estimate"].iloc[0]) if len(arch_random)
                                   else np.nan)
    return out

