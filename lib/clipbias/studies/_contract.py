"""The study contract (CONTRIBUTING.md, "The study contract"): the pieces every study shares.

Every ``clipbias.studies.<name>`` module defines

- ``Params``: a frozen dataclass subclassing :class:`StudyParams`; every field typed, with a
  default and a one-line comment; checks in ``validate`` (called once, by ``__post_init__``);
- ``Result``: a frozen dataclass of tidy DataFrames and scalars;
- ``run(params, *, progress=True) -> Result``;
- ``glue_values(result) -> dict[str, float | int | str]``: every number the prose cites.

The notebook ``notebooks/<name>.md`` mirrors ``Params`` in its ``parameters`` cell (same names,
same defaults; a test checks it), builds ``Params(**locals of that cell)`` with :func:`params_from`,
and glues exactly ``glue_values(result)``.

Seeds: a study has one ``seed``. Every random step takes its own seed from :meth:`StudyParams.seed_for`
(``numpy.random.SeedSequence`` keyed by the study seed and the step's name), so changing ``seed``
changes every random choice, steps do not share streams, and a step's seed does not depend on
which other steps ran.

>>> from dataclasses import dataclass
>>> @dataclass(frozen=True)
... class Params(StudyParams):
...     levels: tuple[float, ...] = (0.0, 1.0)  # planted levels
>>> p = Params(levels=[0.0, 0.5])
>>> p.levels
(0.0, 0.5)
>>> p.seed_for("bootstrap") == Params(seed=0).seed_for("bootstrap")
True
>>> p.seed_for("bootstrap") != p.seed_for("permutations")
True
"""

from __future__ import annotations

import dataclasses
import typing
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

__all__ = ["StudyParams", "derive_seed", "params_from"]

P = TypeVar("P", bound="StudyParams")


def derive_seed(seed: int, step: str) -> int:
    """A 63-bit seed for the random step named ``step`` of a study seeded with ``seed``.

    ``SeedSequence(seed, spawn_key=(crc32(step),))``: distinct steps get independent streams,
    and the value depends only on ``(seed, step)``.
    """
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    sequence = np.random.SeedSequence(int(seed), spawn_key=(zlib.crc32(step.encode()),))
    return int(sequence.generate_state(1, np.uint64)[0] >> np.uint64(1))


@dataclass(frozen=True)
class StudyParams:
    """Base of every study's ``Params``: the study ``seed``, list-to-tuple coercion, one check.

    Subclasses add fields (each with a default and a one-line comment) and override
    :meth:`validate`, raising ``ValueError`` with a message that says what to do. Fields typed
    ``tuple[...]`` accept lists (papermill and YAML profiles pass lists) and store tuples, so
    ``Params`` stays hashable and frozen.
    """

    seed: int = 0  # one seed for the whole study; every random step derives its own from it

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            origin = typing.get_origin(hints.get(f.name))
            if isinstance(value, list) and origin is tuple:
                object.__setattr__(self, f.name, tuple(value))
        if isinstance(self.seed, bool) or not isinstance(self.seed, int | np.integer) \
                or self.seed < 0:
            raise ValueError(f"{type(self).__name__}: seed must be a non-negative integer, "
                             f"got {self.seed!r}")
        self.validate()

    def validate(self) -> None:
        """Check the fields together; raise ``ValueError`` naming the field and the fix."""

    def seed_for(self, step: str) -> int:
        """The seed of the random step named ``step`` (see :func:`derive_seed`)."""
        return derive_seed(self.seed, step)

    def to_dict(self) -> dict[str, Any]:
        """The parameters as a plain dict (for tables and provenance)."""
        return dataclasses.asdict(self)


def params_from(cls: type[P], values: Mapping[str, Any]) -> P:
    """Build ``cls`` from a notebook's variables: the names of ``cls``'s fields are picked out
    of ``values`` (for example ``globals()`` after the ``parameters`` cell); others are ignored.

    A field missing from ``values`` keeps its default.
    """
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in values.items() if k in names})
