"""The shapes the engine hands out: a finished :class:`EmbeddingResult` and the streamed batches.

The engine produces :class:`EmbeddingBatch` pieces (rows at known positions, in increasing
order); :func:`assemble` puts pieces back into one result in input order, so the store and the
engine share one way of filling rows and masking failures.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["EmbeddingBatch", "EmbeddingResult", "assemble", "errors_frame"]


@dataclass
class EmbeddingBatch:
    """Rows of a run at ``positions`` (int64, shape (m,)), in increasing order.

    ``embeddings`` is float32 (m, d), L2-normalised, NaN on invalid rows; ``norms`` float32 (m,)
    holds the norms before normalisation (NaN on invalid rows); ``valid`` is bool (m,);
    ``reasons`` maps the position of each invalid row to why it failed.
    """

    positions: np.ndarray
    embeddings: np.ndarray
    norms: np.ndarray
    valid: np.ndarray
    reasons: dict[int, str] = field(default_factory=dict)


@dataclass
class EmbeddingResult:
    """Embeddings of n items, one row per input item, in input order.

    Attributes:
        embeddings: float32 (n, d), L2-normalised; rows of failed items are NaN.
        norms: float32 (n,), the norm of each raw model output before normalisation (NaN where
            invalid). For template-averaged texts it is the norm of the template mean.
        valid: bool (n,), False where the item could not be embedded.
        errors: DataFrame indexed by ``item_id`` with columns ``position`` (int) and ``reason``
            (str), one row per invalid item.
        item_ids: the n item ids, in input order.
        meta: provenance (model id, precision, device, batch size, store key...).
    """

    embeddings: np.ndarray
    norms: np.ndarray
    valid: np.ndarray
    errors: pd.DataFrame
    item_ids: list[str]
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.item_ids)

    @property
    def dim(self) -> int:
        """The embedding dimension d."""
        return int(self.embeddings.shape[1])


def errors_frame(reasons: dict[int, str], item_ids: Sequence[str]) -> pd.DataFrame:
    """A tidy error table: index ``item_id``, columns ``position`` and ``reason``, by position."""
    positions = sorted(reasons)
    frame = pd.DataFrame({"position": np.asarray(positions, dtype=np.int64),
                          "reason": [reasons[p] for p in positions]},
                         index=pd.Index([item_ids[p] for p in positions], name="item_id"))
    return frame


def assemble(batches: Iterable[EmbeddingBatch], item_ids: Sequence[str], *,
             dim: int | None = None, meta: dict | None = None) -> EmbeddingResult:
    """Fill an :class:`EmbeddingResult` of ``len(item_ids)`` rows from ``batches``.

    Every position must be covered exactly once; ``dim`` is needed only when no batch arrives
    (an empty input). Raises ``ValueError`` when positions are missing or repeated.
    """
    n = len(item_ids)
    embeddings: np.ndarray | None = None if dim is None else np.full((n, dim), np.nan, np.float32)
    norms = np.full(n, np.nan, np.float32)
    valid = np.zeros(n, bool)
    seen = np.zeros(n, bool)
    reasons: dict[int, str] = {}
    for batch in batches:
        if embeddings is None:
            embeddings = np.full((n, batch.embeddings.shape[1]), np.nan, np.float32)
        pos = np.asarray(batch.positions, dtype=np.int64)
        if seen[pos].any():
            raise ValueError(f"positions {pos[seen[pos]][:5].tolist()} were filled twice")
        seen[pos] = True
        embeddings[pos] = batch.embeddings
        norms[pos] = batch.norms
        valid[pos] = batch.valid
        reasons.update(batch.reasons)
    if not seen.all():
        raise ValueError(f"{int((~seen).sum())} of {n} positions were never filled")
    if embeddings is None:
        embeddings = np.zeros((0, dim or 0), np.float32)
    return EmbeddingResult(embeddings, norms, valid, errors_frame(reasons, item_ids),
                           list(item_ids), dict(meta or {}))
