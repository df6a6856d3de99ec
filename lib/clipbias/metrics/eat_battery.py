"""A battery of embedding association tests (many tests x many models) in one batched call."""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from clipbias.checks import check_int
from clipbias.metrics.eat import (
    Embeddings,
    check_dims,
    check_options,
    d_from_scores,
    p_from_counts,
    unit_rows,
    unit_scores,
)
from clipbias.metrics.eat_bootstrap import bootstrap_interval, check_bootstrap_options
from clipbias.metrics.multiplicity import benjamini_hochberg, holm
from clipbias.metrics.permutations import Alternative, count_exceedances
from clipbias.progress import progress

__all__ = ["BATTERY_COLUMNS", "EATRecord", "run_eat_battery"]

#: Columns of the table returned by :func:`run_eat_battery`, in order.
BATTERY_COLUMNS: tuple[str, ...] = (
    "test", "model", "n_x", "n_y", "d", "p", "exact", "n_permutations", "mc_standard_error",
    "ci_low", "ci_high", "p_holm", "p_bh",
)


@dataclass(frozen=True)
class EATRecord:
    """One test on one model: target sets ``x``, ``y`` and attribute sets ``a``, ``b``.

    Each set is an array (n, dim), numpy or torch, any float dtype.
    """

    test: str
    model: str
    x: Embeddings
    y: Embeddings
    a: Embeddings
    b: Embeddings


class _UnitCache:
    """Validated unit rows of the most recently seen arrays, keyed by object identity.

    Batteries reuse one attribute (and target) array across several records; a small bounded
    cache validates and normalises each once while records of one model come together.
    """

    def __init__(self, size: int = 32) -> None:
        self.size = size
        self.entries: OrderedDict[int, tuple[Embeddings, torch.Tensor]] = OrderedDict()

    def get(self, name: str, value: Embeddings) -> torch.Tensor:
        """:func:`clipbias.metrics.eat.unit_rows` of ``value``, computed once while cached."""
        hit = self.entries.get(id(value))
        if hit is not None and hit[0] is value:
            self.entries.move_to_end(id(value))
            return hit[1]
        rows = unit_rows(name, value)
        self.entries[id(value)] = (value, rows)
        if len(self.entries) > self.size:
            self.entries.popitem(last=False)
        return rows


def _as_record(item: EATRecord | Mapping) -> EATRecord:
    """An :class:`EATRecord` from itself or from a mapping with its six keys."""
    if isinstance(item, EATRecord):
        return item
    if isinstance(item, Mapping):
        missing = [key for key in ("test", "model", "x", "y", "a", "b") if key not in item]
        if missing:
            raise ValueError(f"battery record lacks keys {missing}")
        return EATRecord(str(item["test"]), str(item["model"]), item["x"], item["y"],
                         item["a"], item["b"])
    raise ValueError(f"battery records must be EATRecord or mappings, got {type(item).__name__}")


def run_eat_battery(records: Iterable[EATRecord | Mapping], *,
                    device: torch.device | str = "cpu", n_permutations: int = 1_000_000,
                    exact_threshold: int = 1_000_000, alternative: Alternative = "greater",
                    seed: int = 0, n_bootstrap: int = 1000, confidence_level: float = 0.95,
                    ddof: int = 1, memory_budget: int = 2**30) -> pd.DataFrame:
    """Effect sizes, permutation p-values and bootstrap intervals of many tests x many models.

    Each record is scored exactly as :func:`clipbias.metrics.eat.permutation_test` and
    :func:`clipbias.metrics.eat_bootstrap.bootstrap_effect_size` would score it with the same
    options (same d, same p, same interval), but records sharing the set sizes ``(|X|, |Y|)``
    share one partition stream: with S (n, m) the scores of their m columns, the statistics of a
    block of partitions P (rows, n) are one product ``P @ S``. Partitions are streamed in blocks
    on ``device`` (memory bounded by ``memory_budget`` bytes for the statistics and 2**26
    float64 for the partition block). ``n_bootstrap=0`` skips the intervals (NaN).

    Returns a DataFrame with one row per record, in input order, and the columns
    :data:`BATTERY_COLUMNS`; ``p_holm`` and ``p_bh`` adjust ``p`` across the whole table.
    """
    check_options(n_permutations=n_permutations, exact_threshold=exact_threshold,
                  alternative=alternative, seed=seed)
    check_int(n_bootstrap, "n_bootstrap", low=0)
    if n_bootstrap:
        check_bootstrap_options(n_bootstrap=n_bootstrap, confidence_level=confidence_level,
                                seed=seed)
    items = [_as_record(item) for item in records]
    if not items:
        raise ValueError("the battery is empty: give at least one record")
    keys = [(r.test, r.model) for r in items]
    if len(set(keys)) != len(keys):
        dupes = sorted(k for k, count in Counter(keys).items() if count > 1)
        raise ValueError(f"duplicate (test, model) records: {dupes[:5]}")
    units = _UnitCache()
    scores, sizes, effects = [], [], []
    ci = np.full((len(items), 2), np.nan)
    for i, rec in enumerate(progress(items, desc="EAT effect sizes", unit="test")):
        try:
            x, y, a, b = (units.get(name, v) for name, v in
                          (("X", rec.x), ("Y", rec.y), ("A", rec.a), ("B", rec.b)))
            check_dims(X=x, Y=y, A=a, B=b)
            targets = torch.cat([x, y])
            s = unit_scores(targets, a, b)
            effects.append(d_from_scores(s, x.shape[0], ddof=ddof))
            if n_bootstrap:
                ci[i] = bootstrap_interval(targets @ a.T, targets @ b.T, x.shape[0],
                                           n_bootstrap=n_bootstrap,
                                           confidence_level=confidence_level, seed=seed,
                                           ddof=ddof)
        except ValueError as err:
            raise ValueError(f"test {rec.test!r}, model {rec.model!r}: {err}") from err
        scores.append(s)
        sizes.append((x.shape[0], y.shape[0]))
    n_rec = len(items)
    p, se = np.empty(n_rec), np.empty(n_rec)
    exact, n_scored = np.empty(n_rec, dtype=bool), np.empty(n_rec, dtype=np.int64)
    for n_x, n_y in sorted(set(sizes)):
        rows = [i for i, size in enumerate(sizes) if size == (n_x, n_y)]
        matrix = torch.stack([scores[i] for i in rows], 1).to(device)
        tally = count_exceedances(matrix, n_x, alternative=alternative,
                                  n_permutations=int(n_permutations),
                                  exact_threshold=int(exact_threshold), seed=int(seed),
                                  memory_budget=memory_budget,
                                  desc=f"EAT {n_x}+{n_y} x {len(rows)}")
        p[rows], se[rows] = p_from_counts(tally.counts, tally.n_partitions, tally.exact)
        exact[rows], n_scored[rows] = tally.exact, tally.n_partitions
    table = pd.DataFrame({
        "test": [r.test for r in items], "model": [r.model for r in items],
        "n_x": [s[0] for s in sizes], "n_y": [s[1] for s in sizes], "d": effects, "p": p,
        "exact": exact, "n_permutations": n_scored, "mc_standard_error": se,
        "ci_low": ci[:, 0], "ci_high": ci[:, 1], "p_holm": holm(p), "p_bh": benjamini_hochberg(p),
    })
    return table.loc[:, list(BATTERY_COLUMNS)]
