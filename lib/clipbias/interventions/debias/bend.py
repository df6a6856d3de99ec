"""A test-time debiaser in the spirit of BendVLM (Gerych et al. 2024): no training, per query.

Two steps for a unit text query ``q`` (d,), from the published description:

1. **Local orthogonalisation.** The basis holds the spurious prompts ``a_k`` ("a photo of an
   orange person") and the half differences ``(t_i - t_j) / 2`` of the query's attribute
   augmentations ``t_k`` ("a photo of an orange chef", "a photo of a teal chef"); ``q1 =
   normalize((I - Proj_span(basis)) q)``.
2. **Equal distance.** In a labelled reference image set, the prototype ``mu_k`` of group ``k`` is
   the mean of the ``n_nearest`` images of that group most similar to ``q1``. The output solves
   ``max <e, q1>`` subject to ``||e|| = 1`` and ``<e, mu_k> = <e, mu_1>`` for every ``k``; the
   constraints form the subspace orthogonal to ``C = [mu_k - mu_1]_k``, so ``e = normalize((I -
   C (C^T C)^+ C^T) q1)`` (BendVLM solves it with SLSQP; the closed form is its maximiser).

Where we chose: BendVLM writes the augmentations with a language model; we fill the attribute
into the query's own template. Its n is 100 for gender; ours is a parameter.
"""

from __future__ import annotations

import numpy as np

from clipbias.checks import check_int

__all__ = ["bend_queries", "equal_distance", "orthogonal_complement"]


def orthogonal_complement(basis: np.ndarray) -> np.ndarray:
    """``I - B^T (B B^T)^+ B`` for basis rows ``B`` (m, d): the projector onto the complement of
    their span (rank-deficient bases are fine)."""
    b = np.asarray(basis, dtype=np.float64)
    return np.eye(b.shape[1]) - b.T @ np.linalg.pinv(b @ b.T) @ b


def equal_distance(query: np.ndarray, prototypes: np.ndarray) -> np.ndarray:
    """The unit ``e`` maximising ``<e, query>`` with ``<e, mu_k>`` equal for every prototype row
    ``mu_k`` of ``prototypes`` (G, d): ``normalize(P query)``, ``P`` the projector onto the
    complement of ``span{mu_k - mu_1}``. Returns (d,)."""
    mu = np.asarray(prototypes, dtype=np.float64)
    e = orthogonal_complement(mu[1:] - mu[0]) @ np.asarray(query, dtype=np.float64)
    norm = np.linalg.norm(e)
    if norm == 0:
        raise ValueError("the query lies in the span of the prototype differences; the "
                         "equal-distance constraint leaves nothing of it")
    return e / norm


def _unit_rows(x, name: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if not np.isfinite(a).all():
        raise ValueError(f"{name} holds NaN or infinite values")
    return a / np.linalg.norm(a, axis=-1, keepdims=True)


def bend_queries(queries, augmentations, spurious, references, reference_groups, *,
                 n_nearest: int = 100) -> np.ndarray:
    """Debias every text query (module docstring). Inputs are normalised here.

    Args:
        queries: (q, d) text embeddings of the queries.
        augmentations: (q, G, d) the query with each of the G attribute values filled in.
        spurious: (K, d) spurious prompt embeddings.
        references: (n, d) reference image embeddings.
        reference_groups: (n,) their attribute labels (G distinct values).
        n_nearest: images per group averaged into a prototype (at most the smallest group).

    Returns:
        float32 (q, d) unit debiased queries.
    """
    q = _unit_rows(queries, "queries")
    aug = _unit_rows(augmentations, "augmentations")
    spur = _unit_rows(spurious, "spurious")
    ref = _unit_rows(references, "references")
    if q.ndim != 2 or aug.ndim != 3 or aug.shape[0] != q.shape[0] or aug.shape[2] != q.shape[1]:
        raise ValueError(f"augmentations must be (q, G, d) = ({q.shape[0]}, G, {q.shape[1]}), "
                         f"got {aug.shape}")
    groups = np.asarray(reference_groups)
    if groups.shape != (ref.shape[0],):
        raise ValueError(f"reference_groups must have one label per reference ({ref.shape[0]})")
    labels, counts = np.unique(groups, return_counts=True)
    if len(labels) < 2:
        raise ValueError("reference_groups must hold at least two groups")
    check_int(n_nearest, "n_nearest", low=1, high=int(counts.min()),
              what="the size of the smallest reference group")
    pairs = [(i, j) for i in range(aug.shape[1]) for j in range(i + 1, aug.shape[1])]
    out = np.empty_like(q)
    for row in range(q.shape[0]):
        halves = np.array([(aug[row, i] - aug[row, j]) / 2 for i, j in pairs])
        q1 = orthogonal_complement(np.vstack([spur, halves])) @ q[row]
        q1 /= np.linalg.norm(q1)
        scores = ref @ q1
        prototypes = []
        for label in labels:
            members = np.flatnonzero(groups == label)
            top = members[np.argsort(-scores[members], kind="stable")[:n_nearest]]
            prototypes.append(ref[top].mean(axis=0))
        out[row] = equal_distance(q1, np.array(prototypes))
    return out.astype(np.float32)
