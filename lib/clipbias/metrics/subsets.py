"""Bias of a whole evaluation set (global) and of its subsets (local), with bootstrap intervals.

The metrics are the retrieval kernels of :mod:`clipbias.metrics.retrieval`, applied to a set of
images and, for a subset, to that subset alone (the other images leave the ranking):

- ``recall_kl``: image-to-caption retrieval; each image is a query whose relevant item is its own
  caption, the item pool the captions of the images in the set; recall@k per group of the query
  images, normalised, KL divergence from uniform (:func:`~clipbias.metrics.recall_kl_at_k`).
  Always against the uniform target (the metric's definition).
- ``max_skew`` and ``ndkl``: each concept prompt is a query ranking the set's images;
  MaxSkew@k and NDKL@k of the group labels of the ranked images (mean over the prompts), against
  ``target`` ``"uniform"`` (equal representation) or ``"dataset"`` (the set's own group shares).

Every metric row also names the *favoured* group: for ``recall_kl`` the group with the highest
recall; for the concept metrics the group whose share of all concept prompts' top k, pooled,
most exceeds its target share. A local value "flips sign" when its favoured group differs from
the global one.

The formulas, the choice of k in a subset and the bootstrap are written out in the methods page
``book/methods/global_local.md``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from clipbias.checks import check_int
from clipbias.data.synthetic.evaluation import EVAL_DEFAULTS
from clipbias.metrics._arrays import ArrayLike, encode_labels, to_numpy
from clipbias.metrics.retrieval import (
    max_skew_at_k,
    ndkl_at_k,
    recall_kl_at_k,
    top_k_indices,
)

__all__ = ["BIAS_COLUMNS", "METRICS", "TARGETS", "global_bias"]

#: Metric names (what each measures: see the module docstring).
METRICS: tuple[str, ...] = ("recall_kl", "max_skew", "ndkl")
#: Targets of the concept metrics.
TARGETS: tuple[str, ...] = ("uniform", "dataset")
#: Columns of the tables returned by :func:`global_bias`.
BIAS_COLUMNS: tuple[str, ...] = ("metric", "target", "k", "n_images", "value", "favoured")


def _unit_rows(x: ArrayLike, name: str) -> np.ndarray:
    """float64 (n, d) with unit-norm rows (cosine similarity = dot product)."""
    a = np.asarray(to_numpy(x), dtype=np.float64)
    if a.ndim != 2 or a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"{name} must be a non-empty 2-D array (rows, dim), got shape {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    norm = np.linalg.norm(a, axis=1, keepdims=True)
    if (norm == 0).any():
        raise ValueError(f"{name} has an all-zero row; every embedding needs a direction")
    return a / norm


def _check_metrics(metrics, concept_emb) -> tuple[str, ...]:
    if metrics is None:
        return METRICS if concept_emb is not None else ("recall_kl",)
    metrics = (metrics,) if isinstance(metrics, str) else tuple(metrics)
    unknown = [m for m in metrics if m not in METRICS]
    if unknown or not metrics:
        raise ValueError(f"unknown metric(s) {unknown or metrics!r}; choose from {METRICS}")
    if concept_emb is None and any(m != "recall_kl" for m in metrics):
        raise ValueError("max_skew and ndkl rank images for concept prompts: pass concept_emb "
                         "(n_concepts, dim), or ask only for metrics=('recall_kl',)")
    return metrics


def _check_target(target: str) -> str:
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}; choose from {TARGETS}")
    return target


class _BiasInputs:
    """Validated, unit-normalised inputs of one evaluation set (shared by global and local)."""

    def __init__(self, image_emb, text_emb, groups, caption_index, concept_emb):
        self.images = _unit_rows(image_emb, "image_emb")
        n = self.images.shape[0]
        if groups is None:
            raise ValueError("groups is None: bias needs a group label for every image (a "
                             "dataset with group annotations)")
        self.labels, self.codes = encode_labels(groups, n, "groups")
        if self.labels.shape[0] < 2:
            raise ValueError(f"groups must hold at least two distinct groups, got only "
                             f"{self.labels.tolist()!r}")
        self.captions = _unit_rows(text_emb, "text_emb")
        if self.captions.shape[1] != self.images.shape[1]:
            raise ValueError(f"text_emb has dim {self.captions.shape[1]} but image_emb has "
                             f"{self.images.shape[1]}")
        if caption_index is None:
            if self.captions.shape[0] != n:
                raise ValueError(f"text_emb has {self.captions.shape[0]} rows but there are {n} "
                                 "images: pass caption_index (the caption row of each image)")
            self.caption_index = np.arange(n)
        else:
            ci = np.asarray(to_numpy(caption_index))
            if ci.shape != (n,) or not np.issubdtype(ci.dtype, np.integer):
                raise ValueError(f"caption_index must be {n} integer row indices of text_emb, "
                                 f"got shape {ci.shape} dtype {ci.dtype}")
            if ((ci < 0) | (ci >= self.captions.shape[0])).any():
                raise ValueError(f"caption_index entries must lie in [0, "
                                 f"{self.captions.shape[0]})")
            self.caption_index = ci.astype(np.int64)
        self.concepts = None if concept_emb is None else _unit_rows(concept_emb, "concept_emb")
        if self.concepts is not None and self.concepts.shape[1] != self.images.shape[1]:
            raise ValueError(f"concept_emb has dim {self.concepts.shape[1]} but image_emb has "
                             f"{self.images.shape[1]}")

    @property
    def n(self) -> int:
        return self.images.shape[0]


def _recall_kl(inp: _BiasInputs, rows: np.ndarray, recall_k: int) -> tuple[float, object]:
    """(KL, favoured label) of image-to-caption recall@k among the images ``rows``."""
    pool, relevant = np.unique(inp.caption_index[rows], return_inverse=True)
    check_int(recall_k, "recall_k", low=1, high=pool.shape[0],
              what="the number of captions in the set")
    sim = inp.images[rows] @ inp.captions[pool].T
    res = recall_kl_at_k(sim, relevant, inp.codes[rows], k=recall_k)
    return res.kl, inp.labels[res.groups[int(np.argmax(res.recall))]]


def _favoured_concepts(sim: np.ndarray, codes: np.ndarray, k: int, target: str,
                       n_groups: int) -> int:
    """Code of the group whose pooled share of all prompts' top k most exceeds its target."""
    top = codes[top_k_indices(sim, k=k)]
    share = np.bincount(top.ravel(), minlength=n_groups) / top.size
    q = (np.full(n_groups, 1.0 / n_groups) if target == "uniform"
         else np.bincount(codes, minlength=n_groups) / codes.shape[0])
    with np.errstate(divide="ignore"):
        return int(np.argmax(np.where(q > 0, share - q, -np.inf)))


def _concept_metric(inp: _BiasInputs, rows: np.ndarray, metric: str, k: int, target: str
                    ) -> tuple[float, object]:
    """(mean over prompts, favoured label) of MaxSkew@k or NDKL@k over the images ``rows``."""
    check_int(k, "k", low=1, high=rows.shape[0], what="the number of images in the set")
    sim = inp.concepts @ inp.images[rows].T
    codes = inp.codes[rows]
    kernel = max_skew_at_k if metric == "max_skew" else ndkl_at_k
    value = float(kernel(sim, codes, k=k, target=target).mean())
    return value, inp.labels[_favoured_concepts(sim, codes, k, target, len(inp.labels))]


def _bias_rows(inp: _BiasInputs, rows: np.ndarray, metrics: tuple[str, ...], *, k: int,
               recall_k: int, target: str) -> list[dict]:
    out = []
    for metric in metrics:
        if metric == "recall_kl":
            value, fav = _recall_kl(inp, rows, recall_k)
            out.append({"metric": metric, "target": "uniform", "k": recall_k,
                        "n_images": int(rows.shape[0]), "value": value, "favoured": fav})
        else:
            value, fav = _concept_metric(inp, rows, metric, k, target)
            out.append({"metric": metric, "target": target, "k": k,
                        "n_images": int(rows.shape[0]), "value": value, "favoured": fav})
    return out


def global_bias(image_emb: ArrayLike, text_emb: ArrayLike, groups: ArrayLike, *,
                caption_index: ArrayLike | None = None, concept_emb: ArrayLike | None = None,
                k: int = EVAL_DEFAULTS.k, recall_k: int = EVAL_DEFAULTS.recall_k,
                target: str = "uniform", metrics: str | tuple[str, ...] | None = None
                ) -> pd.DataFrame:
    """Bias of one model on a whole evaluation set: one row per metric.

    Similarities are cosines (rows are L2-normalised here). With ``n`` images:

    - ``recall_kl``: S = I C^T over the pool of the images' captions; query i's relevant item is
      its caption ``caption_index[i]``; r_a = recall@``recall_k`` over the images of group a,
      p_a = r_a / sum_b r_b, value = sum_a p_a ln(p_a L) (L groups);
    - ``max_skew``: mean over concept prompts of max_l ln(p_l / q_l), p_l the share of group l
      in the prompt's top ``k`` images (1/k if absent), q_l the ``target`` share;
    - ``ndkl``: mean over concept prompts of NDKL@``k`` against the ``target`` shares.

    Args:
        image_emb: (n, d) image embeddings.
        text_emb: (m, d) caption embeddings.
        groups: (n,) group label of each image (at least two distinct labels).
        caption_index: (n,) row of ``text_emb`` holding each image's caption; default
            ``arange(n)`` (then ``m`` must equal ``n``).
        concept_emb: (c, d) concept prompt embeddings; needed for ``max_skew`` and ``ndkl``.
        k: list length of MaxSkew@k and NDKL@k (default :data:`EVAL_DEFAULTS` ``.k``).
        recall_k: list length of recall@k (default :data:`EVAL_DEFAULTS` ``.recall_k``).
        target: ``"uniform"`` or ``"dataset"`` (concept metrics only).
        metrics: names from :data:`METRICS`; default all that the inputs allow.

    Returns:
        DataFrame with columns :data:`BIAS_COLUMNS`, one row per metric in the order asked.
    """
    _check_target(target)
    metrics = _check_metrics(metrics, concept_emb)
    inp = _BiasInputs(image_emb, text_emb, groups, caption_index, concept_emb)
    rows = np.arange(inp.n)
    return pd.DataFrame(_bias_rows(inp, rows, metrics, k=k, recall_k=recall_k, target=target),
                        columns=list(BIAS_COLUMNS))
