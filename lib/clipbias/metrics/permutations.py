"""Partition streams and exceedance counting for two-sample permutation tests.

A partition splits ``n`` items into a side of size ``k`` and a side of size ``n - k``; it is a
row of an indicator matrix (1 = the item is on the ``k`` side). Partitions come in blocks of
rows so that memory stays bounded whatever their number:

- exact enumeration: all ``C(n, k)`` partitions in lexicographic order, unranked block by block
  with the combinatorial number system (vectorised over the rows of a block);
- random sampling: uniformly random ``k``-subsets drawn with Floyd's algorithm (vectorised over
  the rows of a block), each block from its own ``torch.Generator`` seeded by
  ``(seed, n, k, block index)``, so that a stream does not depend on how many columns are
  scored with it nor on the memory budget.

Statistics are exact: scores are rounded to integers on a grid ``2**-F`` (``F`` chosen from ``n``
so that every sum, and ``n`` times every sum, stays below ``2**53``) and stored as float64, so
every matrix product is exact whatever the summation order (BLAS blocking, GPU reductions).
Ties between a permuted and the observed statistic are therefore decided exactly.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from clipbias.progress import progress

__all__ = [
    "ALTERNATIVES",
    "PartitionCounts",
    "block_rows",
    "count_exceedances",
    "exact_partition_blocks",
    "n_partitions",
    "quantise_scores",
    "sampled_partition_blocks",
]

Alternative = Literal["greater", "less", "two-sided"]
ALTERNATIVES: tuple[str, ...] = ("greater", "less", "two-sided")

#: Most rows of one partition block (a block is also the unit of seeding).
_MAX_BLOCK_ROWS = 8192
#: Most elements of one indicator block (float64: 512 MiB), for very large ``n``.
_MAX_BLOCK_ELEMENTS = 2**26


def n_partitions(n: int, k: int) -> int:
    """Number of partitions of ``n`` items into sides of sizes ``k`` and ``n - k``: C(n, k)."""
    return math.comb(n, k)


def block_rows(n: int) -> int:
    """Rows per partition block for ``n`` items: ``min(8192, 2**floor(log2(2**26 / n)))``, >= 1."""
    rows = _MAX_BLOCK_ROWS
    while rows > 1 and rows * n > _MAX_BLOCK_ELEMENTS:
        rows //= 2
    return rows


def quantise_scores(scores: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Round scores in [-2, 2] to integers on the grid 2**-F, as float64.

    ``scores`` has shape (n, m). ``F = 50 - 2 * ceil(log2(n))`` keeps ``|sum| <= 2 n 2**F`` and
    ``n * |sum|`` below ``2**53``, so sums of any subset, in any order, are exact in float64.
    Returns ``(round(scores * 2**F), F)``.
    """
    n = scores.shape[0]
    bits = 50 - 2 * max(1, math.ceil(math.log2(n)))
    if bits < 16:
        raise ValueError(f"too many items for exact permutation statistics: n={n}")
    return torch.round(scores.to(torch.float64) * 2.0**bits), bits


def _binomial_table(n: int, k: int, cap: int, device: torch.device) -> torch.Tensor:
    """``table[m, j + 1] = min(C(m, j), cap)`` for m in 0..n, j in -1..k (C(m, -1) = 0)."""
    table = np.zeros((n + 1, k + 2), dtype=np.int64)
    for m in range(n + 1):
        for j in range(k + 1):
            table[m, j + 1] = min(math.comb(m, j), cap)
    return torch.as_tensor(table, device=device)


def exact_partition_blocks(n: int, k: int, *, device: torch.device | str = "cpu"
                           ) -> Iterator[torch.Tensor]:
    """All C(n, k) partitions as float64 indicator blocks of shape (rows, n), lexicographic.

    Row ``r`` is the ``r``-th ``k``-subset of ``{0..n-1}`` in lexicographic order, unranked
    position by position: item ``i`` is taken iff ``r < C(n-1-i, k_left-1)``, else that count is
    subtracted from ``r``.
    """
    device = torch.device(device)
    total = n_partitions(n, k)
    rows = block_rows(n)
    table = _binomial_table(n, k, total + 1, device)
    for start in range(0, total, rows):
        stop = min(start + rows, total)
        rank = torch.arange(start, stop, dtype=torch.int64, device=device)
        left = torch.full_like(rank, k)
        block = torch.empty((stop - start, n), dtype=torch.float64, device=device)
        for i in range(n):
            count = table[n - 1 - i].index_select(0, left)  # C(n-1-i, left-1)
            take = rank < count
            block[:, i] = take
            rank = rank - torch.where(take, 0, count)
            left = left - take.to(torch.int64)
        yield block


def _block_generator(seed: int, n: int, k: int, index: int, device: torch.device
                     ) -> torch.Generator:
    """A generator for block ``index`` of the stream ``(seed, n, k)``."""
    state = np.random.SeedSequence([seed, n, k, index]).generate_state(2, dtype=np.uint32)
    gen = torch.Generator(device=device)
    gen.manual_seed(int(state[0]) << 31 | int(state[1]) >> 1)
    return gen


def _floyd_block(rows: int, n: int, k: int, gen: torch.Generator, device: torch.device
                 ) -> torch.Tensor:
    """Uniform random ``k``-subsets of ``{0..n-1}``, one per row, by Floyd's algorithm.

    For j = n-k .. n-1: draw t uniform in {0..j}; take t unless already taken, else take j.
    Returns a (rows, n) float64 indicator.
    """
    flat = torch.zeros(rows * n, dtype=torch.float64, device=device)
    if k == 0:
        return flat.view(rows, n)
    uniform = torch.rand((k, rows), dtype=torch.float64, generator=gen, device=device)
    upper = torch.arange(n - k + 1, n + 1, dtype=torch.float64, device=device)
    base = torch.arange(rows, device=device) * n
    largest = (upper.to(torch.int64) - 1)[:, None]  # (u * upper) may round up to upper
    draws = torch.minimum((uniform * upper[:, None]).to(torch.int64), largest) + base
    for step in range(k):
        pick = draws[step]
        taken = flat.index_select(0, pick) > 0
        flat.index_fill_(0, torch.where(taken, base + (n - k + step), pick), 1.0)
    return flat.view(rows, n)


def sampled_partition_blocks(n: int, k: int, n_samples: int, *, seed: int,
                             device: torch.device | str = "cpu") -> Iterator[torch.Tensor]:
    """``n_samples`` uniformly random partitions as float64 indicator blocks (rows, n).

    Block ``b`` holds samples ``b * block_rows(n)`` onwards and is drawn from a generator seeded by
    ``(seed, n, k, b)``; the smaller side is drawn (Floyd's algorithm) and complemented if needed.
    Reproducible bit for bit on CPU; on CUDA reproducible on the same device type.
    """
    device = torch.device(device)
    rows = block_rows(n)
    small = min(k, n - k)
    for index, start in enumerate(range(0, n_samples, rows)):
        gen = _block_generator(seed, n, k, index, device)
        block = _floyd_block(min(rows, n_samples - start), n, small, gen, device)
        yield block if small == k else 1.0 - block


@dataclass(frozen=True)
class PartitionCounts:
    """Exceedance counts of many columns against one partition stream.

    ``counts[j]``: partitions whose statistic is at least as extreme as the observed one of
    column ``j`` (the observed partition itself is among the enumerated ones when exact, and is
    not among the sampled ones). ``n_partitions``: partitions scored; ``exact``: enumeration.
    """

    counts: np.ndarray
    n_partitions: int
    exact: bool


def _column_slices(n_rows: int, m: int, budget: int) -> list[slice]:
    """Column slices of at most ``budget`` bytes of (n_rows, cols) float64 statistics."""
    width = max(1, budget // (8 * n_rows * 3))
    return [slice(j, min(j + width, m)) for j in range(0, m, width)]


def count_exceedances(scores: torch.Tensor, k: int, *, alternative: Alternative,
                      n_permutations: int, exact_threshold: int, seed: int,
                      memory_budget: int = 2**30, desc: str = "permutations",
                      progress_bar: bool = True) -> PartitionCounts:
    """Count partitions at least as extreme as the observed one, for every column at once.

    ``scores`` (n, m): per-item scores of m tests that share the split sizes; the observed
    partition puts items ``0..k-1`` on the ``k`` side. With ``Q`` the quantised scores
    (:func:`quantise_scores`), the statistic of a partition ``P`` (indicator (n,)) is
    ``t = P @ Q``, the observed one ``t0 = Q[:k].sum(0)`` and the total ``T = Q.sum(0)``.
    Exceedance: ``t >= t0`` ("greater"), ``t <= t0`` ("less"),
    ``|n t - k T| >= |n t0 - k T|`` ("two-sided": as far from the permutation mean k T / n).
    Enumerates all C(n, k) partitions when that is at most ``exact_threshold``, else draws
    ``n_permutations`` random ones (:func:`sampled_partition_blocks`). Work happens on
    ``scores.device`` with no host synchronisation inside the loop; ``memory_budget`` (bytes)
    bounds the statistic block, the indicator block holds at most 2**26 float64.
    ``progress_bar`` shows a bar over blocks (labelled ``desc``).
    """
    if alternative not in ALTERNATIVES:
        raise ValueError(f"alternative must be one of {ALTERNATIVES}, got {alternative!r}")
    n, m = scores.shape
    device = scores.device
    quantised, _ = quantise_scores(scores)
    observed = quantised[:k].sum(0)
    centre = k * quantised.sum(0)
    observed_dev = (n * observed - centre).abs()
    total = n_partitions(n, k)
    exact = total <= exact_threshold
    n_scored = total if exact else n_permutations
    blocks = (exact_partition_blocks(n, k, device=device) if exact
              else sampled_partition_blocks(n, k, n_permutations, seed=seed, device=device))
    rows = block_rows(n)
    slices = _column_slices(min(rows, n_scored), m, memory_budget)
    counts = torch.zeros(m, dtype=torch.int64, device=device)
    bar = progress(desc=desc, total=math.ceil(n_scored / rows), unit="block",
                   disable=not progress_bar)
    for block in blocks:
        for cols in slices:
            stat = block @ quantised[:, cols]
            if alternative == "greater":
                hit = stat >= observed[cols]
            elif alternative == "less":
                hit = stat <= observed[cols]
            else:
                hit = (n * stat - centre[cols]).abs() >= observed_dev[cols]
            counts[cols] += hit.sum(0)
        bar.update(1)
    bar.close()
    return PartitionCounts(counts=counts.cpu().numpy(), n_partitions=n_scored, exact=exact)
