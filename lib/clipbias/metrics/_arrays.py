"""Array helpers shared by the retrieval, association and similarity kernels.

Validation of similarity matrices and label vectors, chunking of query rows so that memory stays
bounded, and the exact top-k ranking (descending value, ties broken by the lower item index).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from clipbias.checks import check_int

__all__ = [
    "CHUNK_ELEMENTS",
    "ArrayLike",
    "as_matrix",
    "check_k",
    "encode_labels",
    "row_chunks",
    "to_numpy",
    "top_k",
]

ArrayLike = np.ndarray | torch.Tensor | Sequence[Any]

#: Elements per chunk of queries (a chunk of rows holds at most this many similarity values).
CHUNK_ELEMENTS = 1 << 24


def as_matrix(x: ArrayLike, name: str) -> torch.Tensor:
    """A 2-D floating tensor without NaN; numpy input becomes a CPU tensor (shared memory)."""
    t = x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
    if t.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array, got shape {tuple(t.shape)}")
    if not torch.is_floating_point(t):
        t = t.to(torch.float64)
    if t.shape[0] == 0 or t.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {tuple(t.shape)})")
    if torch.isnan(t).any():
        raise ValueError(f"{name} contains NaN")
    return t


def to_numpy(x: ArrayLike) -> np.ndarray:
    """A numpy view or copy of a numpy array, torch tensor (any device) or sequence."""
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def encode_labels(labels: ArrayLike, n: int, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Sorted unique labels and integer codes of a 1-D label array of length ``n``."""
    arr = to_numpy(labels)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.shape[0] != n:
        raise ValueError(f"{name} has {arr.shape[0]} labels but the similarity matrix has {n}")
    codes, uniques = pd.factorize(arr, sort=True)
    if (codes < 0).any():
        raise ValueError(f"{name} contains missing labels (NaN or None)")
    return np.asarray(uniques), codes.astype(np.int64)


def check_k(k: int, n_items: int) -> None:
    """Raise ``ValueError`` unless ``k`` is an integer with ``1 <= k <= n_items``."""
    check_int(k, "k", low=1, high=n_items, what="the number of items")


def row_chunks(n_rows: int, row_cost: int) -> Iterator[slice]:
    """Slices over ``n_rows`` rows, each holding at most ``CHUNK_ELEMENTS / row_cost`` rows."""
    step = max(1, CHUNK_ELEMENTS // max(1, row_cost))
    for start in range(0, n_rows, step):
        yield slice(start, min(start + step, n_rows))


def top_k(s: torch.Tensor, k: int) -> torch.Tensor:
    """Indices (rows, k) of the top k items of each row: descending value, ties by lower index."""
    rows, n = s.shape
    if k == n:
        return torch.sort(s, dim=1, descending=True, stable=True).indices
    kth = torch.topk(s, k, dim=1, sorted=False).values.amin(dim=1, keepdim=True)
    above = s > kth
    need = k - above.sum(dim=1, keepdim=True)
    tied = s == kth
    selected = above | (tied & (torch.cumsum(tied, dim=1, dtype=torch.int32) <= need))
    chosen = selected.nonzero()[:, 1].reshape(rows, k)  # ascending item index within each row
    order = torch.sort(torch.gather(s, 1, chosen), dim=1, descending=True, stable=True).indices
    return torch.gather(chosen, 1, order)
