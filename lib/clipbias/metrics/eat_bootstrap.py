"""Bootstrap confidence interval of the EAT effect size (stimuli resampled within each set)."""

from __future__ import annotations

import numpy as np
import torch

from clipbias.checks import check_int
from clipbias.metrics.eat import Embeddings, check_dims, unit_rows

__all__ = ["bootstrap_effect_size", "bootstrap_interval", "check_bootstrap_options"]

#: Replicates drawn per generator call (fixed: the stream depends on it).
_CHUNK = 1024


def _counts(draws: torch.Tensor, size: int) -> torch.Tensor:
    """Per-row multiplicities (R, size) of indices ``draws`` (R, size), as float64."""
    out = torch.zeros(draws.shape[0], size, dtype=torch.float64)
    return out.scatter_add_(1, draws, torch.ones_like(out))


def check_bootstrap_options(*, n_bootstrap: int, confidence_level: float, seed: int) -> None:
    """Raise a ValueError naming the first invalid bootstrap option."""
    check_int(n_bootstrap, "n_bootstrap", low=1)
    if not 0.0 < confidence_level < 1.0:
        raise ValueError(f"confidence_level must lie in (0, 1), got {confidence_level!r}")
    check_int(seed, "seed", low=0)


def bootstrap_effect_size(X: Embeddings, Y: Embeddings, A: Embeddings, B: Embeddings, *,
                          n_bootstrap: int = 1000, confidence_level: float = 0.95,
                          seed: int = 0, ddof: int = 1) -> tuple[float, float]:
    """Percentile bootstrap interval of d (Efron and Tibshirani).

    Replicate ``r`` draws ``X*, Y*, A*, B*`` with replacement from each set (same sizes) and
    computes ``d* = (mean_{X*} s* - mean_{Y*} s*) / std_{X* u Y*} s*`` with
    ``s*(w) = mean_{A*} cos(w, a) - mean_{B*} cos(w, b)``; the interval is the
    ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles (linear interpolation) of the ``d*``.
    Replicates whose pooled scores have zero spread (d* undefined) are left out.
    X (n_x, dim), Y (n_y, dim), A (n_a, dim), B (n_b, dim). Seeded: reproducible bit for bit.
    Returns ``(low, high)``.
    """
    check_bootstrap_options(n_bootstrap=n_bootstrap, confidence_level=confidence_level,
                            seed=seed)
    x, y, a, b = (unit_rows(name, v) for name, v in (("X", X), ("Y", Y), ("A", A), ("B", B)))
    check_dims(X=x, Y=y, A=a, B=b)
    targets = torch.cat([x, y])
    return bootstrap_interval(targets @ a.T, targets @ b.T, x.shape[0], n_bootstrap=n_bootstrap,
                              confidence_level=confidence_level, seed=seed, ddof=ddof)


def bootstrap_interval(cos_a: torch.Tensor, cos_b: torch.Tensor, n_x: int, *,
                       n_bootstrap: int, confidence_level: float, seed: int, ddof: int
                       ) -> tuple[float, float]:
    """Percentile interval of d from cosines of the targets ``X u Y`` (X first) with A and B.

    ``cos_a`` (n_x + n_y, n_a), ``cos_b`` (n_x + n_y, n_b), float64; options as in
    :func:`bootstrap_effect_size`, which validates them.
    """
    n_y = cos_a.shape[0] - n_x
    n_a, n_b = cos_a.shape[1], cos_b.shape[1]
    if n_x + n_y - ddof <= 0:
        raise ValueError(f"ddof={ddof} needs more than {ddof} target stimuli")
    gen = torch.Generator().manual_seed(int(seed))
    replicates = []
    for start in range(0, n_bootstrap, _CHUNK):
        reps = min(_CHUNK, n_bootstrap - start)
        weight_a = _counts(torch.randint(n_a, (reps, n_a), generator=gen), n_a) / n_a
        weight_b = _counts(torch.randint(n_b, (reps, n_b), generator=gen), n_b) / n_b
        pick_x = torch.randint(n_x, (reps, n_x), generator=gen)
        pick_y = torch.randint(n_y, (reps, n_y), generator=gen) + n_x
        scores = weight_a @ cos_a.T - weight_b @ cos_b.T  # (reps, n_x + n_y)
        s_x, s_y = scores.gather(1, pick_x), scores.gather(1, pick_y)
        spread = torch.cat([s_x, s_y], 1).std(1, correction=ddof)
        replicates.append((s_x.mean(1) - s_y.mean(1)) / spread)
    d_star = torch.cat(replicates).numpy()
    d_star = d_star[np.isfinite(d_star)]
    if d_star.size == 0:
        raise ValueError("every bootstrap replicate had zero spread of scores: no interval")
    tail = (1.0 - confidence_level) / 2.0
    low, high = np.quantile(d_star, [tail, 1.0 - tail])
    return float(low), float(high)
