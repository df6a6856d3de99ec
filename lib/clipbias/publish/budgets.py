"""Time budgets of the book (``notebooks/budgets.yaml``) and the per-chapter time summary.

``python -m clipbias book`` ends with :func:`summary_table`: one row per chapter (its profile, the
seconds it took, its budget, whether its executed notebook was reused or run on a cold or warm
cache) and a line naming the chapters over budget. The test suite derives its timeouts from the
same file.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml

from clipbias.publish.profiles import PROFILES

__all__ = [
    "BUDGETS_FILE",
    "CacheState",
    "ChapterTime",
    "TimeBudgets",
    "load_budgets",
    "over_budget",
    "summary_table",
]

#: The budgets file, relative to the book root.
BUDGETS_FILE = "notebooks/budgets.yaml"

#: How a chapter's time was obtained: executed on an empty cache (``cold``, the condition the
#: budgets are set for), executed on a cache that already held files (``warm``), or not executed in
#: this run (``reused``: the time recorded when it was executed).
CacheState = Literal["cold", "warm", "reused"]


@dataclass(frozen=True)
class TimeBudgets:
    """Seconds allowed per chapter and profile, and for the Sphinx build per profile."""

    chapters: Mapping[str, Mapping[str, float]]  # notebook stem -> profile -> seconds
    build: Mapping[str, float]  # profile -> seconds of `jupyter-book build`

    def chapter_s(self, stem: str, profile: str) -> float | None:
        """Seconds allowed for chapter ``stem`` under ``profile``; ``None`` when it has none."""
        return self.chapters.get(stem, {}).get(profile)

    def build_s(self, profile: str) -> float | None:
        """Seconds allowed for the Sphinx build under ``profile``; ``None`` when it has none."""
        return self.build.get(profile)


def _seconds_by_profile(value: object, *, where: str) -> dict[str, float]:
    """Validate ``{profile: positive seconds}``; the message names the offending entry."""
    if not isinstance(value, Mapping):
        raise ValueError(f"{where} must map profiles ({', '.join(PROFILES)}) to seconds")
    out: dict[str, float] = {}
    for profile, seconds in value.items():
        if profile not in PROFILES:
            raise ValueError(f"{where}: unknown profile {profile!r} (profiles: {list(PROFILES)})")
        if (
            isinstance(seconds, bool)
            or not isinstance(seconds, int | float)
            or not math.isfinite(seconds)
            or seconds <= 0
        ):
            raise ValueError(
                f"{where}.{profile} must be a positive number of seconds (got {seconds!r})"
            )
        out[profile] = float(seconds)
    return out


def load_budgets(path: str | os.PathLike[str]) -> TimeBudgets:
    """Read a budgets file: ``chapters: {stem: {profile: seconds}}``, ``build: {profile: seconds}``.

    Raises ``ValueError`` for a missing file, another top-level key, an unknown profile or a
    budget that is not a positive number.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"budgets file {path} does not exist")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, Mapping) or set(data) != {"chapters", "build"}:
        raise ValueError(f"{path}: a budgets file has exactly two keys, 'chapters' and 'build'")
    if not isinstance(data["chapters"], Mapping):
        raise ValueError(f"{path}: 'chapters' must map notebook stems to {{profile: seconds}}")
    chapters = {
        str(stem): _seconds_by_profile(value, where=f"{path}: chapters.{stem}")
        for stem, value in data["chapters"].items()
    }
    return TimeBudgets(chapters, _seconds_by_profile(data["build"], where=f"{path}: build"))


@dataclass(frozen=True)
class ChapterTime:
    """The wall time of one step of a book run: a chapter (notebook stem) or the book build."""

    chapter: str  # notebook stem, or "(book build)" for jupyter-book build
    profile: str  # the parameter profile it ran with
    seconds: float | None  # None: a reused notebook that recorded no time
    cache: CacheState | None  # None for the book build
    budget: float | None  # seconds allowed; None: no budget for this profile

    @property
    def over_budget(self) -> bool:
        """Whether the step took longer than its budget."""
        return self.seconds is not None and self.budget is not None and self.seconds > self.budget


def over_budget(rows: Sequence[ChapterTime]) -> list[ChapterTime]:
    """The rows whose time exceeds their budget, in order."""
    return [row for row in rows if row.over_budget]


def summary_table(rows: Sequence[ChapterTime]) -> str:
    """A plain-text table of ``rows`` (chapter, profile, seconds, budget, cache, over budget),
    followed by a line naming the steps over budget (or saying there are none)."""
    header = ("chapter", "profile", "seconds", "budget", "cache", "")
    body = [
        (
            row.chapter,
            row.profile,
            "-" if row.seconds is None else f"{row.seconds:.1f}",
            "-" if row.budget is None else f"{row.budget:.0f}",
            row.cache or "",
            "OVER BUDGET" if row.over_budget else "",
        )
        for row in rows
    ]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
    numeric = {2, 3}

    def fmt(line: Sequence[str]) -> str:
        cells = [
            cell.rjust(width) if i in numeric else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(line, widths, strict=True))
        ]
        return "  ".join(cells).rstrip()

    lines = [fmt(header), fmt(["-" * w for w in widths]), *(fmt(line) for line in body)]
    late = over_budget(rows)
    if late:
        lines.append(
            "over budget: "
            + ", ".join(f"{r.chapter} ({r.seconds:.1f} s > {r.budget:.0f} s)" for r in late)
            + " (budgets assume an empty cache on 2 cores: notebooks/budgets.yaml)"
        )
    else:
        lines.append("every step within its budget (notebooks/budgets.yaml)")
    return "\n".join(lines)
