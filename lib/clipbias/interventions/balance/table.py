"""The annotation table M4 balances: validated inputs and the per-example bias vectors, in batches.

An example ``i`` carries sensitive-attribute indicators ``s_i`` (m,), label indicators ``y_i`` (c,)
and optional proxy indicators ``z_i`` (p,). With the target proportions ``pi`` (m,) and
``a_i = 1`` when the example carries the attribute family (any ``s_ik = 1``), the centred
attribute vector is ``d_i = s_i - pi * a_i``. The constraints of M4 are moments of the
outer product ``d_i x_i^T`` with ``x_i = [1, y_i, z_i]`` (1 + c + p,): column 0 is
representation (first order), columns 1..c association with the labels, the rest association
with the proxies (second order).

Every pass over the table streams over row batches, so the working memory is
``O(batch_size * (m + c + p))`` whatever the number of rows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import numpy as np

__all__ = ["BalanceTable", "make_table"]

#: Rows per batch when ``batch_size`` is None: about 4 MB of float64 per batch and column block.
_TARGET_BATCH_VALUES = 1 << 19
#: :meth:`BalanceTable.carrier_batches` gathers a block's carriers when they are fewer than this
#: share of its rows.
_GATHER_SHARE = 0.75


def _carries(s: np.ndarray) -> np.ndarray:
    """``a_i``: does row ``i`` of ``s`` (rows, m) carry any attribute (column by column: faster
    than a reduction over the short second axis)."""
    out = s[:, 0] != 0
    for k in range(1, s.shape[1]):
        out |= s[:, k] != 0
    return out


@dataclasses.dataclass(frozen=True)
class BalanceTable:
    """Validated M4 inputs; ``batches()`` yields ``(start, stop, d, x, w)`` blocks.

    ``d`` (rows, m) is ``s - target * a``; ``x`` (rows, 1 + c + p) is ``[1, y, proxies]``;
    ``w`` (rows,) the utility weights normalised to mean 1 over the whole table (ones without
    utilities).
    """

    s: np.ndarray
    y: np.ndarray
    proxies: np.ndarray | None
    target: np.ndarray
    utility: np.ndarray | None
    utility_mean: float
    batch_size: int

    @property
    def n(self) -> int:
        """Number of examples (rows)."""
        return self.s.shape[0]

    @property
    def m(self) -> int:
        """Number of sensitive attributes in the family."""
        return self.s.shape[1]

    @property
    def c(self) -> int:
        """Number of labels."""
        return self.y.shape[1]

    @property
    def p(self) -> int:
        """Number of proxy attributes (0 without proxies)."""
        return 0 if self.proxies is None else self.proxies.shape[1]

    def batches(self) -> Iterator[tuple[int, int, np.ndarray, np.ndarray, np.ndarray]]:
        """Yield ``(start, stop, d, x, w)`` for consecutive row blocks of ``batch_size`` rows."""
        for start in range(0, self.n, self.batch_size):
            stop = min(start + self.batch_size, self.n)
            s = self.s[start:stop]
            d, x = self._block(s, _carries(s), start, stop, None)
            yield start, stop, d, x, self._weights(start, stop)

    def carrier_batches(self) -> Iterator[tuple[int, int, np.ndarray | None, np.ndarray,
                                                np.ndarray, np.ndarray]]:
        """Like :meth:`batches`, with ``d`` and ``x`` for the examples that carry the family only.

        Yields ``(start, stop, rows, d, x, w)``: ``rows`` the indices within the block of the
        examples that carry an attribute (``d`` and ``x`` are theirs), or None when ``d`` and
        ``x`` cover the whole block; ``w`` (stop - start,) covers the whole block. The others have
        ``d_i = 0``: they add nothing to any moment, so passes need not convert their labels.
        Blocks where most examples carry the family are returned whole (gathering would cost
        more than it saves).
        """
        for start in range(0, self.n, self.batch_size):
            stop = min(start + self.batch_size, self.n)
            s = self.s[start:stop]
            carries = _carries(s)
            rows = None
            if np.count_nonzero(carries) < _GATHER_SHARE * (stop - start):
                rows = np.flatnonzero(carries)
                s, carries = s[rows], carries[rows]
            d, x = self._block(s, carries, start, stop, rows)
            yield start, stop, rows, d, x, self._weights(start, stop)

    def _block(self, s: np.ndarray, carries: np.ndarray, start: int, stop: int,
               rows: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """``d`` (r, m) and ``x`` (r, 1 + c + p) of block ``start:stop`` (its ``rows`` only)."""
        d = s.astype(np.float64)
        d -= carries[:, None] * self.target
        x = np.empty((len(d), 1 + self.c + self.p), dtype=np.float64)
        x[:, 0] = 1.0
        y = self.y[start:stop]
        x[:, 1:1 + self.c] = y if rows is None else y[rows]
        if self.proxies is not None:
            z = self.proxies[start:stop]
            x[:, 1 + self.c:] = z if rows is None else z[rows]
        return d, x

    def _weights(self, start: int, stop: int) -> np.ndarray:
        if self.utility is None:
            return np.ones(stop - start)
        return self.utility[start:stop].astype(np.float64) / self.utility_mean

    def subset(self, rows: np.ndarray) -> BalanceTable:
        """The table restricted to ``rows`` (sorted indices), copied, with the same batch size.

        The utility weights keep the full table's normalisation (``utility_mean``).
        """
        return dataclasses.replace(
            self, s=self.s[rows], y=self.y[rows],
            proxies=None if self.proxies is None else self.proxies[rows],
            utility=None if self.utility is None else self.utility[rows])


def _indicator(name: str, value: object, n: int | None, batch_size: int) -> np.ndarray:
    """A 2-D 0/1 array; checked in row blocks so that no full-size temporary is made."""
    arr = np.asarray(value)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (n, k) array of 0/1 indicators; got shape "
                         f"{arr.shape}")
    if n is not None and arr.shape[0] != n:
        raise ValueError(f"{name} has {arr.shape[0]} rows but s has {n}: give one row per "
                         "example in every table")
    if arr.dtype == np.bool_:
        return arr
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise ValueError(f"{name} must hold numbers 0/1 (bool, int or float); got dtype "
                         f"{arr.dtype}")
    for start in range(0, arr.shape[0], batch_size):
        block = arr[start:start + batch_size]
        if not np.all((block == 0) | (block == 1)):
            bad = block[(block != 0) & (block != 1)].ravel()[0]
            raise ValueError(f"{name} must be binary (0/1 indicators); found the value {bad!r}. "
                             "Threshold scores before balancing")
    return arr


def make_table(s: object, y: object, *, target: object = None, proxies: object = None,
               utility: object = None, batch_size: int | None = None) -> BalanceTable:
    """Validate the inputs of M4 and wrap them in a :class:`BalanceTable`.

    ``s`` (n, m) and ``y`` (n, c) 0/1 indicators (multi-hot allowed), ``target`` (m,) proportions
    in [0, 1] summing to 1 (default uniform ``1/m``), ``proxies`` (n, p) 0/1 indicators,
    ``utility`` (n,) positive finite weights, ``batch_size`` rows per batch (default: about
    half a million values per batch). Raises ``ValueError`` with what to change.
    """
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int)
                                   or batch_size < 1):
        raise ValueError(f"batch_size must be a positive integer or None; got {batch_size!r}")
    check_rows = batch_size or 65536
    s_arr = _indicator("s", s, None, check_rows)
    n, m = s_arr.shape
    if n == 0 or m == 0:
        raise ValueError(f"s must have at least one row and one attribute; got shape {s_arr.shape}")
    y_arr = _indicator("y", y, n, check_rows)
    z_arr = None if proxies is None else _indicator("proxies", proxies, n, check_rows)
    if target is None:
        pi = np.full(m, 1.0 / m)
    else:
        pi = np.asarray(target, dtype=np.float64)
        if pi.shape != (m,):
            raise ValueError(f"target must have one proportion per attribute, shape ({m},); "
                             f"got shape {pi.shape}")
        if not np.all(np.isfinite(pi)) or np.any(pi < 0) or np.any(pi > 1):
            raise ValueError(f"target proportions must lie in [0, 1]; got {pi.tolist()}")
        if abs(pi.sum() - 1.0) > 1e-6:
            raise ValueError("target proportions must sum to 1 within the attribute family; got "
                             f"sum {pi.sum():.6g}. Divide by the sum to normalise")
    u_arr = None
    u_mean = 1.0
    if utility is not None:
        u_arr = np.asarray(utility)
        if u_arr.shape != (n,):
            raise ValueError(f"utility must have one weight per example, shape ({n},); got "
                             f"shape {u_arr.shape}")
        if not np.issubdtype(u_arr.dtype, np.number) or np.issubdtype(u_arr.dtype,
                                                                        np.complexfloating):
            raise ValueError(f"utility must be real numbers; got dtype {u_arr.dtype}")
        if not np.all(np.isfinite(u_arr)) or np.any(u_arr <= 0):
            raise ValueError("utility weights must be finite and positive (a zero weight leaves "
                             "the example's keep probability undetermined)")
        u_mean = float(np.mean(u_arr, dtype=np.float64))
    columns = 1 + y_arr.shape[1] + (0 if z_arr is None else z_arr.shape[1])
    rows = batch_size or max(1024, _TARGET_BATCH_VALUES // (m * columns))
    return BalanceTable(s=s_arr, y=y_arr, proxies=z_arr, target=pi, utility=u_arr,
                        utility_mean=u_mean, batch_size=rows)
