"""Representation similarity of models: linear CKA (plain and debiased), mutual k-NN alignment.

Inputs are representation matrices of the *same* n inputs, one per model, of shape ``(n, d_i)``
(widths may differ; numpy or torch; the work runs on the device of the first torch input). The
pairwise functions return the full symmetric ``(m, m)`` matrix for m models in one call. The
formulas and the choice between the Gram-matrix and the feature-space computation are written
out in the methods chapter (``book/methods/statistics.md``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch

from clipbias.checks import check_int
from clipbias.metrics._arrays import ArrayLike, row_chunks, top_k

__all__ = [
    "knn_indices",
    "linear_cka",
    "mutual_knn_alignment",
    "pairwise_linear_cka",
    "pairwise_mutual_knn",
]

CKAMethod = Literal["auto", "gram", "feature"]

def _as_representations(
    representations: Sequence[ArrayLike], dtype: torch.dtype
) -> list[torch.Tensor]:
    """Validated 2-D tensors of one dtype on one device, all with the same number of rows."""
    if isinstance(representations, np.ndarray | torch.Tensor) and representations.ndim == 2:
        raise ValueError("representations must be a sequence of 2-D matrices (one per model), "
                         "or a 3-D stack; got a single 2-D matrix")
    if len(representations) < 1:
        raise ValueError("representations is empty")
    device = next((r.device for r in representations if isinstance(r, torch.Tensor)),
                  torch.device("cpu"))
    out = []
    for i, r in enumerate(representations):
        t = r if isinstance(r, torch.Tensor) else torch.as_tensor(np.asarray(r))
        if t.ndim != 2:
            raise ValueError(f"representation {i} must be 2-D (n_inputs, width), "
                             f"got shape {tuple(t.shape)}")
        if out and t.shape[0] != out[0].shape[0]:
            raise ValueError(f"representation {i} has {t.shape[0]} inputs but representation 0 "
                             f"has {out[0].shape[0]}: all must describe the same inputs")
        if t.shape[1] == 0:
            raise ValueError(f"representation {i} has width 0")
        t = t.to(device=device, dtype=dtype)
        if torch.isnan(t).any():
            raise ValueError(f"representation {i} contains NaN")
        out.append(t)
    return out


def _cross_products(xs: list[torch.Tensor], method: str) -> torch.Tensor:
    """S[i, j] = ||X_i^T X_j||_F^2 = <X_i X_i^T, X_j X_j^T>_F for centred X (m, m)."""
    n, m = xs[0].shape[0], len(xs)
    widths = [x.shape[1] for x in xs]
    if method == "auto":
        gram_cost = n * n * sum(widths) + m * m * n * n
        feature_cost = n * (sum(widths) ** 2 + sum(w * w for w in widths)) // 2
        method = "gram" if gram_cost < feature_cost else "feature"
    s = torch.zeros(m, m, dtype=xs[0].dtype, device=xs[0].device)
    if method == "gram":
        for rows in row_chunks(n, m * n):  # a block of Gram rows of every model: (m, rows * n)
            block = torch.stack([(x[rows] @ x.T).reshape(-1) for x in xs])
            s += block @ block.T
        return s
    if method == "feature":
        for i in range(m):
            for j in range(i, m):
                s[i, j] = s[j, i] = torch.sum((xs[i].T @ xs[j]) ** 2)
        return s
    raise ValueError(f"unknown method {method!r}: expected 'auto', 'gram' or 'feature'")


def pairwise_linear_cka(
    representations: Sequence[ArrayLike],
    *,
    debiased: bool = False,
    method: CKAMethod = "auto",
    dtype: torch.dtype = torch.float64,
) -> np.ndarray:
    """Linear CKA between every pair of m representations of the same n inputs.

    Each X_i (n, d_i) is centred once (column means removed). With K_i = X_i X_i^T,
    HSIC(i, j) = <K_i, K_j>_F = ||X_i^T X_j||_F^2 and
    CKA(i, j) = HSIC(i, j) / sqrt(HSIC(i, i) HSIC(j, j)).
    Debiased CKA replaces HSIC by its unbiased estimator (needs n >= 4); for centred X with
    row squared norms a_i (length n) it reduces to
    HSIC_u(i, j) ∝ ||X_i^T X_j||_F^2 - n/(n-2) a_i·a_j + (sum a_i)(sum a_j) / ((n-1)(n-2)).

    ``method`` picks how ||X_i^T X_j||_F^2 is computed: ``"gram"`` stacks the n x n Gram
    matrices (in row blocks, bounded memory), cost ~ n^2 (sum d_i + m^2); ``"feature"`` forms
    the d_i x d_j cross-covariances pair by pair, cost ~ n (sum d_i)^2 / 2; ``"auto"`` takes the
    cheaper one. Both give the same value up to rounding.

    Args:
        representations: sequence of m arrays (n, d_i), or a 3-D stack (m, n, d).
        debiased: use the unbiased HSIC estimator.
        method: ``"auto"``, ``"gram"`` or ``"feature"``.
        dtype: floating dtype of the computation.

    Returns:
        float64 array (m, m), symmetric, ones on the diagonal; in [0, 1] for plain CKA (the
        debiased form can dip slightly below 0).
    """
    xs = _as_representations(representations, dtype)
    n = xs[0].shape[0]
    if n < (4 if debiased else 2):
        raise ValueError(f"{'debiased ' if debiased else ''}CKA needs at least "
                         f"{4 if debiased else 2} inputs, got {n}")
    xs = [x - x.mean(dim=0, keepdim=True) for x in xs]
    for i, x in enumerate(xs):
        if not torch.any(x != 0):
            raise ValueError(f"representation {i} is constant across inputs: CKA is undefined")
    hsic = _cross_products(xs, method)
    if debiased:
        sq = torch.stack([(x * x).sum(dim=1) for x in xs])  # (m, n) row squared norms
        tot = sq.sum(dim=1)
        hsic = hsic - (n / (n - 2)) * (sq @ sq.T) + torch.outer(tot, tot) / ((n - 1) * (n - 2))
    diag = torch.diagonal(hsic)
    if debiased and (diag <= 0).any():
        raise ValueError("the unbiased HSIC of a representation with itself is not positive "
                         "(too few inputs for the debiased estimator)")
    cka = hsic / torch.sqrt(torch.outer(diag, diag))
    return cka.to(torch.float64).cpu().numpy()


def linear_cka(x: ArrayLike, y: ArrayLike, *, debiased: bool = False) -> float:
    """Linear CKA between two representations (n, d_x) and (n, d_y) of the same n inputs.

    See :func:`pairwise_linear_cka` for the formula; 1 for representations equal up to an
    orthogonal transform and an isotropic scaling.

    Returns:
        CKA as a float.
    """
    return float(pairwise_linear_cka([x, y], debiased=debiased)[0, 1])


def _knn(x: torch.Tensor, k: int, index: int) -> torch.Tensor:
    n = x.shape[0]
    check_int(k, "k", low=1, high=n - 1, what="inputs minus self")
    norms = torch.linalg.vector_norm(x, dim=1, keepdim=True)
    if (norms == 0).any():
        raise ValueError(f"representation {index} has zero-norm rows: cosine is undefined")
    xn = x / norms
    parts = []
    for rows in row_chunks(n, n):
        s = xn[rows] @ xn.T
        r = torch.arange(rows.start, rows.stop, device=x.device)
        s[r - rows.start, r] = -torch.inf  # exclude self
        parts.append(top_k(s, k))
    return torch.cat(parts)


def knn_indices(x: ArrayLike, *, k: int) -> np.ndarray:
    """The k nearest neighbours of every input by cosine similarity, self excluded.

    Ranking by descending cosine, ties broken by the lower index.

    Args:
        x: (n, d) representation.
        k: neighbours per input, 1 <= k <= n - 1.

    Returns:
        int64 array (n, k), nearest first.
    """
    (t,) = _as_representations([x], torch.float64)
    return _knn(t, k, 0).cpu().numpy()


def pairwise_mutual_knn(
    representations: Sequence[ArrayLike], *, k: int = 10, dtype: torch.dtype = torch.float64
) -> np.ndarray:
    """Mutual k-NN alignment between every pair of m representations of the same n inputs.

    alignment(i, j) = (1/n) sum_r |N_i(r) ∩ N_j(r)| / k, where N_i(r) is the set of the k
    nearest neighbours of input r in representation i (cosine, self excluded, ties by lower
    index). Neighbour lists are computed once per model; the overlap of two lists is counted by
    sorting their concatenation.

    Args:
        representations: sequence of m arrays (n, d_i), or a 3-D stack (m, n, d).
        k: neighbours per input, 1 <= k <= n - 1.
        dtype: floating dtype of the cosine computation.

    Returns:
        float64 array (m, m), symmetric, ones on the diagonal, values in [0, 1].
    """
    xs = _as_representations(representations, dtype)
    neighbours = [_knn(x, k, i) for i, x in enumerate(xs)]
    m = len(xs)
    out = np.eye(m)
    for i in range(m):
        for j in range(i + 1, m):
            both = torch.sort(torch.cat([neighbours[i], neighbours[j]], dim=1), dim=1).values
            shared = (both[:, 1:] == both[:, :-1]).sum()
            out[i, j] = out[j, i] = float(shared) / (k * xs[0].shape[0])
    return out


def mutual_knn_alignment(x: ArrayLike, y: ArrayLike, *, k: int = 10) -> float:
    """Mutual k-NN alignment of two representations of the same inputs (see
    :func:`pairwise_mutual_knn`): the mean share of shared nearest neighbours.

    Returns:
        alignment in [0, 1] as a float.
    """
    return float(pairwise_mutual_knn([x, y], k=k)[0, 1])
