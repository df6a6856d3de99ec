"""Joint vision-language bias removal and its evaluation protocol (Zhang, Guo, Kankanhalli 2024).

Steps of :func:`run` (every random choice seeded from ``Params.seed``):

1. ``embed``: per model, through the embedding store, the raw (unnormalised) features of

   - the debiasers' training pairs: images with a caption naming the attribute and the same
     caption with the attribute swapped (synthetic: a world of the model's pretraining family
     with two of its four backgrounds, every caption naming the group; real: FairFace train with
     the paper's caption template);
   - the bias sets: images with attribute labels (synthetic: the shared evaluation set's
     object-free figures, the "faces" of the synthetic world, split into the two backgrounds the
     debiasers saw (in-domain) and the two they never saw (out-of-domain); real: FairFace val,
     and UTKFace and FACET out-of-domain);
   - the bias prompts (synthetic: every concept in every shared template; real: Berg et al.'s
     11 x 29), each also with every attribute value filled in (calibration pairs, augmentations);
   - the alignment sets: zero-shot classification (synthetic: the evaluation set's figures and
     their concepts; real: FACET persons and their classes) and caption-to-image retrieval
     (synthetic: the same figures and their captions; real: COCO captions);
2. ``fit``: each method of :data:`METHODS` from the training pairs;
3. ``evaluate``: MaxSkew@k and NDKL@k of the prompts over each bias set (mean over prompts),
   zero-shot accuracy, recall@k and ABLE, with percentile bootstrap intervals over images
   (``"bootstrap/<set>"`` streams; the same resamples for every method, so the difference from
   the original is a paired bootstrap).
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import torch

from clipbias.data.adapters import load_coco_captions, load_facet, load_fairface, load_utkface
from clipbias.data.prompts import berg_prompts
from clipbias.data.synthetic import (
    EVAL_DEFAULTS,
    article,
    evaluation_set,
    generate_world,
    pretraining_dataset,
    world_manifest,
)
from clipbias.embed import cached_embed_images, cached_embed_texts
from clipbias.interventions.debias import (
    JointConfig,
    bend_queries,
    calibrated_projection,
    clip_dimensions,
    dimension_information,
    project_texts,
    train_joint,
)
from clipbias.interventions.train import train_zoo_model
from clipbias.metrics import able, max_skew_at_k, ndkl_at_k, recall_at_k, zero_shot_correct
from clipbias.progress import progress as progress_bar
from clipbias.studies._contract import StudyParams
from clipbias.studies._models import device_for
from clipbias.threads import one_thread
from clipbias.zoo import load
from clipbias.zoo.synthetic.zoos import ZooEntry

__all__ = ["METHODS", "REFERENCE", "Embedded", "Params", "Result", "Views", "apply_method",
           "embed_real", "embed_synthetic", "evaluate", "fit_methods", "glue_values",
           "method_table", "reference_table", "run"]

#: Methods, in table order: name -> what it is.
METHODS: dict[str, str] = {
    "original": "the frozen model",
    "prompt_projection": "biased-prompt projection with calibration (Chuang et al. 2023), text",
    "clip_clip": "CLIP-clip: drop the dimensions most informative of the attribute, both sides",
    "bend": "test-time orthogonalisation and equal distance (in the spirit of BendVLM), text",
    "joint": "joint V-L debiasing (Zhang et al. 2024): residual MLPs, L_ba and L_cd",
    "joint_no_cd": "the joint method without the counterfactual loss L_cd",
    "joint_no_ba": "the joint method without the bias-alignment loss L_ba",
}

#: Published values (ViT-B/16, gender, FairFace; Zhang et al. 2024): MaxSkew@1000, NDKL,
#: ImageNet zero-shot top-1 (percent), ABLE (percent). Reference values, never ours.
REFERENCE: dict[str, tuple[float, float, float, float]] = {
    "original": (0.218, 0.088, 68.31, 73.87),
    "clip_clip": (0.103, 0.026, 68.00, 77.55),
    "prompt_projection": (0.161, 0.048, 65.07, 73.78),
    "joint": (0.080, 0.025, 68.05, 78.35),
    "joint_no_cd": (0.167, 0.056, 68.28, 75.58),
    "joint_no_ba": (0.095, 0.033, 67.84, 77.71),
}

_ZOO_ID = re.compile(r"^(?P<arch>[^/]+)/(?P<dataset>[a-z0-9-]+)_s(?P<seed>\d+)$")
#: The real source's caption template (Zhang et al.'s gender captions, FairFace labels).
_REAL_CAPTION = "This is the photo of a {race} {gender} aged {age}."
_REAL_ATTRIBUTES = ("gender", "race", "age")


@dataclass(frozen=True)
class Params(StudyParams):
    """Parameters of the joint-debiasing chapter (flat, so papermill and profiles can set them)."""

    source: Literal["synthetic", "real"] = "synthetic"  # synthetic zoo or open_clip + real data
    model_ids: tuple[str, ...] = ("synthetic-vit-s/skew-s_s0",)  # models; the first is headlined
    checkpoints: tuple[str, ...] = ()  # real: local checkpoint per model id ("" = download)
    attribute: str = "group"  # protected attribute: "group" (synthetic) or gender/race/age (real)
    train_size: int = 2000  # training pairs of the debiasers (real: a FairFace train sample, 0 keeps all)
    per_cell: int = EVAL_DEFAULTS.per_cell  # synthetic evaluation scenes per cell
    k: int = EVAL_DEFAULTS.k  # list length of MaxSkew@k and NDKL@k (paper: 1000 on FairFace)
    recall_k: int = EVAL_DEFAULTS.recall_k  # list length of caption-to-image recall@k
    ranking: Literal["dot", "cosine"] = "dot"  # images ranked by dot product (paper) or cosine
    n_bootstrap: int = 200  # bootstrap resamples of the images for every interval
    prompt_lambda: float = 1000.0  # calibration strength lambda of the prompt projection
    clip_keep: float = 0.78  # share of dimensions CLIP-clip keeps (paper: 400 of 512)
    clip_neighbors: int = 5  # neighbours of the mutual-information estimator (paper: 5)
    bend_nearest: int = 50  # reference images per group in a BendVLM prototype (paper: 100)
    joint_epochs: int = 15  # passes of the joint method over the training pairs
    joint_lr: float = 1e-4  # Adam learning rate of the joint method (paper: 5e-6)
    joint_batch: int = 128  # pairs per step of the joint method (paper: 512)
    joint_queue: int = 1024  # features per queue of the joint method (paper: 65536)
    joint_temperature: float = 0.07  # softmax temperature tau of both losses (paper: 0.07)
    data_root: str = ""  # real: folder holding fairface/, utkface/, facet/, coco/ (empty: the default)
    facet_fraction: float = 0.1  # real: share of FACET persons evaluated (paper: 10%)
    device: Literal["cpu", "cuda", "auto"] = "cpu"  # where models embed and the joint MLPs train

    def validate(self) -> None:
        """Check the fields together; messages say what to change."""
        if not self.model_ids:
            raise ValueError("Params: model_ids needs at least one model id")
        if self.source == "synthetic":
            for model_id in self.model_ids:
                _zoo_entry(model_id)
            if self.attribute != "group":
                raise ValueError(f"Params: the synthetic source has labels for attribute "
                                 f"'group' only, got {self.attribute!r}")
            if self.checkpoints:
                raise ValueError("Params: checkpoints apply to the real source only")
            n_bias = self.per_cell * 8 * 2  # object-free figures per backgrounds half, 8 concepts
            if self.k > n_bias:
                raise ValueError(f"Params: k={self.k} exceeds the {n_bias} images of a bias set; "
                                 "lower k or raise per_cell")
        else:
            if self.attribute not in _REAL_ATTRIBUTES:
                raise ValueError(f"Params: attribute {self.attribute!r} has no labels in "
                                 f"FairFace; use one of {_REAL_ATTRIBUTES}")
            if self.checkpoints and len(self.checkpoints) != len(self.model_ids):
                raise ValueError("Params: checkpoints must name one path per model id (or be "
                                 "empty to download the weights)")
        for name in ("per_cell", "k", "recall_k", "clip_neighbors", "bend_nearest",
                     "joint_epochs", "joint_batch", "joint_queue"):
            if getattr(self, name) < 1:
                raise ValueError(f"Params: {name} must be >= 1, got {getattr(self, name)}")
        if self.train_size < (1 if self.source == "synthetic" else 0):
            raise ValueError(f"Params: train_size must be positive, got {self.train_size}")
        if self.n_bootstrap < 2:
            raise ValueError(f"Params: n_bootstrap must be >= 2, got {self.n_bootstrap}")
        if not 0.0 < self.clip_keep < 1.0:
            raise ValueError(f"Params: clip_keep is a share in (0, 1), got {self.clip_keep}")
        if not 0.0 < self.facet_fraction <= 1.0:
            raise ValueError(f"Params: facet_fraction must be in (0, 1], got "
                             f"{self.facet_fraction}")
        if not np.isfinite(self.prompt_lambda) or self.prompt_lambda < 0:
            raise ValueError(f"Params: prompt_lambda must be >= 0, got {self.prompt_lambda}")
        self.joint_config()

    def resolved_device(self) -> str:
        """``device`` with ``"auto"`` resolved (``"cuda"`` when torch sees a GPU)."""
        return device_for(self.device)

    def joint_config(self, method: str = "joint") -> JointConfig:
        """The :class:`JointConfig` of ``"joint"``, ``"joint_no_cd"`` or ``"joint_no_ba"``."""
        return JointConfig(epochs=self.joint_epochs, lr=self.joint_lr,
                           batch_size=self.joint_batch, queue_size=self.joint_queue,
                           temperature=self.joint_temperature,
                           use_cd=method != "joint_no_cd", use_ba=method != "joint_no_ba")


def _zoo_entry(model_id: str) -> ZooEntry:
    match = _ZOO_ID.match(model_id)
    if match is None:
        raise ValueError(f"Params: {model_id!r} is not a synthetic zoo id "
                         "('ARCH/DATASET_sSEED', e.g. 'synthetic-vit-s/skew-s_s0')")
    pretraining_dataset(match["dataset"])  # names the known datasets if unknown
    return ZooEntry(match["arch"], match["dataset"], int(match["seed"]))


@dataclass(frozen=True)
class Embedded:
    """Raw features of one model for every role (shapes: n items x d).

    ``bias_sets`` maps a set name to ``(images, groups)``; the first is in-domain. ``prompts``
    (p, d) with ``prompt_table`` (columns ``prompt``, ``concept``); ``prompt_variants`` (p, G, d)
    fills each attribute value into each prompt; ``classes`` (c, d) with ``class_variants``
    (c, G, d); ``spurious`` (K, d) attribute-naming prompts.
    """

    train_images: np.ndarray
    train_groups: np.ndarray
    train_texts: np.ndarray
    train_counterfactuals: np.ndarray
    bias_sets: dict[str, tuple[np.ndarray, np.ndarray]]
    prompts: np.ndarray
    prompt_table: pd.DataFrame
    prompt_variants: np.ndarray
    spurious: np.ndarray
    zs_images: np.ndarray
    zs_labels: np.ndarray
    classes: np.ndarray
    class_variants: np.ndarray
    rc_images: np.ndarray
    rc_texts: np.ndarray
    rc_relevant: np.ndarray


@dataclass(frozen=True)
class Views:
    """What one method makes of :class:`Embedded`: bias-set images (raw scale kept for dot
    ranking), unit prompts, unit zero-shot images and classes, unit retrieval images and texts."""

    bias_images: dict[str, np.ndarray]
    prompts: np.ndarray
    zs_images: np.ndarray
    classes: np.ndarray
    rc_images: np.ndarray
    rc_texts: np.ndarray


@dataclass(frozen=True)
class Result:
    """What :func:`run` computed (tidy tables and the parameters)."""

    params: Params
    summary: pd.DataFrame  # model, method, set, metric, estimate, ci_low, ci_high
    per_prompt: pd.DataFrame  # model, method, set, prompt, concept, max_skew
    losses: pd.DataFrame  # model, method, epoch, loss (the joint variants' training curves)
    sizes: dict[str, int] = field(default_factory=dict)  # item counts of the headline model


# --- embedding -------------------------------------------------------------------------------

def _raw(result) -> np.ndarray:
    if not result.valid.all():
        raise ValueError(f"{int((~result.valid).sum())} items failed to embed: "
                         f"{result.errors.head()}")
    return (result.embeddings * result.norms[:, None]).astype(np.float32)


def _texts(model, texts: list[str]) -> np.ndarray:
    return _raw(cached_embed_texts(model, texts, progress=False))


def _images(model, images) -> np.ndarray:
    return _raw(cached_embed_images(model, images, progress=False))


def _variants(model, templates: list[str], words: list[str], values: list[str]) -> np.ndarray:
    """(p, G, d): template ``i`` filled with ``"<value> <word i>"`` for every value."""
    texts = [t.format(_with_article(f"{v} {w}", t)) for t, w in zip(templates, words, strict=True)
             for v in values]
    return _texts(model, texts).reshape(len(templates), len(values), -1)


def _with_article(phrase: str, template: str) -> str:
    """``"an orange chef"`` where the template expects the article (synthetic templates)."""
    return f"{article(phrase)} {phrase}" if template.endswith("of {}") or template == "{}" \
        else phrase


def embed_synthetic(params: Params, model_id: str) -> Embedded:
    """:class:`Embedded` of one synthetic zoo model (module docstring, step 1)."""
    entry = _zoo_entry(model_id)
    train_zoo_model(entry)  # fetched from the checkpoint cache when the zoo chapter trained it
    model = load(model_id, device=params.resolved_device())
    config = pretraining_dataset(entry.dataset).config
    world = generate_world(config.replace(size=params.train_size, n_contexts=2,
                                          group_mention=1.0, object_free_share=0.5),
                           seed=params.seed_for("train-world"), stream="debias-train")
    free = evaluation_set(config, kind="object_free", per_cell=params.per_cell,
                          seed=params.seed_for("evaluation"))
    figures = evaluation_set(config, kind="figures", per_cell=params.per_cell,
                             seed=params.seed_for("evaluation"))
    free_images = _images(model, world_manifest(free))
    seen = free.contexts < 2
    groups = free.groups[:, 0]
    names = [g.name for g in config.groups]
    concepts = [c.name for c in config.concepts]
    templates = list(EVAL_DEFAULTS.templates)
    table = pd.DataFrame([{"template": t, "concept": c} for c in concepts for t in templates])
    table["prompt"] = [t.format(f"{article(c)} {c}") for t, c in
                       zip(table["template"], table["concept"], strict=True)]
    figure_images = _images(model, world_manifest(figures))
    return Embedded(
        train_images=_images(model, world_manifest(world)),
        train_groups=world.groups[:, 0].copy(),
        train_texts=_texts(model, world.captions()),
        train_counterfactuals=_texts(model, world.captions(swapped=True)),
        bias_sets={"in_domain": (free_images[seen], groups[seen]),
                   "ood": (free_images[~seen], groups[~seen])},
        prompts=_texts(model, table["prompt"].tolist()),
        prompt_table=table[["prompt", "concept"]],
        prompt_variants=_variants(model, table["template"].tolist(), table["concept"].tolist(),
                                  names),
        spurious=_texts(model, [t.format(f"{article(g)} {g} person") for g in names
                                for t in templates]),
        zs_images=figure_images, zs_labels=figures.concepts[:, 0].copy(),
        classes=_texts(model, [templates[0].format(f"{article(c)} {c}") for c in concepts]),
        class_variants=_variants(model, [templates[0]] * len(concepts), concepts, names),
        rc_images=figure_images, rc_texts=_texts(model, figures.captions()),
        rc_relevant=np.arange(len(figures)),
    )


def _real_root(params: Params, name: str) -> Path | None:
    return Path(params.data_root) / name if params.data_root else None


def _labelled(manifest, attribute: str, groups: list[str] | None = None) -> pd.DataFrame:
    table = manifest.table
    if attribute not in table.columns:
        raise ValueError(f"{manifest.name} has no {attribute!r} labels")
    values = table[attribute].astype(str)
    keep = values.isin(groups) if groups is not None else values.ne("") & values.ne("none")
    return table[keep.to_numpy()]


def _subset(manifest, rows: pd.DataFrame):
    """``manifest`` restricted to ``rows`` (a slice of its table), in the rows' order."""
    table = manifest.table.loc[rows.index].reset_index(drop=True)
    return type(manifest)(table, manifest.root, manifest.name, dict(manifest.metadata))


def embed_real(params: Params, model_id: str, checkpoint: str) -> Embedded:
    """:class:`Embedded` of one open_clip model on FairFace, UTKFace, FACET and COCO."""
    model = load(model_id, checkpoint=checkpoint or None, device=params.resolved_device())
    attr = params.attribute
    fairface = load_fairface(_real_root(params, "fairface"))
    table = fairface.table
    train = table[table["split"] == "train"]
    if params.train_size and params.train_size < len(train):
        train = train.sample(n=params.train_size, random_state=params.seed_for("train-sample")
                             % 2**32)
    values = sorted(train[attr].astype(str).unique())
    if len(values) < 2:
        raise ValueError(f"FairFace train has fewer than two {attr!r} groups")
    rng = np.random.default_rng(params.seed_for("counterfactuals"))
    captions, counter = [], []
    for _, row in train.iterrows():
        labels = {"race": row["race"], "gender": row["gender"], "age": row["age"]}
        captions.append(_REAL_CAPTION.format(**labels))
        others = [v for v in values if v != str(row[attr])]
        captions_cf = dict(labels, **{attr: others[rng.integers(len(others))]})
        counter.append(_REAL_CAPTION.format(**captions_cf))
    val = _labelled(fairface, attr, values)
    val = val[val["split"] == "val"]
    bias_sets = {"in_domain": (_images(model, _subset(fairface, val)),
                               val[attr].astype(str).to_numpy())}
    ood = {"utkface": lambda: load_utkface(_real_root(params, "utkface")),
           "facet": lambda: load_facet(_real_root(params, "facet"),
                                       fraction=params.facet_fraction,
                                       seed=params.seed_for("facet") % 2**32)}
    facet = None
    for name, loader in ood.items():
        manifest = loader()
        facet = manifest if name == "facet" else facet
        if attr not in manifest.table.columns:
            continue
        rows = _labelled(manifest, attr, values)
        if rows[attr].nunique() >= 2:
            bias_sets[name] = (_images(model, _subset(manifest, rows)),
                               rows[attr].astype(str).to_numpy())
    prompts = berg_prompts()
    persons = _labelled(facet, "concept")
    class_names = sorted(persons["concept"].astype(str).unique())
    coco = load_coco_captions(_real_root(params, "coco"))
    images = coco.table.drop_duplicates("image_id")
    position = {image_id: i for i, image_id in enumerate(images["image_id"])}
    templates = prompts["template"].tolist()
    return Embedded(
        train_images=_images(model, _subset(fairface, train)),
        train_groups=train[attr].astype(str).to_numpy(),
        train_texts=_texts(model, captions),
        train_counterfactuals=_texts(model, counter),
        bias_sets=bias_sets,
        prompts=_texts(model, prompts["prompt"].tolist()),
        prompt_table=prompts[["prompt", "concept"]],
        prompt_variants=_texts(model, [t.format(f"{v} {c}") for t, c in
                                       zip(templates, prompts["concept"], strict=True)
                                       for v in values]).reshape(len(prompts), len(values), -1),
        spurious=_texts(model, [f"A photo of a {v} person." for v in values]),
        zs_images=_images(model, _subset(facet, persons)),
        zs_labels=np.searchsorted(class_names, persons["concept"].astype(str).to_numpy()),
        classes=_texts(model, [f"a photo of a {c}." for c in class_names]),
        class_variants=_texts(model, [f"a photo of a {v} {c}." for c in class_names
                                      for v in values]).reshape(len(class_names), len(values),
                                                                -1),
        rc_images=_images(model, _subset(coco, images)),
        rc_texts=_texts(model, coco.table["caption"].astype(str).tolist()),
        rc_relevant=coco.table["image_id"].map(position).to_numpy().copy(),
    )


# --- methods ---------------------------------------------------------------------------------

def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def fit_methods(params: Params, data: Embedded, *, progress: bool = True
                ) -> tuple[dict[str, object], pd.DataFrame]:
    """Fit every method of :data:`METHODS` on ``data``'s training pairs: returns ``{method:
    fitted state}`` for :func:`apply_method` and the joint variants' loss curves."""
    groups = np.unique(data.train_groups)
    g = len(groups)
    pairs = [(i, j) for i, j in combinations(range(g), 2)]
    first = _unit(np.concatenate([data.prompt_variants[:, i] for i, _ in pairs]))
    second = _unit(np.concatenate([data.prompt_variants[:, j] for _, j in pairs]))
    fitted: dict[str, object] = {
        "original": None,
        "prompt_projection": calibrated_projection(_unit(data.spurious), first, second,
                                                   lam=params.prompt_lambda),
    }
    mi = dimension_information(data.train_images, data.train_groups,
                               n_neighbors=params.clip_neighbors, seed=params.seed_for("clip"))
    keep = max(1, round(params.clip_keep * data.train_images.shape[1]))
    fitted["clip_clip"] = clip_dimensions(mi, keep=keep)
    fitted["bend"] = (_unit(data.train_images), data.train_groups)
    curves = []
    for method in ("joint", "joint_no_cd", "joint_no_ba"):
        model, history = train_joint(data.train_images, data.train_texts,
                                     data.train_counterfactuals,
                                     config=params.joint_config(method),
                                     seed=params.seed_for("joint"),
                                     device=params.resolved_device(), progress=progress)
        fitted[method] = model
        curves += [{"method": method, "epoch": e, "loss": v} for e, v in enumerate(history)]
    return fitted, pd.DataFrame(curves, columns=["method", "epoch", "loss"])


def apply_method(method: str, fitted, data: Embedded, *, bend_nearest: int) -> Views:
    """The :class:`Views` of ``data`` under ``method`` with its fitted state ``fitted``."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; known: {list(METHODS)}")
    sets = {name: images for name, (images, _) in data.bias_sets.items()}
    if method == "original":
        return Views(sets, _unit(data.prompts), _unit(data.zs_images), _unit(data.classes),
                     _unit(data.rc_images), _unit(data.rc_texts))
    if method == "prompt_projection":
        return Views(sets, project_texts(fitted, _unit(data.prompts)), _unit(data.zs_images),
                     project_texts(fitted, _unit(data.classes)), _unit(data.rc_images),
                     project_texts(fitted, _unit(data.rc_texts)))
    if method == "clip_clip":
        def cut(x):
            return x[..., fitted]
        return Views({n: cut(x) for n, x in sets.items()}, _unit(cut(data.prompts)),
                     _unit(cut(data.zs_images)), _unit(cut(data.classes)),
                     _unit(cut(data.rc_images)), _unit(cut(data.rc_texts)))
    if method == "bend":
        references, groups = fitted
        nearest = min(bend_nearest, int(np.unique(groups, return_counts=True)[1].min()))

        def bend(queries, variants):
            return bend_queries(queries, variants, data.spurious, references, groups,
                                n_nearest=nearest)
        return Views(sets, bend(data.prompts, data.prompt_variants), _unit(data.zs_images),
                     bend(data.classes, data.class_variants), _unit(data.rc_images),
                     _unit(data.rc_texts))
    if method in ("joint", "joint_no_cd", "joint_no_ba"):
        def img(x):
            return fitted.apply(x, modality="image")

        def txt(x):
            return fitted.apply(x, modality="text")
        return Views({n: img(x) for n, x in sets.items()}, _unit(txt(data.prompts)),
                     _unit(img(data.zs_images)), _unit(txt(data.classes)),
                     _unit(img(data.rc_images)), _unit(txt(data.rc_texts)))
    raise AssertionError(f"METHODS lists {method!r} but apply_method has no branch for it")


# --- evaluation ------------------------------------------------------------------------------

def _interval(values: np.ndarray) -> tuple[float, float]:
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)


def _resamples(n: int, params: Params, name: str) -> np.ndarray:
    """(n_bootstrap, n) indices drawn with replacement (stream ``"bootstrap/<name>"``)."""
    rng = np.random.default_rng(params.seed_for(f"bootstrap/{name}"))
    return rng.integers(0, n, size=(params.n_bootstrap, n))


def evaluate(params: Params, data: Embedded, views: dict[str, Views], *, model_id: str,
             progress: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every metric of every method (module docstring, step 3).

    Returns ``summary`` (model, method, set, metric, estimate, ci_low, ci_high; metrics
    ``max_skew``, ``ndkl``, ``max_skew_drop`` (original minus method, paired), ``accuracy``,
    ``recall``, ``able``; accuracy, recall and ABLE in percent) and ``per_prompt`` (model,
    method, set, prompt, concept, max_skew).
    """
    rows, prompts = [], []
    boot: dict[tuple[str, str], np.ndarray] = {}
    skews: dict[tuple[str, str], float] = {}
    for set_name, (_, groups) in data.bias_sets.items():
        if params.k > len(groups):
            raise ValueError(f"k={params.k} exceeds the {len(groups)} images of bias set "
                             f"{set_name!r}; lower k")
        draws = _resamples(len(groups), params, set_name)
        for method, view in progress_bar(views.items(), desc=f"bias {set_name}", unit="method",
                                         disable=not progress):
            x = view.bias_images[set_name]
            x = x if params.ranking == "dot" else _unit(x)
            sim = torch.as_tensor(view.prompts @ x.T)
            skew = max_skew_at_k(sim, groups, k=params.k)
            ndkl = ndkl_at_k(sim, groups, k=params.k)
            skew_b = np.array([max_skew_at_k(sim[:, d], groups[d], k=params.k).mean()
                               for d in draws])
            ndkl_b = np.array([ndkl_at_k(sim[:, d], groups[d], k=params.k).mean()
                               for d in draws])
            boot[(method, set_name)] = skew_b
            skews[(method, set_name)] = float(skew.mean())
            rows += [(method, set_name, "max_skew", skew.mean(), *_interval(skew_b)),
                     (method, set_name, "ndkl", ndkl.mean(), *_interval(ndkl_b))]
            prompts += [(method, set_name, p, c, s) for p, c, s in
                        zip(data.prompt_table["prompt"], data.prompt_table["concept"], skew,
                            strict=True)]
    for (method, set_name), skew_b in boot.items():
        rows.append((method, set_name, "max_skew_drop",
                     skews[("original", set_name)] - skews[(method, set_name)],
                     *_interval(boot[("original", set_name)] - skew_b)))
    zs_draws = _resamples(len(data.zs_labels), params, "zero-shot")
    rc_draws = _resamples(len(data.rc_relevant), params, "recall")
    first = next(iter(data.bias_sets))
    for method, view in views.items():
        correct = zero_shot_correct(view.zs_images @ view.classes.T, data.zs_labels)
        hits = recall_at_k(view.rc_texts @ view.rc_images.T, data.rc_relevant, k=params.recall_k)
        acc_b = correct[zs_draws].mean(axis=1)
        rec_b = hits[rc_draws].mean(axis=1)
        skew = skews[(method, first)]
        able_b = 100 * able(boot[(method, first)], np.clip(acc_b, 1e-9, 1.0))
        rows += [(method, "alignment", "accuracy", 100 * correct.mean(),
                  *(100 * np.array(_interval(acc_b)))),
                 (method, "alignment", "recall", 100 * hits.mean(),
                  *(100 * np.array(_interval(rec_b)))),
                 (method, first, "able", 100 * able(skew, max(correct.mean(), 1e-9)),
                  *_interval(able_b))]
    summary = pd.DataFrame(rows, columns=["method", "set", "metric", "estimate", "ci_low",
                                          "ci_high"])
    summary.insert(0, "model", model_id)
    per_prompt = pd.DataFrame(prompts, columns=["method", "set", "prompt", "concept",
                                                "max_skew"])
    per_prompt.insert(0, "model", model_id)
    return summary, per_prompt


def method_table(result: Result, *, model: str | None = None, digits: int = 3) -> pd.DataFrame:
    """One row per method (in :data:`METHODS` order) of ``model`` (default the headline model),
    one column per metric (in-domain ``max_skew``, ``max_skew_drop``, ``ndkl``, ``able``;
    ``accuracy`` and ``recall``), each cell ``"estimate [ci_low, ci_high]"``."""
    model = model if model is not None else result.params.model_ids[0]
    table = result.summary[(result.summary["model"] == model)
                           & result.summary["set"].isin(["in_domain", "alignment"])]
    if table.empty:
        raise ValueError(f"no results for model {model!r}; models: "
                         f"{sorted(result.summary['model'].unique())}")

    def cell(row) -> str:
        return (f"{row['estimate']:.{digits}f} [{row['ci_low']:.{digits}f}, "
                f"{row['ci_high']:.{digits}f}]")
    cells = table.assign(value=table.apply(cell, axis=1))
    wide = cells.pivot_table(index="method", columns="metric", values="value", aggfunc="first")
    columns = ["max_skew", "max_skew_drop", "ndkl", "accuracy", "recall", "able"]
    return wide.reindex(index=list(METHODS), columns=columns).rename_axis(columns=None)


def reference_table() -> pd.DataFrame:
    """The published values (:data:`REFERENCE`) with ABLE recomputed by
    :func:`clipbias.metrics.able` from their MaxSkew and accuracy, and the difference (points)."""
    rows = []
    for method, (skew, ndkl, acc, published) in REFERENCE.items():
        ours = 100 * able(skew, acc / 100)
        rows.append({"method": method, "max_skew": skew, "ndkl": ndkl, "accuracy": acc,
                     "able_published": published, "able_recomputed": ours,
                     "able_diff": ours - published})
    return pd.DataFrame(rows)


def run(params: Params, *, progress: bool = True) -> Result:
    """Embed, fit and evaluate every method for every model (module docstring)."""
    if not isinstance(params, Params):
        raise ValueError(f"run expects joint_debiasing.Params, got {type(params).__name__}")
    summaries, prompts, curves, sizes = [], [], [], {}
    checkpoints = params.checkpoints or ("",) * len(params.model_ids)
    # tiny matrices: threads cost more than they give on a shared CPU
    limit = one_thread() if params.resolved_device() == "cpu" else contextlib.nullcontext()
    with limit:
        for i, model_id in enumerate(params.model_ids):
            data = (embed_synthetic(params, model_id) if params.source == "synthetic"
                    else embed_real(params, model_id, checkpoints[i]))
            if i == 0:
                sizes = {"n_train": len(data.train_groups), "n_prompts": len(data.prompts),
                         "n_zero_shot": len(data.zs_labels), "n_recall": len(data.rc_relevant),
                         **{f"n_{name}": len(g) for name, (_, g) in data.bias_sets.items()}}
                ood = [len(g) for name, (_, g) in data.bias_sets.items() if name != "in_domain"]
                sizes["n_ood"] = ood[0] if ood else 0
            fitted, curve = fit_methods(params, data, progress=progress)
            views = {m: apply_method(m, fitted[m], data, bend_nearest=params.bend_nearest)
                     for m in METHODS}
            summary, per_prompt = evaluate(params, data, views, model_id=model_id,
                                           progress=progress)
            summaries.append(summary)
            prompts.append(per_prompt)
            curves.append(curve.assign(model=model_id))
    return Result(params=params, summary=pd.concat(summaries, ignore_index=True),
                  per_prompt=pd.concat(prompts, ignore_index=True),
                  losses=pd.concat(curves, ignore_index=True), sizes=sizes)


def glue_values(result: Result) -> dict[str, float | int]:
    """Every number the chapter cites, by key (the headline model, ``model_ids[0]``).

    For every method ``m`` of :data:`METHODS` (``original``, ``prompt_projection``,
    ``clip_clip``, ``bend``, ``joint``, ``joint_no_cd``, ``joint_no_ba``): ``maxskew_<m>`` with
    ``maxskew_<m>_ci_low`` and ``maxskew_<m>_ci_high`` (in-domain, 95% bootstrap interval over
    images), ``maxskew_drop_<m>_ci_low`` and ``maxskew_drop_<m>_ci_high`` (paired bootstrap
    interval of original minus method), ``ndkl_<m>``, ``accuracy_<m>`` (zero-shot, percent) with
    ``accuracy_<m>_ci_low``/``_ci_high``, ``recall_<m>`` (recall@k, percent), ``able_<m>``
    (percent) and ``maxskew_<m>_ood`` (the first out-of-domain set);

    ``able_check_max_abs_diff``: the largest absolute difference, in points, between the
    published ABLE column and ABLE recomputed from the published MaxSkew and accuracy;
    ``k``, ``recall_k``, ``n_bootstrap``, ``n_models``, and the item counts ``n_train``,
    ``n_prompts``, ``n_zero_shot``, ``n_recall``, ``n_in_domain``, ``n_ood`` (the first
    out-of-domain set) and one per out-of-domain set by name (real: ``n_utkface``, ``n_facet``).
    """
    p = result.params
    table = result.summary[result.summary["model"] == p.model_ids[0]]
    at = table.set_index(["method", "set", "metric"])
    sets = list(dict.fromkeys(table.loc[table["metric"] == "max_skew", "set"]))
    first, ood = sets[0], (sets[1] if len(sets) > 1 else sets[0])
    out: dict[str, float | int] = {}
    for m in METHODS:
        skew = at.loc[(m, first, "max_skew")]
        drop = at.loc[(m, first, "max_skew_drop")]
        acc = at.loc[(m, "alignment", "accuracy")]
        out.update({
            f"maxskew_{m}": float(skew["estimate"]), f"maxskew_{m}_ci_low": float(skew["ci_low"]),
            f"maxskew_{m}_ci_high": float(skew["ci_high"]),
            f"maxskew_drop_{m}_ci_low": float(drop["ci_low"]),
            f"maxskew_drop_{m}_ci_high": float(drop["ci_high"]),
            f"ndkl_{m}": float(at.loc[(m, first, "ndkl"), "estimate"]),
            f"accuracy_{m}": float(acc["estimate"]), f"accuracy_{m}_ci_low": float(acc["ci_low"]),
            f"accuracy_{m}_ci_high": float(acc["ci_high"]),
            f"recall_{m}": float(at.loc[(m, "alignment", "recall"), "estimate"]),
            f"able_{m}": float(at.loc[(m, first, "able"), "estimate"]),
            f"maxskew_{m}_ood": float(at.loc[(m, ood, "max_skew"), "estimate"]),
        })
    out["able_check_max_abs_diff"] = float(reference_table()["able_diff"].abs().max())
    out.update({"k": int(p.k), "recall_k": int(p.recall_k), "n_bootstrap": int(p.n_bootstrap),
                "n_models": len(p.model_ids)})
    out.update({key: int(v) for key, v in result.sizes.items()})
    return out


def _method_keys_doc() -> str:
    """The per-method glue keys, spelled out for every method (appended to the docstring of
    :func:`glue_values`, so the list follows :data:`METHODS`)."""
    suffixes = ("", "_ci_low", "_ci_high")
    lines = []
    for m in METHODS:
        keys = ([f"maxskew_{m}{s}" for s in suffixes]
                + [f"maxskew_drop_{m}_ci_low", f"maxskew_drop_{m}_ci_high", f"ndkl_{m}"]
                + [f"accuracy_{m}{s}" for s in suffixes]
                + [f"recall_{m}", f"able_{m}", f"maxskew_{m}_ood"])
        lines.append(f"    - ``{m}``: " + ", ".join(f"``{k}``" for k in keys) + ";")
    return "\n\n    Every key, method by method:\n\n" + "\n".join(lines) + "\n"


glue_values.__doc__ = (glue_values.__doc__ or "") + _method_keys_doc()
