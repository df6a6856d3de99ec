"""Pipeline check: a tiny synthetic study that exercises the whole book pipeline.

Two groups of random unit embeddings are drawn; group ``"planted"`` is pushed toward a random
concept direction by a known amount, group ``"neutral"`` is not. The study reports each group's
mean cosine similarity to the concept with a normal-approximation interval. Because the planted
value is known in closed form, the chapter can show that the computed number recovers it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["PipelineCheckParams", "PipelineCheckResult", "expected_cosine", "run"]

GROUPS: tuple[str, str] = ("neutral", "planted")


@dataclass(frozen=True)
class PipelineCheckParams:
    """Parameters of the pipeline-check study (the notebook's ``parameters`` cell mirrors them)."""

    seed: int = 0  # seed of the random generator (numpy PCG64)
    n: int = 500  # embeddings drawn per group
    dim: int = 64  # embedding dimension
    shift: float = 0.5  # planted pull of the "planted" group toward the concept (0 = none)


@dataclass(frozen=True)
class PipelineCheckResult:
    """What the study computes.

    ``similarities``: one row per embedding, columns ``group`` and ``cosine`` (``2 * n`` rows).
    ``summary``: one row per group, columns ``group``, ``n``, ``mean``, ``ci_low``, ``ci_high``.
    ``gap``: mean cosine of the planted group minus that of the neutral group.
    ``expected_planted``: the large-dimension limit of the planted group's mean cosine.
    """

    similarities: pd.DataFrame
    summary: pd.DataFrame
    gap: float
    expected_planted: float


def expected_cosine(shift: float) -> float:
    """Mean cosine to the concept that ``shift`` plants, in the limit of large ``dim``.

    A planted embedding is ``x = normalize(z + shift * sqrt(dim) * c)`` with ``z ~ N(0, I_dim)``
    and ``c`` a unit vector; as ``dim`` grows, ``|z| / sqrt(dim) -> 1`` and ``z . c / sqrt(dim)
    -> 0``, so ``cos(x, c) -> shift / sqrt(1 + shift**2)``.
    """
    if shift < 0:
        raise ValueError(f"shift must be >= 0 (got {shift})")
    return float(shift / np.sqrt(1.0 + shift**2))


def _validate(params: PipelineCheckParams) -> None:
    if params.n < 2:
        raise ValueError(f"n must be at least 2 to estimate a spread (got {params.n})")
    if params.dim < 2:
        raise ValueError(f"dim must be at least 2 (got {params.dim})")
    if params.shift < 0:
        raise ValueError(f"shift must be >= 0 (got {params.shift})")


def run(*, seed: int = 0, n: int = 500, dim: int = 64, shift: float = 0.5) -> PipelineCheckResult:
    """Draw both groups and compute per-group mean cosine similarity to a random concept.

    Shapes: the concept ``c`` is ``(dim,)``; each group's embeddings are ``(n, dim)``, unit rows.
    The interval is ``mean +/- 1.96 * s / sqrt(n)`` with ``s`` the sample SD (``ddof=1``).
    Reproducible bit for bit for a given ``seed``.
    """
    params = PipelineCheckParams(seed=seed, n=n, dim=dim, shift=shift)
    _validate(params)
    rng = np.random.default_rng(params.seed)
    concept = rng.standard_normal(params.dim)
    concept /= np.linalg.norm(concept)
    frames = []
    for group, pull in zip(GROUPS, (0.0, params.shift), strict=True):
        raw = rng.standard_normal((params.n, params.dim)) + pull * np.sqrt(params.dim) * concept
        unit = raw / np.linalg.norm(raw, axis=1, keepdims=True)
        frames.append(pd.DataFrame({"group": group, "cosine": unit @ concept}))
    similarities = pd.concat(frames, ignore_index=True)
    stats = similarities.groupby("group", sort=False)["cosine"].agg(["count", "mean", "std"])
    half = 1.96 * stats["std"] / np.sqrt(stats["count"])
    summary = pd.DataFrame(
        {
            "group": stats.index.astype(str),
            "n": stats["count"].to_numpy(),
            "mean": stats["mean"].to_numpy(),
            "ci_low": (stats["mean"] - half).to_numpy(),
            "ci_high": (stats["mean"] + half).to_numpy(),
        }
    )
    means = stats["mean"]
    return PipelineCheckResult(
        similarities=similarities,
        summary=summary,
        gap=float(means["planted"] - means["neutral"]),
        expected_planted=expected_cosine(params.shift),
    )
