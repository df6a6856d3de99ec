"""Embedding association tests (EAT: WEAT, SEAT, iEAT and cross-modal), one test at a time.

Conventions (the methods chapter, ``book/methods/eat.md``, derives them):

- association of a stimulus ``w``: ``s(w, A, B) = mean_a cos(w, a) - mean_b cos(w, b)``;
- effect size ``d = (mean_{x in X} s(x) - mean_{y in Y} s(y)) / std_{w in X u Y} s(w)`` with
  ``ddof`` 1 by default; positive ``d``: X is closer to A than Y is;
- permutation test over the partitions of ``X u Y`` into sides of sizes ``|X|`` and ``|Y|``,
  statistic ``sum_{x in X_i} s(x)``; exact when ``C(|X|+|Y|, |X|) <= exact_threshold``
  (``p = #extreme / #partitions``, the observed partition included), else sampled
  (``p = (1 + #extreme) / (1 + n_permutations)``); ties count as extreme.

Embeddings come as numpy arrays or torch tensors of shape (n, dim) in any float dtype, are not
assumed normalised, and are computed on in float64 on the CPU; only the permutation counts run on
``device``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from clipbias.checks import check_int
from clipbias.metrics.permutations import ALTERNATIVES, Alternative, count_exceedances

__all__ = [
    "EATResult",
    "association_scores",
    "effect_size",
    "permutation_test",
    "sc_effect_size",
    "sc_permutation_test",
]

Embeddings = np.ndarray | torch.Tensor


@dataclass(frozen=True)
class EATResult:
    """Outcome of one permutation test.

    ``effect_size``: d; ``statistic``: observed sum of scores over the first side;
    ``p_value``: permutation p; ``exact``: all partitions enumerated; ``n_permutations``:
    partitions scored (C(n_x + n_y, n_x) when exact); ``mc_standard_error``:
    ``sqrt(p (1 - p) / n_permutations)`` for a sampled p, 0 when exact; ``n_x``, ``n_y``: sizes
    of the two sides.
    """

    effect_size: float
    statistic: float
    p_value: float
    exact: bool
    n_permutations: int
    mc_standard_error: float
    alternative: str
    n_x: int
    n_y: int


def unit_rows(name: str, value: Embeddings) -> torch.Tensor:
    """Validate a set of embeddings (n, dim) and return its rows L2-normalised, float64 on CPU."""
    if isinstance(value, torch.Tensor):
        if value.is_complex() or value.dtype == torch.bool:
            raise ValueError(f"{name} must hold real numbers, got dtype {value.dtype}")
        tensor = value.detach().to("cpu", torch.float64)
    else:
        array = np.asarray(value)
        if array.dtype == np.bool_ or not np.issubdtype(array.dtype, np.number) \
                or np.iscomplexobj(array):
            raise ValueError(f"{name} must hold real numbers, got dtype {array.dtype}")
        tensor = torch.as_tensor(array.astype(np.float64, copy=False))
    if tensor.ndim != 2:
        raise ValueError(f"{name} must have shape (n, dim), got shape {tuple(tensor.shape)}")
    if tensor.shape[0] == 0:
        raise ValueError(f"{name} is empty: a stimulus set needs at least one embedding")
    if tensor.shape[1] == 0:
        raise ValueError(f"{name} has embeddings of dimension 0")
    if not torch.isfinite(tensor).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    norms = torch.linalg.vector_norm(tensor, dim=1)
    zero = torch.nonzero(norms == 0).flatten().tolist()
    if zero:
        raise ValueError(f"{name} has zero-norm vectors at rows {zero[:10]}: cosine undefined")
    return tensor / norms[:, None]


def check_dims(**sets: torch.Tensor) -> None:
    """Raise a ValueError unless every set has the same embedding dimension."""
    dims = {name: int(t.shape[1]) for name, t in sets.items()}
    if len(set(dims.values())) > 1:
        raise ValueError(f"embedding dimensions differ between sets: {dims}")


def unit_scores(w: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """s(w, A, B) for unit rows, shape (n_w,).

    The mean cosine with a set of unit vectors is the dot product with their mean, so
    ``s = w @ (mean_a a - mean_b b)``: O(n_w dim) instead of O(n_w (n_a + n_b) dim).
    """
    return w @ (a.mean(0) - b.mean(0))


def association_scores(W: Embeddings, A: Embeddings, B: Embeddings) -> np.ndarray:
    """Association of each stimulus with A rather than B.

    ``s(w, A, B) = (1/|A|) sum_a cos(w, a) - (1/|B|) sum_b cos(w, b)``.
    W (n_w, dim), A (n_a, dim), B (n_b, dim) -> float64 array (n_w,), values in [-2, 2].
    """
    w, a, b = unit_rows("W", W), unit_rows("A", A), unit_rows("B", B)
    check_dims(W=w, A=a, B=b)
    return unit_scores(w, a, b).numpy()


def eat_scores(X: Embeddings, Y: Embeddings, A: Embeddings, B: Embeddings
               ) -> tuple[torch.Tensor, int]:
    """Validated scores of ``X u Y`` (X first), float64 (n_x + n_y,), and ``n_x``."""
    x, y, a, b = (unit_rows(name, v) for name, v in (("X", X), ("Y", Y), ("A", A), ("B", B)))
    check_dims(X=x, Y=y, A=a, B=b)
    return unit_scores(torch.cat([x, y]), a, b), x.shape[0]


def sc_eat_scores(W: Embeddings, A: Embeddings, B: Embeddings) -> tuple[torch.Tensor, int]:
    """Validated SC-EAT scores ``c(v) = mean_w cos(w, v)`` of ``A u B`` (A first), and ``|A|``."""
    w_value = W[None] if getattr(W, "ndim", 2) == 1 else W
    w, a, b = unit_rows("W", w_value), unit_rows("A", A), unit_rows("B", B)
    check_dims(W=w, A=a, B=b)
    return torch.cat([a, b]) @ w.mean(0), a.shape[0]


def d_from_scores(scores: torch.Tensor, n_x: int, *, ddof: int) -> float:
    """``(mean scores[:n_x] - mean scores[n_x:]) / std(scores, ddof)`` for scores (n,)."""
    n = scores.shape[0]
    if ddof < 0 or n - ddof <= 0:
        raise ValueError(f"ddof={ddof} needs more than {ddof} stimuli in the pooled set, got {n}")
    spread = float(scores.std(correction=ddof))
    if spread == 0.0:
        raise ValueError("association scores have zero variance over the pooled set: "
                         "the effect size is undefined")
    return (float(scores[:n_x].mean()) - float(scores[n_x:].mean())) / spread


def effect_size(X: Embeddings, Y: Embeddings, A: Embeddings, B: Embeddings, *,
                ddof: int = 1) -> float:
    """EAT effect size (Caliskan et al. 2017).

    ``d = (mean_{x in X} s(x, A, B) - mean_{y in Y} s(y, A, B)) / std_{w in X u Y} s(w, A, B)``
    with the sample standard deviation (``ddof=1``) by default. X (n_x, dim), Y (n_y, dim),
    A (n_a, dim), B (n_b, dim); any float dtype, numpy or torch, not necessarily normalised.
    """
    scores, n_x = eat_scores(X, Y, A, B)
    return d_from_scores(scores, n_x, ddof=ddof)


def sc_effect_size(W: Embeddings, A: Embeddings, B: Embeddings, *, ddof: int = 1) -> float:
    """Single-category EAT effect size of a target set W against attributes A and B.

    With ``c(v) = mean_{w in W} cos(w, v)``:
    ``d = (mean_{a in A} c(a) - mean_{b in B} c(b)) / std_{v in A u B} c(v)`` (ddof 1 default).
    W (n_w, dim) or (dim,) for one target, A (n_a, dim), B (n_b, dim). One target stimulus gives
    the SC-WEAT of Caliskan et al.
    """
    scores, n_a = sc_eat_scores(W, A, B)
    return d_from_scores(scores, n_a, ddof=ddof)


def check_options(*, n_permutations: int, exact_threshold: int, alternative: str,
                  seed: int) -> None:
    """Raise a ValueError naming the first invalid permutation-test option."""
    if alternative not in ALTERNATIVES:
        raise ValueError(f"alternative must be one of {ALTERNATIVES}, got {alternative!r}")
    check_int(n_permutations, "n_permutations", low=1)
    check_int(exact_threshold, "exact_threshold", low=0)
    check_int(seed, "seed", low=0)


def p_from_counts(counts: np.ndarray, n_scored: int, exact: bool
                  ) -> tuple[np.ndarray, np.ndarray]:
    """P-values and Monte-Carlo standard errors from exceedance counts.

    Exact: ``p = counts / n_scored``, se 0. Sampled: ``p = (1 + counts) / (1 + n_scored)``,
    ``se = sqrt(p (1 - p) / n_scored)``.
    """
    counts = np.asarray(counts, dtype=np.float64)
    if exact:
        return counts / n_scored, np.zeros_like(counts)
    p = (1.0 + counts) / (1.0 + n_scored)
    return p, np.sqrt(p * (1.0 - p) / n_scored)


def _test_scores(scores: torch.Tensor, n_x: int, *, ddof: int, n_permutations: int,
                 exact_threshold: int, alternative: Alternative, seed: int,
                 device: torch.device | str, memory_budget: int, progress: bool) -> EATResult:
    """Effect size and permutation p of one score vector whose first ``n_x`` items are side X."""
    check_options(n_permutations=n_permutations, exact_threshold=exact_threshold,
                  alternative=alternative, seed=seed)
    d = d_from_scores(scores, n_x, ddof=ddof)
    n = scores.shape[0]
    tally = count_exceedances(scores[:, None].to(device), n_x, alternative=alternative,
                              n_permutations=int(n_permutations),
                              exact_threshold=int(exact_threshold), seed=int(seed),
                              memory_budget=memory_budget, desc=f"EAT {n_x}+{n - n_x}",
                              progress_bar=progress)
    p, se = p_from_counts(tally.counts, tally.n_partitions, tally.exact)
    return EATResult(effect_size=d, statistic=float(scores[:n_x].sum()), p_value=float(p[0]),
                     exact=tally.exact, n_permutations=tally.n_partitions,
                     mc_standard_error=float(se[0]), alternative=alternative, n_x=n_x,
                     n_y=n - n_x)


def permutation_test(X: Embeddings, Y: Embeddings, A: Embeddings, B: Embeddings, *,
                     n_permutations: int = 1_000_000, exact_threshold: int = 1_000_000,
                     alternative: Alternative = "greater", seed: int = 0, ddof: int = 1,
                     device: torch.device | str = "cpu", memory_budget: int = 2**30,
                     progress: bool = True) -> EATResult:
    """EAT effect size with its permutation p-value.

    Statistic of a partition ``(X_i, Y_i)`` of ``X u Y`` with ``|X_i| = |X|``:
    ``t_i = sum_{x in X_i} s(x, A, B)``; observed ``t_0`` for ``X_i = X``. ``|X| != |Y|`` is
    allowed. When ``N = C(|X|+|Y|, |X|) <= exact_threshold`` every partition is scored and
    ``p = #{i: t_i extreme} / N``; otherwise ``n_permutations`` seeded random partitions give
    ``p = (1 + #{extreme}) / (1 + n_permutations)``. Extreme: ``t_i >= t_0`` ("greater"),
    ``t_i <= t_0`` ("less"), ``|t_i - mu| >= |t_0 - mu|`` with ``mu = |X| mean_{X u Y} s``
    the permutation mean ("two-sided"). Ties are decided exactly (scores on a 2**-F grid, see
    :mod:`clipbias.metrics.permutations`). X (n_x, dim), Y (n_y, dim), A (n_a, dim), B (n_b, dim).
    ``progress`` shows a bar over partition blocks.
    """
    scores, n_x = eat_scores(X, Y, A, B)
    return _test_scores(scores, n_x, ddof=ddof, n_permutations=n_permutations,
                        exact_threshold=exact_threshold, alternative=alternative, seed=seed,
                        device=device, memory_budget=memory_budget, progress=progress)


def sc_permutation_test(W: Embeddings, A: Embeddings, B: Embeddings, *,
                        n_permutations: int = 1_000_000, exact_threshold: int = 1_000_000,
                        alternative: Alternative = "greater", seed: int = 0, ddof: int = 1,
                        device: torch.device | str = "cpu", memory_budget: int = 2**30,
                        progress: bool = True) -> EATResult:
    """SC-EAT effect size (:func:`sc_effect_size`) with its permutation p-value.

    Partitions of the attribute stimuli ``A u B`` into sides of sizes ``|A|`` and ``|B|``;
    statistic ``sum_{v in A_i} c(v)`` with ``c(v) = mean_{w in W} cos(w, v)``; p-values as in
    :func:`permutation_test` (``n_x``, ``n_y`` of the result are ``|A|``, ``|B|``).
    """
    scores, n_a = sc_eat_scores(W, A, B)
    return _test_scores(scores, n_a, ddof=ddof, n_permutations=n_permutations,
                        exact_threshold=exact_threshold, alternative=alternative, seed=seed,
                        device=device, memory_budget=memory_budget, progress=progress)
