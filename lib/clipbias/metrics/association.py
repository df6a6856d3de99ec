"""Classification bias and alignment: zero-shot accuracy, representation/association bias, ABLE.

All functions read image-by-label similarity matrices of shape ``(n_images, n_labels)`` (numpy or
torch, CPU or CUDA) whose columns are class or concept prompts. The formulas are written out in
the methods chapter (``book/methods/retrieval.md``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from clipbias.checks import check_int
from clipbias.metrics._arrays import (
    ArrayLike,
    as_matrix,
    encode_labels,
    row_chunks,
    to_numpy,
    top_k,
)

__all__ = [
    "AssociationBias",
    "able",
    "association_bias",
    "preference",
    "representation_bias",
    "zero_shot_accuracy",
    "zero_shot_correct",
]


def zero_shot_correct(similarity: ArrayLike, labels: ArrayLike, *, k: int = 1) -> np.ndarray:
    """Whether each image's true class is among its ``k`` highest-scoring classes.

    Ranking as everywhere in :mod:`clipbias.metrics`: descending similarity, ties broken by the
    lower class index (so a tie at the top is resolved in favour of the lower column).

    Args:
        similarity: (n_images, n_classes) scores of every image against every class prompt.
        labels: (n_images,) integer class index in [0, n_classes) of each image.
        k: top-k criterion, 1 <= k <= n_classes (1: top-1 accuracy).

    Returns:
        boolean array (n_images,); its mean is the top-k accuracy, and it can be disaggregated by
        group or resampled for a bootstrap.
    """
    sim = as_matrix(similarity, "similarity")
    n_images, n_classes = sim.shape
    check_int(k, "k", low=1, high=n_classes, what="the number of classes")
    y = to_numpy(labels)
    if y.ndim != 1 or y.shape[0] != n_images:
        raise ValueError(f"labels must have shape ({n_images},), got {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"labels must be integer class indices, got dtype {y.dtype}")
    if ((y < 0) | (y >= n_classes)).any():
        raise ValueError(f"labels must lie in [0, {n_classes})")
    truth = torch.as_tensor(y.astype(np.int64), device=sim.device)[:, None]
    parts = [(top_k(sim[r], k) == truth[r]).any(dim=1).cpu() for r in row_chunks(n_images, n_classes)]
    return torch.cat(parts).numpy()


def zero_shot_accuracy(similarity: ArrayLike, labels: ArrayLike, *, k: int = 1) -> float:
    """Top-k zero-shot accuracy: the share of images whose class is in their top k classes.

    Args:
        similarity: (n_images, n_classes) scores.
        labels: (n_images,) integer class indices.
        k: top-k criterion (1: top-1).

    Returns:
        accuracy as a fraction in [0, 1].
    """
    return float(zero_shot_correct(similarity, labels, k=k).mean())


def _column(sim: torch.Tensor, j: int, name: str) -> torch.Tensor:
    check_int(j, name, low=0, high=sim.shape[1] - 1, what="a column index")
    return sim[:, j]


def preference(similarity: ArrayLike, *, a: int = 0, b: int = 1) -> np.ndarray:
    """Per-image preference for label ``a`` over label ``b``.

    pref_i = 1 if sim[i, a] > sim[i, b], 1/2 if equal, 0 otherwise.

    Args:
        similarity: (n_images, n_labels) scores.
        a: column of the first label.
        b: column of the second label (different from ``a``).

    Returns:
        float64 array (n_images,) of 0, 0.5 and 1.
    """
    sim = as_matrix(similarity, "similarity")
    if a == b:
        raise ValueError("a and b must be two different label columns")
    sa, sb = _column(sim, a, "a"), _column(sim, b, "b")
    return ((sa > sb).to(torch.float64) + 0.5 * (sa == sb).to(torch.float64)).cpu().numpy()


def representation_bias(similarity: ArrayLike, *, a: int = 0, b: int = 1) -> float:
    """Model representation bias: the share of (neutral) images preferring label ``a`` over ``b``.

    RB = (1/n) sum_i pref_i (see :func:`preference`; ties count one half). 0.5 means no
    preference; e.g. with columns ("male", "female") on images without people, RB = 0.83 means
    83% of them sit closer to "male".

    Args:
        similarity: (n_images, n_labels) scores of attribute-neutral images.
        a: column of the first label.
        b: column of the second label.

    Returns:
        RB in [0, 1].
    """
    return float(preference(similarity, a=a, b=b).mean())


@dataclass(frozen=True)
class AssociationBias:
    """Association bias between a group attribute and a pair of concepts.

    ``groups``: the two group labels, in the order used; ``preference``: P(prefer a over b) among
    the images of each group (float64 array of length 2); ``gap``: preference[0] - preference[1].
    """

    groups: tuple[Any, Any]
    preference: np.ndarray
    gap: float


def association_bias(
    similarity: ArrayLike,
    groups: ArrayLike,
    *,
    a: int = 0,
    b: int = 1,
    group_order: tuple[Any, Any] | None = None,
) -> AssociationBias:
    """Model association bias: the gap between two groups in P(prefer concept a over concept b).

    P_g = mean of pref_i (see :func:`preference`) over the images i of group g;
    AB = P_{g1} - P_{g2}. E.g. columns ("nurse", "doctor") and groups ("female", "male"):
    AB = 0.55 means women's images prefer "nurse" 55 points more often than men's.

    Args:
        similarity: (n_images, n_labels) scores.
        groups: (n_images,) group label of each image.
        a: column of the first concept.
        b: column of the second concept.
        group_order: the two groups (g1, g2) to compare; by default ``groups`` must hold exactly
            two labels, taken in sorted order.

    Returns:
        :class:`AssociationBias`.
    """
    pref = preference(similarity, a=a, b=b)
    labels, codes = encode_labels(groups, pref.shape[0], "groups")
    known = labels.tolist()
    if group_order is None:
        if len(known) != 2:
            raise ValueError(f"groups holds {len(known)} distinct labels; pass group_order to "
                             "choose the two groups to compare")
        order = (known[0], known[1])
    else:
        if len(group_order) != 2 or group_order[0] == group_order[1]:
            raise ValueError(f"group_order must name two different groups, got {group_order!r}")
        for g in group_order:
            if g not in known:
                raise ValueError(f"group {g!r} does not occur in groups")
        order = (group_order[0], group_order[1])
    means = np.array([pref[codes == known.index(g)].mean() for g in order])
    return AssociationBias(groups=order, preference=means, gap=float(means[0] - means[1]))


def able(max_skew: float | np.ndarray, accuracy: float | np.ndarray) -> float | np.ndarray:
    """ABLE, the alignment-and-bias score of joint debiasing: a harmonic mean.

    ABLE = 2 / (1 / exp(-MaxSkew) + 1 / accuracy), the harmonic mean of exp(-MaxSkew) (1 for no
    skew) and the zero-shot accuracy. Higher is better.

    Args:
        max_skew: MaxSkew@k (e.g. averaged over prompts), scalar or array; finite.
        accuracy: zero-shot accuracy as a fraction in (0, 1] (not a percentage), broadcastable.

    Returns:
        ABLE as a fraction (a float for scalar inputs, else an array).
    """
    skew = np.asarray(max_skew, dtype=np.float64)
    acc = np.asarray(accuracy, dtype=np.float64)
    if not np.isfinite(skew).all():
        raise ValueError("max_skew must be finite")
    if not np.isfinite(acc).all() or (acc <= 0).any() or (acc > 1).any():
        raise ValueError(f"accuracy must be a fraction in (0, 1], got {accuracy!r} "
                         "(divide a percentage by 100)")
    value = 2.0 / (np.exp(skew) + 1.0 / acc)
    return float(value) if value.ndim == 0 else value
