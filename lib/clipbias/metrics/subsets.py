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

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score

from clipbias.checks import check_int
from clipbias.data.synthetic.evaluation import EVAL_DEFAULTS
from clipbias.metrics._arrays import ArrayLike, encode_labels, to_numpy
from clipbias.metrics.retrieval import (
    max_skew_at_k,
    ndkl_at_k,
    recall_at_k,
    recall_kl_at_k,
    top_k_indices,
)
from clipbias.progress import progress as progress_bar

__all__ = [
    "BIAS_COLUMNS",
    "K_RULES",
    "LOCAL_COLUMNS",
    "METRICS",
    "TARGETS",
    "KMeansViews",
    "bootstrap_concept_metrics",
    "bootstrap_recall_kl",
    "global_bias",
    "kendall_tau_by_subset",
    "kmeans_views",
    "local_departure",
    "partition_agreement",
    "subset_bias",
]

#: Metric names (what each measures: see the module docstring).
METRICS: tuple[str, ...] = ("recall_kl", "max_skew", "ndkl")
#: Targets of the concept metrics.
TARGETS: tuple[str, ...] = ("uniform", "dataset")
#: Columns of the tables returned by :func:`global_bias`.
BIAS_COLUMNS: tuple[str, ...] = ("metric", "target", "k", "n_images", "value", "favoured")
#: Columns of the tables returned by :func:`subset_bias`.
LOCAL_COLUMNS: tuple[str, ...] = ("subset", "metric", "target", "k", "n_images", "value",
                                  "favoured", "ci_low", "ci_high", "matched", "degenerate")
#: How a subset's k follows from the set's k: ``"fixed"`` (the same k) or ``"proportional"``
#: (k scaled by the subset's share of the set, at least 1).
K_RULES: tuple[str, ...] = ("fixed", "proportional")


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


# --- bootstrap over images -------------------------------------------------------------------

def _draws(n: int, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, n) multiplicities of a resample of n images with replacement (multinomial)."""
    rng = np.random.default_rng(seed)
    return rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(np.int64)


def bootstrap_recall_kl(hits: ArrayLike, codes: ArrayLike, counts: ArrayLike) -> np.ndarray:
    """KL of group recall from uniform for resamples of the query images (item pool fixed).

    With m_bi the multiplicity of image i in resample b and h_i its hit (0/1, the caption in the
    top k), r_ba = sum_{i in a} m_bi h_i / sum_{i in a} m_bi, p_ba = r_ba / sum_a r_ba and
    KL_b = sum_a p_ba ln(p_ba L) (0 ln 0 = 0). A resample missing a group, or with no hit at
    all, gives NaN.

    Args:
        hits: (n,) 0/1 hit of each image (:func:`~clipbias.metrics.recall_at_k`).
        codes: (n,) integer group code of each image, 0..L-1, every code present.
        counts: (B, n) non-negative integer multiplicities (a row of ones is the sample itself).

    Returns:
        float64 (B,).
    """
    hits = np.asarray(hits, dtype=np.float64)
    codes = np.asarray(codes)
    w = np.asarray(counts, dtype=np.float64)
    n_groups = int(codes.max()) + 1
    onehot = np.eye(n_groups)[codes]                       # (n, L)
    den = w @ onehot                                       # (B, L)
    num = w @ (onehot * hits[:, None])
    with np.errstate(invalid="ignore", divide="ignore"):
        r = num / den
        p = r / r.sum(axis=1, keepdims=True)
        terms = np.where(p > 0, p * np.log(p * n_groups), 0.0)
    kl = terms.sum(axis=1)
    bad = (den == 0).any(axis=1) | ~np.isfinite(p).all(axis=1)
    return np.where(bad, np.nan, kl)


def _ranked_codes(sorted_codes: np.ndarray, sorted_w: np.ndarray, k: int) -> np.ndarray:
    """Group codes (B, C, k) of the top k of each prompt's ranking of each resample.

    ``sorted_codes`` (C, n) are the groups of the items in each prompt's descending order and
    ``sorted_w`` (B, C, n) their multiplicities; rank i (0-based) falls on the first sorted item
    whose cumulative multiplicity exceeds i. The rows' cumulative counts are offset by
    ``row * (n + 1)`` so that one ``searchsorted`` serves every row."""
    b, c, n = sorted_w.shape
    cum = np.cumsum(sorted_w, axis=2).reshape(b * c, n)
    offset = np.arange(b * c, dtype=np.int64)[:, None] * (n + 1)
    pos = np.searchsorted((cum + offset).ravel(), (np.arange(k) + offset).ravel(), side="right")
    pos = pos.reshape(b, c, k) - (offset.reshape(b, c, 1) // (n + 1)) * n
    return np.take_along_axis(np.broadcast_to(sorted_codes, (b, c, n)), pos, axis=2)


def bootstrap_concept_metrics(similarity: ArrayLike, codes: ArrayLike, counts: ArrayLike, *,
                              k: int, targets: tuple[str, ...] = TARGETS, chunk: int = 64
                              ) -> dict[tuple[str, str], np.ndarray]:
    """MaxSkew@k and NDKL@k (means over prompts) of resamples of the images, without copying.

    A resample repeats image i m_i times; its ranking for a prompt is the images in descending
    similarity (ties by lower index), each repeated m_i times (copies of one image are adjacent
    and share its group), so the top k follows from cumulative multiplicities along one sort per
    prompt. The metrics are then the kernels' formulas (:func:`~clipbias.metrics.max_skew_at_k`,
    :func:`~clipbias.metrics.ndkl_at_k`) on those ranked groups; the ``"dataset"`` target is
    q_l = sum_{i in l} m_i / sum_i m_i. Multiplicities 0/1 give the metric of a subset. They equal the kernels applied to the explicitly resampled
    columns (ties between distinct images aside). A resample missing a group gives NaN.

    Args:
        similarity: (C, n) prompt-image similarities.
        codes: (n,) integer group codes 0..L-1, every code present.
        counts: (B, n) multiplicities, each row's total at least k (a row of ones: the sample;
            rows of 0/1: subsets of the images).
        k: list length, 1 <= k <= n.
        targets: targets from :data:`TARGETS`.
        chunk: resamples per vectorised step (memory about B x C x max(n, k L)).

    Returns:
        {(metric, target): float64 (B,)} for metric in ``("max_skew", "ndkl")``.
    """
    for t in targets:
        _check_target(t)
    sim = np.asarray(to_numpy(similarity), dtype=np.float64)
    codes = np.asarray(codes, dtype=np.int64)
    counts = np.asarray(counts, dtype=np.int64)
    n = sim.shape[1]
    check_int(k, "k", low=1, high=n, what="the number of images")
    if codes.shape != (n,) or counts.ndim != 2 or counts.shape[1] != n:
        raise ValueError(f"codes must be ({n},) and counts (B, {n}), got {codes.shape} and "
                         f"{counts.shape}")
    if (counts < 0).any() or (counts.sum(axis=1) < k).any():
        raise ValueError(f"counts must be non-negative with every row's total at least k={k}")
    n_groups = int(codes.max()) + 1
    order = np.argsort(-sim, axis=1, kind="stable")       # (C, n), ties by lower index
    sorted_codes = codes[order]
    steps = np.arange(1, k + 1, dtype=np.float64)
    disc = 1.0 / np.log2(steps + 1.0)
    out: dict[tuple[str, str], list[np.ndarray]] = {
        (m, t): [] for m in ("max_skew", "ndkl") for t in targets}
    for start in range(0, counts.shape[0], chunk):
        w = counts[start:start + chunk]
        group_n = np.stack([np.bincount(codes, weights=row, minlength=n_groups) for row in w])
        onehot = np.eye(n_groups)[_ranked_codes(sorted_codes, w[:, order], k)]  # (b, C, k, L)
        share = onehot.sum(axis=2) / k                                          # (b, C, L)
        share = np.where(share > 0, share, 1.0 / k)
        prefix = onehot.cumsum(axis=2) / steps[:, None]                         # (b, C, k, L)
        ok = (group_n > 0).all(axis=1)
        for t in targets:
            q = (group_n / group_n.sum(axis=1, keepdims=True) if t == "dataset"
                 else np.full_like(group_n, 1.0 / n_groups))
            with np.errstate(divide="ignore", invalid="ignore"):
                log_q = np.log(q)
                skew = (np.log(share) - log_q[:, None, :]).max(axis=2).mean(axis=1)
                terms = np.where(prefix > 0,
                                 prefix * (np.log(np.where(prefix > 0, prefix, 1.0))
                                           - log_q[:, None, None, :]), 0.0)
            ndkl = ((terms.sum(axis=3) * disc).sum(axis=2) / disc.sum()).mean(axis=1)
            out["max_skew", t].append(np.where(ok, skew, np.nan))
            out["ndkl", t].append(np.where(ok, ndkl, np.nan))
    return {key: np.concatenate(v) for key, v in out.items()}


def _interval(values: np.ndarray, estimate: float, confidence: float) -> tuple[float, float]:
    """Basic (reverse percentile) bootstrap interval: (2 t - q_hi, 2 t - q_lo), with t the
    estimate and q the bootstrap quantiles; it removes the bootstrap's estimate of the
    estimator's bias, which for top-k metrics of resamples with repeated images is large."""
    ok = values[np.isfinite(values)]
    if ok.size == 0:
        return float("nan"), float("nan")
    alpha = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(ok, [alpha, 1.0 - alpha])
    return float(2.0 * estimate - hi), float(2.0 * estimate - lo)


# --- local views -----------------------------------------------------------------------------

def _subset_rows(subsets: ArrayLike, n: int) -> dict[object, np.ndarray]:
    """{subset label: image rows}; label -1 (or None) means "in no subset" and is skipped."""
    arr = np.asarray(to_numpy(subsets), dtype=object)
    if arr.shape != (n,):
        raise ValueError(f"subsets must hold one label per image ({n}), got shape {arr.shape}")
    out = {}
    for label in pd.unique(arr):
        if label is None or (isinstance(label, int | np.integer) and label == -1):
            continue
        out[label.item() if isinstance(label, np.generic) else label] = np.flatnonzero(
            arr == label)
    if not out:
        raise ValueError("subsets holds no subset: every label is -1 (left out)")
    return out


def _local_k(k: int, n_sub: int, n: int, rule: str) -> int:
    if rule == "fixed":
        return k
    return max(1, round(k * n_sub / n))


def subset_bias(image_emb: ArrayLike, text_emb: ArrayLike, groups: ArrayLike,
                subsets: ArrayLike, *, caption_index: ArrayLike | None = None,
                concept_emb: ArrayLike | None = None, k: int = EVAL_DEFAULTS.k,
                recall_k: int = EVAL_DEFAULTS.recall_k, targets: tuple[str, ...] = TARGETS,
                metrics: str | tuple[str, ...] | None = None, k_rule: str = "fixed",
                min_group_size: int = 10, n_boot: int = 0, matched_draws: int = 0,
                seed: int | None = None, confidence: float = 0.95, progress: bool = False
                ) -> pd.DataFrame:
    """Bias of each subset of an evaluation set, computed on that subset alone.

    A subset's metric is :func:`global_bias` on the subset's images (and, for ``recall_kl``,
    their captions) only; its concept metrics use ``k_sub = k`` (``k_rule="fixed"``) or
    ``round(k * n_sub / n)`` (``"proportional"``). A subset in which some group has fewer than
    ``min_group_size`` images, or with fewer images than its k, is *degenerate*: its row is
    kept with ``degenerate=True`` and NaN values. With ``n_boot > 0`` every value gets a
    basic (reverse percentile) bootstrap interval over resampled images
    (:func:`bootstrap_recall_kl`, :func:`bootstrap_concept_metrics`; ``seed`` required).

    A top-k metric depends on the size of the set it ranks, so a subset's value is not an
    estimate of the whole set's. With ``matched_draws > 0`` each row also gets ``matched``: the
    mean of the same metric (same k) over ``matched_draws`` random subsets of the whole set of
    the subset's size, drawn without replacement: the *size-matched global value*, what the
    whole set shows at that size.

    Args:
        image_emb, text_emb, groups, caption_index, concept_emb, k, recall_k, metrics: as in
            :func:`global_bias` (n images).
        subsets: (n,) subset label of each image; ``-1`` leaves an image out of every subset.
            ``np.zeros(n)`` makes the whole set one subset (the global value with an interval).
        targets: targets of the concept metrics (each gives its own rows).
        k_rule: one of :data:`K_RULES`.
        min_group_size: fewest images of every group for a subset's metrics to be computed.
        n_boot: bootstrap resamples (0: no intervals, NaN ``ci_low``/``ci_high``).
        matched_draws: random subsets per size-matched global value (0: NaN ``matched``).
        seed: seed of the resamples and draws (each subset draws from its own streams).
        confidence: central interval level in (0, 1).
        progress: show a bar over subsets.

    Returns:
        DataFrame with columns :data:`LOCAL_COLUMNS`: one row per subset x metric (x target for
        the concept metrics), subsets in order of first appearance.
    """
    for t in targets:
        _check_target(t)
    if k_rule not in K_RULES:
        raise ValueError(f"unknown k_rule {k_rule!r}; choose from {K_RULES}")
    check_int(min_group_size, "min_group_size", low=1)
    check_int(n_boot, "n_boot", low=0)
    check_int(matched_draws, "matched_draws", low=0)
    if (n_boot or matched_draws) and seed is None:
        raise ValueError("n_boot > 0 or matched_draws > 0 needs a seed (every random procedure "
                         "is seeded)")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    metrics = _check_metrics(metrics, concept_emb)
    inp = _BiasInputs(image_emb, text_emb, groups, caption_index, concept_emb)
    parts = _subset_rows(subsets, inp.n)
    seeds = np.random.SeedSequence(0 if seed is None else seed).spawn(len(parts))
    out = []
    for (label, rows), ss in zip(progress_bar(list(parts.items()), desc="subsets",
                                              disable=not progress), seeds, strict=True):
        small = np.bincount(inp.codes[rows], minlength=len(inp.labels)).min() < min_group_size
        k_sub = _local_k(k, rows.shape[0], inp.n, k_rule)
        boot_ss, match_ss = ss.spawn(2)
        counts = (_draws(rows.shape[0], n_boot, int(boot_ss.generate_state(1)[0])) if n_boot
                  else None)
        matched = (_matched(inp, rows.shape[0], metrics, targets, k_sub, recall_k,
                            matched_draws, np.random.default_rng(match_ss))
                   if matched_draws and not small and k_sub <= rows.shape[0] else {})
        boot = {}
        for metric in metrics:
            for target in (("uniform",) if metric == "recall_kl" else targets):
                kk = recall_k if metric == "recall_kl" else k_sub
                row = {"subset": label, "metric": metric, "target": target, "k": kk,
                       "n_images": int(rows.shape[0]), "value": float("nan"),
                       "favoured": None, "ci_low": float("nan"), "ci_high": float("nan"),
                       "matched": matched.get((metric, target), float("nan")),
                       "degenerate": bool(small or kk > rows.shape[0])}
                if not row["degenerate"]:
                    row["value"], row["favoured"] = _value(inp, rows, metric, kk, target)
                    if counts is not None:
                        if (metric, target) not in boot:
                            boot.update(_bootstrap(inp, rows, metric, kk, targets, counts))
                        row["ci_low"], row["ci_high"] = _interval(
                            boot[metric, target], row["value"], confidence)
                out.append(row)
    return pd.DataFrame(out, columns=list(LOCAL_COLUMNS))


def _matched(inp: _BiasInputs, size: int, metrics: tuple[str, ...], targets: tuple[str, ...],
             k: int, recall_k: int, draws: int, rng: np.random.Generator) -> dict:
    """{(metric, target): mean over ``draws`` random subsets of ``size`` images of the set}."""
    picks = [np.sort(rng.choice(inp.n, size=size, replace=False)) for _ in range(draws)]
    out = {}
    if "recall_kl" in metrics:
        out["recall_kl", "uniform"] = float(np.nanmean(
            [_recall_kl(inp, rows, recall_k)[0] for rows in picks]))
    if any(m != "recall_kl" for m in metrics):
        member = np.zeros((draws, inp.n), dtype=np.int64)
        for b, rows in enumerate(picks):
            member[b, rows] = 1
        values = bootstrap_concept_metrics(inp.concepts @ inp.images.T, inp.codes, member,
                                           k=k, targets=targets)
        with np.errstate(all="ignore"):
            out.update({key: float(np.nanmean(v)) for key, v in values.items()})
    return out


def _value(inp: _BiasInputs, rows: np.ndarray, metric: str, k: int, target: str
           ) -> tuple[float, object]:
    if metric == "recall_kl":
        return _recall_kl(inp, rows, k)
    return _concept_metric(inp, rows, metric, k, target)


def _bootstrap(inp: _BiasInputs, rows: np.ndarray, metric: str, k: int,
               targets: tuple[str, ...], counts: np.ndarray) -> dict:
    """Bootstrap values of one subset: recall_kl alone, or both concept metrics x targets."""
    codes = inp.codes[rows]
    if metric == "recall_kl":
        pool, relevant = np.unique(inp.caption_index[rows], return_inverse=True)
        hits = recall_at_k(inp.images[rows] @ inp.captions[pool].T, relevant, k=k)
        return {("recall_kl", "uniform"): bootstrap_recall_kl(hits, codes, counts)}
    return bootstrap_concept_metrics(inp.concepts @ inp.images[rows].T, codes, counts, k=k,
                                     targets=targets)


@dataclass(frozen=True)
class KMeansViews:
    """k-means clusters of an embedding set as local views.

    ``assignment``: (n,) cluster of every image (0..n_clusters-1); ``subsets``: the same with
    ``-1`` for the images of clusters smaller than ``min_cluster_size`` (left out); ``sizes``:
    (n_clusters,) images per cluster; ``n_kept`` / ``n_small``: clusters kept / left out.
    """

    assignment: np.ndarray
    subsets: np.ndarray
    sizes: np.ndarray
    n_kept: int
    n_small: int


def kmeans_views(embeddings: ArrayLike, *, n_clusters: int, seed: int, n_init: int = 10,
                 min_cluster_size: int = 100) -> KMeansViews:
    """Cluster L2-normalised embeddings with k-means (scikit-learn, Lloyd, k-means++ starts).

    Minimises sum_i ||x_i - mu_{c(i)}||^2 over unit rows x_i (so it groups by cosine), best of
    ``n_init`` seeded starts. Clusters under ``min_cluster_size`` images are left out.

    Args:
        embeddings: (n, d) image embeddings.
        n_clusters: number of clusters, 1 <= n_clusters <= n.
        seed: random state of the starts.
        n_init: starts.
        min_cluster_size: fewest images of a kept cluster.

    Returns:
        :class:`KMeansViews`.

    Raises:
        ValueError: ``n_clusters`` larger than the set, or no cluster reaching
            ``min_cluster_size`` (the message gives the largest cluster's size).
    """
    x = _unit_rows(embeddings, "embeddings")
    check_int(n_clusters, "n_clusters", low=1, high=x.shape[0],
              what=f"the number of images, {x.shape[0]}")
    check_int(n_init, "n_init", low=1)
    check_int(min_cluster_size, "min_cluster_size", low=1)
    check_int(seed, "seed", low=0)
    state = int(np.random.SeedSequence(seed).generate_state(1)[0])  # any seed -> 32 bits
    km = KMeans(n_clusters=n_clusters, n_init=n_init, random_state=state).fit(x)
    assignment = km.labels_.astype(np.int64)
    sizes = np.bincount(assignment, minlength=n_clusters)
    keep = sizes >= min_cluster_size
    if not keep.any():
        raise ValueError(f"no cluster reaches min_cluster_size={min_cluster_size}: the largest "
                         f"has {sizes.max()} images; lower min_cluster_size or n_clusters")
    subsets = np.where(keep[assignment], assignment, -1)
    return KMeansViews(assignment=assignment, subsets=subsets, sizes=sizes,
                       n_kept=int(keep.sum()), n_small=int((~keep).sum()))


def partition_agreement(labels: ArrayLike, reference: ArrayLike) -> float:
    """Adjusted Rand index of two partitions of the same items (1: identical, ~0: chance).

    ARI = (RI - E[RI]) / (max RI - E[RI]) over item pairs (Hubert and Arabie 1985).
    """
    a, b = np.asarray(to_numpy(labels)), np.asarray(to_numpy(reference))
    if a.ndim != 1 or a.shape != b.shape:
        raise ValueError(f"labels and reference must be 1-D of one length, got {a.shape} and "
                         f"{b.shape}")
    return float(adjusted_rand_score(b, a))


# --- how far local departs from global -------------------------------------------------------

_KEYS = ("metric", "target")


def local_departure(global_table: pd.DataFrame, local_table: pd.DataFrame, *,
                    by: tuple[str, ...] = ()) -> pd.DataFrame:
    """Per metric, target (and ``by`` columns, e.g. the model): how local values depart from the
    global one.

    Columns: ``n_subsets`` (non-degenerate), ``spread`` = sqrt(mean_s (v_s - v_global)^2),
    ``max_abs_dev`` = max_s |v_s - v_global|, ``share_sign_flips`` = share of subsets whose
    favoured group differs from the global one, ``share_outside_ci`` = share whose bootstrap
    interval excludes the global value (NaN without intervals), ``share_outside_ci_matched`` =
    share whose interval excludes the size-matched global value (column ``matched`` of
    :func:`subset_bias`; NaN without it).

    Args:
        global_table: rows of :func:`global_bias` (plus the ``by`` columns).
        local_table: rows of :func:`subset_bias` (plus the ``by`` columns).
        by: extra key columns present in both tables.
    """
    keys = list(by) + list(_KEYS)
    for name, table in (("global_table", global_table), ("local_table", local_table)):
        missing = [c for c in [*keys, "value", "favoured"] if c not in table.columns]
        if missing:
            raise ValueError(f"{name} lacks columns {missing}")
    g = global_table[[*keys, "value", "favoured"]].rename(
        columns={"value": "global_value", "favoured": "global_favoured"})
    loc = local_table[~local_table["degenerate"]].merge(g, on=keys, how="inner")
    if "matched" not in loc.columns:
        loc = loc.assign(matched=np.nan)
    dev = loc["value"] - loc["global_value"]
    loc = loc.assign(sq=dev**2, absdev=dev.abs(),
                     flip=(loc["favoured"] != loc["global_favoured"]).astype(float),
                     outside=np.where(loc["ci_low"].isna(), np.nan,
                                      ((loc["global_value"] < loc["ci_low"])
                                       | (loc["global_value"] > loc["ci_high"])).astype(float)),
                     outside_m=np.where(loc["ci_low"].isna() | loc["matched"].isna(), np.nan,
                                        ((loc["matched"] < loc["ci_low"])
                                         | (loc["matched"] > loc["ci_high"])).astype(float)))
    agg = loc.groupby(keys, sort=False).agg(
        n_subsets=("value", "size"), spread=("sq", "mean"), max_abs_dev=("absdev", "max"),
        share_sign_flips=("flip", "mean"), share_outside_ci=("outside", "mean"),
        share_outside_ci_matched=("outside_m", "mean"))
    agg["spread"] = np.sqrt(agg["spread"])
    return agg.reset_index()


def kendall_tau_by_subset(global_values: Mapping[str, float] | pd.Series,
                          local_values: pd.DataFrame, *, model: str = "model",
                          subset: str = "subset", value: str = "value") -> pd.DataFrame:
    """Kendall tau-b between the models' global ranking and their ranking on each subset.

    tau_b = (P - Q) / sqrt((P + Q + T_x)(P + Q + T_y)) over model pairs (P concordant, Q
    discordant, T ties in one ranking only); a ranking's tau equals its values' tau. Subsets
    where fewer than 3 models have a finite value get NaN.

    Args:
        global_values: model -> global value.
        local_values: long table with columns ``model``, ``subset``, ``value`` (one subset
            shared by the models, e.g. shared clusters or the oracle partition).

    Returns:
        DataFrame ``subset, n_models, tau, p_value`` (scipy's two-sided p).
    """
    glob = pd.Series(global_values, dtype=float)
    for c in (model, subset, value):
        if c not in local_values.columns:
            raise ValueError(f"local_values lacks column {c!r}")
    rows = []
    for label, part in local_values.groupby(subset, sort=False):
        vals = part.set_index(model)[value].astype(float)
        both = pd.concat([glob.rename("g"), vals.rename("l")], axis=1, join="inner").dropna()
        if len(both) < 3:
            rows.append({"subset": label, "n_models": len(both), "tau": np.nan,
                         "p_value": np.nan})
            continue
        res = stats.kendalltau(both["g"], both["l"])
        rows.append({"subset": label, "n_models": len(both), "tau": float(res.statistic),
                     "p_value": float(res.pvalue)})
    return pd.DataFrame(rows, columns=["subset", "n_models", "tau", "p_value"])
