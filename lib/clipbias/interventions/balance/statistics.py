"""First- and second-order statistics of a (re)weighted annotation table.

With weights ``q`` (n,) (ones for the table as it is, keep probabilities for the expected
balanced distribution, a 0/1 mask for a drawn subset) and the centred attribute vectors
``d_i = s_i - pi * a_i`` of :mod:`clipbias.interventions.balance.table`:

- representation ``R_k = sum_i q_i d_ik / sum_i q_i`` (m,),
- association ``A_kr = sum_i q_i d_ik y_ir / sum_i q_i`` (m, c),
- proxy association ``P_kj = sum_i q_i d_ik z_ij / sum_i q_i`` (m, p).

Under ``pi = (1/2, 1/2)`` for two groups, ``R_1 = 0`` means equal counts of the groups among the
examples that carry the attribute family, and ``A_1r = 0`` equal counts within label ``r``.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from clipbias.interventions.balance.table import BalanceTable, make_table

__all__ = ["MomentStatistics", "moment_statistics"]


@dataclasses.dataclass(frozen=True)
class MomentStatistics:
    """Signed moment statistics of a weighted table (see the module docstring for formulas).

    ``representation`` (m,), ``association`` (m, c), ``proxy_association`` (m, p) (p = 0 without
    proxies), ``total_weight`` = ``sum_i q_i``.
    """

    representation: np.ndarray
    association: np.ndarray
    proxy_association: np.ndarray
    total_weight: float

    def violation(self, eps_representation: float, eps_association: float) -> float:
        """Largest excess over the tolerances, ``max(0, |R_k| - eps_r, |A_kr| - eps_a, |P_kj| - eps_a)``.

        Zero when every statistic is within its tolerance.
        """
        excess = [np.abs(self.representation) - eps_representation,
                  np.abs(self.association) - eps_association,
                  np.abs(self.proxy_association) - eps_association]
        return float(max(0.0, *(float(e.max()) for e in excess if e.size)))


def statistics_from_sums(sums: np.ndarray, total: float, c: int) -> MomentStatistics:
    """Statistics from ``sums`` (m, 1 + c + p) = ``sum_i q_i d_i x_i^T`` and ``total = sum_i q_i``.

    Raises ``ValueError`` when the total weight is zero (the statistics are undefined).
    """
    if not total > 0:
        raise ValueError("the weights sum to zero: no example is kept, so the statistics of the "
                         "kept distribution are undefined")
    ratio = sums / total
    return MomentStatistics(representation=ratio[:, 0].copy(),
                            association=ratio[:, 1:1 + c].copy(),
                            proxy_association=ratio[:, 1 + c:].copy(), total_weight=float(total))


def table_statistics(table: BalanceTable, weights: np.ndarray | None = None) -> MomentStatistics:
    """Statistics of a validated table under ``weights`` (n,) (ones when None), streamed."""
    sums = np.zeros((table.m, 1 + table.c + table.p))
    total = 0.0
    for start, stop, d, x, _ in table.batches():
        if weights is None:
            sums += d.T @ x
            total += stop - start
        else:
            q = np.asarray(weights[start:stop], dtype=np.float64)
            sums += (d * q[:, None]).T @ x
            total += float(q.sum())
    return statistics_from_sums(sums, total, table.c)


def moment_statistics(s: object, y: object, *, target: object = None, proxies: object = None,
                      weights: object = None, batch_size: int | None = None) -> MomentStatistics:
    """Representation and association statistics of the table ``(s, y)`` under ``weights``.

    ``s`` (n, m) and ``y`` (n, c) 0/1 indicators, ``target`` (m,) proportions (default uniform),
    ``proxies`` (n, p) 0/1 indicators, ``weights`` (n,) non-negative (keep probabilities ``q``, a
    0/1 mask of a drawn subset, or None for the table as it is). Streams over ``batch_size``
    rows at a time.

    >>> import numpy as np
    >>> s = np.array([[1, 0], [1, 0], [0, 1], [0, 0]])
    >>> y = np.array([[1], [0], [1], [1]])
    >>> st = moment_statistics(s, y)
    >>> st.representation.tolist(), st.association[:, 0].tolist()
    ([0.125, -0.125], [0.0, 0.0])
    """
    table = make_table(s, y, target=target, proxies=proxies, batch_size=batch_size)
    w = None
    if weights is not None:
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != (table.n,):
            raise ValueError(f"weights must have one value per example, shape ({table.n},); got "
                             f"shape {w.shape}")
        if not np.all(np.isfinite(w)) or np.any(w < 0):
            raise ValueError("weights must be finite and non-negative")
    return table_statistics(table, w)
