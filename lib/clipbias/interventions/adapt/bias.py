"""Downstream bias measures on a balanced test set, signed towards the stereotype.

An item is *stereotypical* when its concept is stereotyped for its group (the world's
assignment) and *anti-stereotypical* otherwise. On a balanced set both kinds occur in every
class, so a model that ignores the group scores 0 on every measure here (up to noise).
"""

from __future__ import annotations

import numpy as np

__all__ = ["stereotype_gap", "stereotype_skew"]


def _vectors(n_name: str, **arrays: object) -> dict[str, np.ndarray]:
    out = {k: np.asarray(v) for k, v in arrays.items()}
    n = {a.shape[0] if a.ndim else -1 for a in out.values()}
    if len(n) != 1 or -1 in n or any(a.ndim != 1 for a in out.values()):
        raise ValueError(f"{', '.join(out)} must be 1-D arrays of one length ({n_name})")
    return out


def stereotype_gap(success: object, classes: object, stereotyped: object) -> float:
    """Mean over classes of the success-rate gap between stereotypical and anti-stereotypical
    items.

    ``gap = (1/C) sum_c [mean(success | class c, stereotypical) - mean(success | class c,
    anti-stereotypical)]``, over the C classes that have both kinds of item. With success =
    correct classification it is the error-rate gap ``err_anti - err_stereo``; with success = a
    recall@k hit, the recall gap. Positive: the model does better where the stereotype holds.

    Args:
        success: (n,) 0/1 or bool outcome per item.
        classes: (n,) class of each item (its concept).
        stereotyped: (n,) bool, whether the item's concept is stereotyped for its group.

    Returns:
        the gap as a float.
    """
    a = _vectors("one entry per test item", success=success, classes=classes,
                 stereotyped=stereotyped)
    s = a["success"].astype(np.float64)
    st = a["stereotyped"].astype(bool)
    gaps = [s[(a["classes"] == c) & st].mean() - s[(a["classes"] == c) & ~st].mean()
            for c in np.unique(a["classes"])
            if ((a["classes"] == c) & st).any() and ((a["classes"] == c) & ~st).any()]
    if not gaps:
        raise ValueError("no class has both stereotypical and anti-stereotypical items: the gap "
                         "needs a balanced test set")
    return float(np.mean(gaps))


def stereotype_skew(retrieved_concepts: object, image_groups: object, pool_concepts: object,
                    concept_groups: object) -> float:
    """Excess share of retrieved captions naming a concept stereotyped for the image's group.

    For image i of group g_i with top-k retrieved captions naming concepts r_i1..r_ik:
    ``s_i = (1/k) sum_j [a(r_ij) = g_i]`` and ``b_i = share of the pool's captions whose concept
    a(.) = g_i``, with a(c) the group concept c is stereotyped for; ``skew = mean_i (s_i - b_i)``.
    0 when retrieval ignores the group; positive when it follows the stereotype.

    Args:
        retrieved_concepts: (n, k) concept id named by each retrieved caption.
        image_groups: (n,) group id of each image.
        pool_concepts: (m,) concept id named by each caption of the pool.
        concept_groups: (C,) group each concept id is stereotyped for.

    Returns:
        the skew as a float.
    """
    r = np.asarray(retrieved_concepts)
    g = np.asarray(image_groups)
    pool = np.asarray(pool_concepts)
    assign = np.asarray(concept_groups)
    if r.ndim != 2 or g.ndim != 1 or r.shape[0] != g.shape[0] or r.shape[1] < 1:
        raise ValueError(f"retrieved_concepts must be (n, k) with n = len(image_groups), got "
                         f"{r.shape} and {g.shape}")
    if pool.ndim != 1 or pool.size == 0:
        raise ValueError("pool_concepts must be a non-empty 1-D array")
    for name, ids in (("retrieved_concepts", r), ("pool_concepts", pool)):
        if ids.min() < 0 or ids.max() >= assign.shape[0]:
            raise ValueError(f"{name} must hold concept ids in [0, {assign.shape[0]})")
    share = (assign[r] == g[:, None]).mean(axis=1)
    base = (assign[pool][None, :] == np.unique(g)[:, None]).mean(axis=1)
    lookup = dict(zip(np.unique(g).tolist(), base.tolist(), strict=True))
    return float(np.mean(share - np.array([lookup[v] for v in g.tolist()])))
