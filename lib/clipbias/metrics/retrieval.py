"""Retrieval bias of ranked lists: Skew, MaxSkew, MinSkew, NDKL, recall, KL of group recall, Bias@k.

Every function takes a similarity matrix of shape ``(n_queries, n_items)`` (numpy or torch, on
the CPU or a CUDA device; the work runs where a torch input lives) and ranks the items of each
query by descending similarity, ties broken by the lower item index, keeping exactly ``k``
items. The ranking uses ``torch.topk`` plus an exact tie repair, chunked over queries so that
memory stays bounded for ``n_items`` of 10^5 and more. Group counts along the ranking come from a
one-hot cumulative sum, never a Python loop over ranks or queries.

Group labels may be any hashable values (strings, integers); per-group outputs list the groups
in sorted label order. The formulas and conventions are written out in the methods chapter
(``book/methods/retrieval.md``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

from clipbias.metrics._arrays import (
    ArrayLike,
    as_matrix,
    check_k,
    encode_labels,
    row_chunks,
    top_k,
)

__all__ = [
    "GroupRecallKL",
    "bias_at_k",
    "max_skew_at_k",
    "min_skew_at_k",
    "ndkl_at_k",
    "recall_at_k",
    "recall_kl_at_k",
    "skew_at_k",
    "top_k_indices",
]

Target = Literal["uniform", "dataset"]
def _ranked_groups(sim: torch.Tensor, codes: torch.Tensor, k: int) -> Iterator[torch.Tensor]:
    """Group codes of the ranked top k, chunk by chunk of queries: tensors (chunk, k)."""
    for rows in row_chunks(sim.shape[0], sim.shape[1]):
        yield codes[top_k(sim[rows], k)]


def top_k_indices(similarity: ArrayLike, *, k: int) -> np.ndarray:
    """Ranked item indices of the top ``k`` items of each query.

    Ranking: descending similarity, ties broken by the lower item index, exactly ``k`` items.

    Args:
        similarity: (n_queries, n_items) scores.
        k: list length, 1 <= k <= n_items.

    Returns:
        int64 array (n_queries, k); column 0 is the best item.
    """
    sim = as_matrix(similarity, "similarity")
    check_k(k, sim.shape[1])
    parts = [top_k(sim[rows], k).cpu() for rows in row_chunks(sim.shape[0], sim.shape[1])]
    return torch.cat(parts).numpy()


def _target_shares(codes: np.ndarray, n_groups: int, target: str) -> np.ndarray:
    if target == "uniform":
        return np.full(n_groups, 1.0 / n_groups)
    if target == "dataset":
        return np.bincount(codes, minlength=n_groups) / codes.shape[0]
    raise ValueError(f"unknown target {target!r}: expected 'uniform' or 'dataset'")


def _prepare(similarity: ArrayLike, groups: ArrayLike, k: int, target: str):
    sim = as_matrix(similarity, "similarity")
    labels, codes = encode_labels(groups, sim.shape[1], "groups")
    if labels.shape[0] < 2:
        raise ValueError(f"groups must hold at least two distinct groups, got only {labels[0]!r}")
    check_k(k, sim.shape[1])
    q = _target_shares(codes, labels.shape[0], target)
    return sim, torch.as_tensor(codes, device=sim.device), labels.shape[0], q


def skew_at_k(
    similarity: ArrayLike, groups: ArrayLike, *, k: int, target: Target = "uniform"
) -> np.ndarray:
    """Skew@k of every group for every query.

    Skew_l@k = ln(p_l / q_l), where p_l is the share of group l among the top k items (a group
    absent from the top k gets p_l = 1/k) and q_l the target share: ``"uniform"`` q_l = 1/L
    (L groups, equal opportunity) or ``"dataset"`` q_l = n_l / n_items (demographic parity).

    Args:
        similarity: (n_queries, n_items) scores.
        groups: (n_items,) group label of each item; at least two distinct labels.
        k: length of the ranked list, 1 <= k <= n_items.
        target: ``"uniform"`` or ``"dataset"``.

    Returns:
        float64 array (n_queries, n_groups), columns in sorted label order.
    """
    sim, codes, n_groups, q = _prepare(similarity, groups, k, target)
    log_q = torch.as_tensor(np.log(q), device=sim.device)
    out = []
    for top in _ranked_groups(sim, codes, k):
        counts = torch.zeros(top.shape[0], n_groups, dtype=torch.float64, device=sim.device)
        counts.scatter_add_(1, top, torch.ones_like(top, dtype=torch.float64))
        p = torch.where(counts > 0, counts / k, torch.full_like(counts, 1.0 / k))
        out.append((torch.log(p) - log_q).cpu())
    return torch.cat(out).numpy()


def max_skew_at_k(
    similarity: ArrayLike, groups: ArrayLike, *, k: int, target: Target = "uniform"
) -> np.ndarray:
    """MaxSkew@k = max over groups l of ln(p_l / q_l) (see :func:`skew_at_k`).

    Args:
        similarity: (n_queries, n_items) scores.
        groups: (n_items,) group labels, at least two distinct.
        k: length of the ranked list, 1 <= k <= n_items.
        target: ``"uniform"`` (q_l = 1/L) or ``"dataset"`` (q_l = n_l / n_items).

    Returns:
        float64 array (n_queries,); 0 is perfectly balanced, larger is more skewed.
    """
    return skew_at_k(similarity, groups, k=k, target=target).max(axis=1)


def min_skew_at_k(
    similarity: ArrayLike, groups: ArrayLike, *, k: int, target: Target = "uniform"
) -> np.ndarray:
    """MinSkew@k = min over groups l of ln(p_l / q_l) (see :func:`skew_at_k`).

    Args:
        similarity: (n_queries, n_items) scores.
        groups: (n_items,) group labels, at least two distinct.
        k: length of the ranked list, 1 <= k <= n_items.
        target: ``"uniform"`` or ``"dataset"``.

    Returns:
        float64 array (n_queries,); 0 is balanced, more negative means a group is under-served.
    """
    return skew_at_k(similarity, groups, k=k, target=target).min(axis=1)


def ndkl_at_k(
    similarity: ArrayLike, groups: ArrayLike, *, k: int, target: Target = "uniform"
) -> np.ndarray:
    """Normalised discounted cumulative KL divergence of the ranked list from the target.

    NDKL@k = (1/Z) sum_{i=1..k} KL(p^(i) || q) / log2(i + 1), Z = sum_{i=1..k} 1 / log2(i + 1),
    where p^(i) is the group distribution of the top i items, KL(p || q) = sum_l p_l ln(p_l/q_l)
    (natural log, 0 ln 0 = 0, no smoothing of p) and q the target shares (``"uniform"`` 1/L or
    ``"dataset"`` n_l / n_items). Computed from one-hot cumulative counts along the ranking.

    Args:
        similarity: (n_queries, n_items) scores.
        groups: (n_items,) group labels, at least two distinct.
        k: length of the ranked list, 1 <= k <= n_items.
        target: ``"uniform"`` or ``"dataset"``.

    Returns:
        float64 array (n_queries,), >= 0; 0 when every prefix matches the target exactly.
    """
    sim, codes, n_groups, q = _prepare(similarity, groups, k, target)
    dev = sim.device
    log_q = torch.as_tensor(np.log(q), device=dev)
    ranks = torch.arange(1, k + 1, dtype=torch.float64, device=dev)
    weights = 1.0 / torch.log2(ranks + 1.0)
    out = []
    for rows in row_chunks(sim.shape[0], max(sim.shape[1], k * n_groups)):
        top = codes[top_k(sim[rows], k)]
        cum = torch.nn.functional.one_hot(top, n_groups).cumsum(dim=1, dtype=torch.float64)
        p = cum / ranks[:, None]
        terms = torch.where(p > 0, p * (torch.log(p) - log_q), torch.zeros_like(p))
        out.append(((terms.sum(dim=2) * weights).sum(dim=1) / weights.sum()).cpu())
    return torch.cat(out).numpy()


def _hits(sim: torch.Tensor, relevant: ArrayLike, k: int) -> torch.Tensor:
    """Boolean (n_queries,): whether any relevant item is among the top k of each query."""
    n_q, n_items = sim.shape
    rel = relevant if isinstance(relevant, torch.Tensor) else torch.as_tensor(np.asarray(relevant))
    rel = rel.to(sim.device)
    if rel.ndim == 1:
        if rel.shape[0] != n_q:
            raise ValueError(f"relevant has {rel.shape[0]} entries but there are {n_q} queries")
        if rel.dtype.is_floating_point or rel.dtype == torch.bool:
            raise ValueError("a 1-D relevant must hold integer item indices")
        if ((rel < 0) | (rel >= n_items)).any():
            raise ValueError(f"relevant item indices must lie in [0, {n_items})")
        targets = rel.to(torch.int64)[:, None]
        parts = [(top_k(sim[r], k) == targets[r]).any(dim=1) for r in row_chunks(n_q, n_items)]
        return torch.cat(parts)
    if rel.ndim == 2:
        if tuple(rel.shape) != (n_q, n_items):
            raise ValueError(f"relevant has shape {tuple(rel.shape)} but similarity has "
                             f"{(n_q, n_items)}")
        rel = rel.to(torch.bool)
        if not rel.any(dim=1).all():
            raise ValueError("every query needs at least one relevant item")
        parts = [torch.gather(rel[r], 1, top_k(sim[r], k)).any(dim=1)
                 for r in row_chunks(n_q, n_items)]
        return torch.cat(parts)
    raise ValueError(f"relevant must be 1-D item indices or a 2-D mask, got {rel.ndim}-D")


def recall_at_k(similarity: ArrayLike, relevant: ArrayLike, *, k: int) -> np.ndarray:
    """Per-query recall@k in the image-text retrieval sense: 1 if any relevant item is in the top k.

    R@k of a query set is the mean of the returned array.

    Args:
        similarity: (n_queries, n_items) scores.
        relevant: (n_queries,) integer index of the one relevant item of each query, or a
            boolean mask (n_queries, n_items) with at least one relevant item per query.
        k: list length, 1 <= k <= n_items.

    Returns:
        float64 array (n_queries,) of 0.0 and 1.0.
    """
    sim = as_matrix(similarity, "similarity")
    check_k(k, sim.shape[1])
    return _hits(sim, relevant, k).to(torch.float64).cpu().numpy()


@dataclass(frozen=True)
class GroupRecallKL:
    """Recall@k per query group and the KL divergence of their normalised shares from uniform.

    ``groups`` are the sorted group labels, ``recall`` the recall@k of each (float64 array of
    the same length), ``kl`` = sum_a p_a ln(p_a L) with p_a = recall_a / sum recall (NaN when
    every group has recall 0).
    """

    groups: np.ndarray
    recall: np.ndarray
    kl: float


def recall_kl_at_k(
    similarity: ArrayLike, relevant: ArrayLike, query_groups: ArrayLike, *, k: int
) -> GroupRecallKL:
    """KL divergence of per-group recall@k from the uniform distribution (demographic disparity).

    r_a = mean recall@k (:func:`recall_at_k`) over the queries of group a; p_a = r_a / sum_b r_b;
    KL(p || U) = sum_a p_a ln(p_a / (1/L)) with 0 ln 0 = 0 and L groups; 0 means equal recall.

    Args:
        similarity: (n_queries, n_items) scores.
        relevant: (n_queries,) relevant item index, or (n_queries, n_items) boolean mask.
        query_groups: (n_queries,) group label of each query (e.g. of its ground-truth image).
        k: list length, 1 <= k <= n_items.

    Returns:
        :class:`GroupRecallKL` with the sorted labels, recall per group and the KL value.
    """
    sim = as_matrix(similarity, "similarity")
    labels, codes = encode_labels(query_groups, sim.shape[0], "query_groups")
    if labels.shape[0] < 2:
        raise ValueError(
            f"query_groups must hold at least two distinct groups, got only {labels[0]!r}")
    check_k(k, sim.shape[1])
    hits = _hits(sim, relevant, k).to(torch.float64).cpu().numpy()
    n_groups = labels.shape[0]
    recall = np.bincount(codes, weights=hits, minlength=n_groups) / np.bincount(
        codes, minlength=n_groups)
    total = recall.sum()
    if total == 0:
        return GroupRecallKL(groups=labels, recall=recall, kl=float("nan"))
    p = recall / total
    nz = p > 0
    kl = float(np.sum(p[nz] * np.log(p[nz] * n_groups)))
    return GroupRecallKL(groups=labels, recall=recall, kl=kl)


def bias_at_k(
    similarity: ArrayLike, groups: ArrayLike, *, k: int, positive: Any, negative: Any
) -> np.ndarray:
    """Bias@k: normalised difference between two groups' counts in the top k of each query.

    bias@k = (N_pos - N_neg) / (N_pos + N_neg), counts over the top k items; items of any other
    label (e.g. "unknown") count for neither; 0 when neither group appears in the top k. In
    [-1, 1]: +1 only ``positive`` items, -1 only ``negative`` items. Bias@k of a query set is the
    mean over queries.

    Args:
        similarity: (n_queries, n_items) scores.
        groups: (n_items,) item labels; ``positive`` and ``negative`` must both occur.
        k: list length, 1 <= k <= n_items.
        positive: the label counted positively (e.g. "male").
        negative: the label counted negatively (e.g. "female").

    Returns:
        float64 array (n_queries,).
    """
    sim = as_matrix(similarity, "similarity")
    labels, codes = encode_labels(groups, sim.shape[1], "groups")
    check_k(k, sim.shape[1])
    present = {label: i for i, label in enumerate(labels.tolist())}
    for name, value in (("positive", positive), ("negative", negative)):
        if value not in present:
            raise ValueError(f"{name} label {value!r} does not occur in groups")
    if positive == negative:
        raise ValueError("positive and negative must be two different groups")
    sign = np.zeros(labels.shape[0])
    sign[present[positive]], sign[present[negative]] = 1.0, -1.0
    sign_t = torch.as_tensor(sign, device=sim.device)
    codes_t = torch.as_tensor(codes, device=sim.device)
    out = []
    for top in _ranked_groups(sim, codes_t, k):
        s = sign_t[top]
        diff, total = s.sum(dim=1), s.abs().sum(dim=1)
        out.append(torch.where(total > 0, diff / total.clamp(min=1.0), 0.0).cpu())
    return torch.cat(out).numpy()
