"""Pipeline check: a tiny synthetic study that exercises the whole book pipeline.

Two groups of random unit embeddings are drawn; group ``"planted"`` is pushed toward a random
concept direction by a known amount, group ``"neutral"`` is not. The study reports each group's
mean cosine similarity to the concept with a normal-approximation interval. Because the planted
value is known in closed form, the chapter can show that the computed number recovers it.

It follows the study contract (:mod:`clipbias.studies._contract`); its notebook is
``notebooks/pipeline_check.md``. Random steps: ``"concept"`` (the concept direction) and
``"draw_neutral"``, ``"draw_planted"`` (each group's embeddings).

>>> result = run(Params(n=200, dim=32), progress=False)
>>> sorted(glue_values(result))
['expected_planted', 'gap', 'mean_neutral', 'mean_planted', 'n_per_group']
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from clipbias.studies._contract import StudyParams

__all__ = ["GROUPS", "Params", "Result", "expected_cosine", "glue_values", "run"]

#: The two groups, in the order of the summary table.
GROUPS: tuple[str, str] = ("neutral", "planted")


@dataclass(frozen=True)
class Params(StudyParams):
    """Parameters of the pipeline-check study (the notebook's ``parameters`` cell mirrors them)."""

    seed: int = 0  # study seed: the concept and each group's draw derive their own seeds from it
    n: int = 500  # embeddings drawn per group
    dim: int = 64  # embedding dimension
    shift: float = 0.5  # planted pull of the "planted" group toward the concept (0 = none)

    def validate(self) -> None:
        """``n >= 2`` (a spread needs two draws), ``dim >= 2``, finite ``shift >= 0``."""
        if self.n < 2:
            raise ValueError(f"n must be at least 2 to estimate a spread (got {self.n}); "
                             "draw more embeddings per group")
        if self.dim < 2:
            raise ValueError(f"dim must be at least 2 (got {self.dim})")
        if not np.isfinite(self.shift) or self.shift < 0:
            raise ValueError(f"shift must be a finite number >= 0 (got {self.shift}); "
                             "0 plants nothing")


@dataclass(frozen=True)
class Result:
    """What the study computes.

    ``similarities``: one row per embedding, columns ``group`` and ``cosine`` (``2 * n`` rows).
    ``summary``: one row per group (in :data:`GROUPS` order), columns ``group``, ``n``, ``mean``,
    ``ci_low``, ``ci_high``.
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


def run(params: Params, *, progress: bool = True) -> Result:
    """Draw both groups and compute per-group mean cosine similarity to a random concept.

    Shapes: the concept ``c`` is ``(dim,)``; each group's embeddings are ``(n, dim)``, unit rows.
    The interval is ``mean +/- 1.96 * s / sqrt(n)`` with ``s`` the sample SD (``ddof=1``).
    Reproducible bit for bit for given ``params``. The study takes well under a second, so
    ``progress`` shows nothing; it is accepted as every study's ``run`` accepts it.
    """
    if not isinstance(params, Params):
        raise ValueError(f"run expects pipeline_check.Params (got {type(params).__name__}); "
                         "build it with Params(...) or params_from(Params, globals())")
    concept = np.random.default_rng(params.seed_for("concept")).standard_normal(params.dim)
    concept /= np.linalg.norm(concept)
    frames = []
    for group, pull in zip(GROUPS, (0.0, params.shift), strict=True):
        rng = np.random.default_rng(params.seed_for(f"draw_{group}"))
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
    return Result(
        similarities=similarities,
        summary=summary,
        gap=float(means["planted"] - means["neutral"]),
        expected_planted=expected_cosine(params.shift),
    )


def glue_values(result: Result) -> dict[str, float | int]:
    """Every number the chapter's prose cites, by glue key.

    - ``n_per_group``: embeddings drawn per group (int);
    - ``mean_neutral``, ``mean_planted``: each group's mean cosine similarity to the concept;
    - ``expected_planted``: the planted group's large-dimension limit, :func:`expected_cosine`;
    - ``gap``: ``mean_planted - mean_neutral``.
    """
    by_group = result.summary.set_index("group")
    return {
        "n_per_group": int(by_group.loc["planted", "n"]),
        "mean_neutral": float(by_group.loc["neutral", "mean"]),
        "mean_planted": float(by_group.loc["planted", "mean"]),
        "expected_planted": float(result.expected_planted),
        "gap": float(result.gap),
    }
