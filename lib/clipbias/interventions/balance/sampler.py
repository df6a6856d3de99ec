"""Draw a subset with keep probabilities ``q`` (Poisson sampling) and measure what was drawn.

Example ``i`` is kept when ``U_i < q_i`` with ``U_i`` uniform on [0, 1), independently; the
subset has expected size ``sum_i q_i`` and its statistics scatter around the expected ones of
:func:`clipbias.interventions.balance.m4` (the realised statistics of one draw differ from the
expected ones by sampling error of order ``1 / sqrt(sum_i q_i)``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence

import numpy as np

from clipbias.interventions.balance.statistics import MomentStatistics, statistics_from_sums
from clipbias.interventions.balance.table import make_table

__all__ = ["RealisedStatistics", "draw_subset", "realised_statistics"]

#: Uniforms are drawn in blocks of this many rows, so a draw does not depend on any batch size.
_BLOCK = 1 << 16


def _check_q(q: object) -> np.ndarray:
    arr = np.asarray(q, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"q must be a 1-D array of keep probabilities; got shape {arr.shape}")
    if not np.all(np.isfinite(arr)) or np.any(arr < 0) or np.any(arr > 1):
        raise ValueError("q must hold probabilities in [0, 1] (M4Result.q)")
    return arr


def _masks(q: np.ndarray, seed: int | Sequence[int]) -> Iterator[tuple[int, np.ndarray]]:
    rng = np.random.default_rng(seed)
    for start in range(0, len(q), _BLOCK):
        block = q[start:start + _BLOCK]
        yield start, rng.random(len(block)) < block


def draw_subset(q: object, *, seed: int | Sequence[int] = 0) -> np.ndarray:
    """Sorted indices (int64) of the examples kept when each ``i`` is kept with probability ``q_i``.

    ``q`` (n,) in [0, 1], for example ``M4Result.q``. The same ``seed`` gives the same subset.

    >>> idx = draw_subset([0.0, 1.0, 1.0, 0.0], seed=3)
    >>> idx.tolist()
    [1, 2]
    """
    arr = _check_q(q)
    parts = [start + np.flatnonzero(mask) for start, mask in _masks(arr, seed)]
    return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, dtype=np.int64)


@dataclasses.dataclass(frozen=True)
class RealisedStatistics:
    """Statistics of ``draws`` subsets drawn with probabilities ``q``, one row per draw.

    ``representation`` (draws, m), ``association`` (draws, m, c), ``proxy_association``
    (draws, m, p), ``sizes`` (draws,) the number of examples kept. Their standard deviation over
    draws (``axis=0``) is the sampling spread around the expected statistics.
    """

    representation: np.ndarray
    association: np.ndarray
    proxy_association: np.ndarray
    sizes: np.ndarray

    def draw(self, k: int) -> MomentStatistics:
        """The statistics of draw ``k`` alone."""
        return MomentStatistics(self.representation[k], self.association[k],
                                self.proxy_association[k], float(self.sizes[k]))


def realised_statistics(s: object, y: object, q: object, *, draws: int = 20, seed: int = 0,
                        target: object = None, proxies: object = None) -> RealisedStatistics:
    """Draw ``draws`` subsets with probabilities ``q`` and return each one's statistics.

    Draw ``k`` is the subset ``draw_subset(q, seed=(seed, k))``. ``s`` (n, m), ``y`` (n, c),
    ``target`` and ``proxies`` as in :func:`clipbias.interventions.balance.m4`; ``q`` (n,).
    One streamed pass over the table whatever ``draws`` is.
    """
    if isinstance(draws, bool) or not isinstance(draws, int) or draws < 1:
        raise ValueError(f"draws must be a positive integer; got {draws!r}")
    table = make_table(s, y, target=target, proxies=proxies, batch_size=_BLOCK)
    arr = _check_q(q)
    if len(arr) != table.n:
        raise ValueError(f"q has {len(arr)} values but the table has {table.n} rows")
    streams = [_masks(arr, (seed, k)) for k in range(draws)]
    sums = np.zeros((draws, table.m, 1 + table.c + table.p))
    sizes = np.zeros(draws, dtype=np.int64)
    for _, _, d, x, _ in table.batches():
        for k, stream in enumerate(streams):
            _, mask = next(stream)
            sums[k] += d[mask].T @ x[mask]
            sizes[k] += int(mask.sum())
    stats = [statistics_from_sums(sums[k], float(sizes[k]), table.c) for k in range(draws)]
    return RealisedStatistics(
        representation=np.stack([st.representation for st in stats]),
        association=np.stack([st.association for st in stats]),
        proxy_association=np.stack([st.proxy_association for st in stats]),
        sizes=sizes)
