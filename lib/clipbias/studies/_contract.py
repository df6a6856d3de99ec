"""The study contract (CONTRIBUTING.md, "Study contract"): the pieces every study shares.

**The module.** Every ``clipbias.studies.<name>`` module whose name does not start with ``_`` is a
study and defines

- ``Params``: a frozen dataclass subclassing :class:`StudyParams`; every field typed, with a
  default and a one-line comment. :class:`StudyParams` checks each value against its field's type
  (and coerces lists to tuples, ints to floats, strings to paths); field-specific checks live in
  the study's ``validate``, run once by ``__post_init__``. Both raise ``ValueError``.
- ``Result``: a frozen dataclass of tidy DataFrames and scalars;
- ``run(params, *, progress=True) -> Result``;
- ``glue_values(result) -> dict[str, float | int | str]``: every number the prose cites; its
  docstring names every key (in double backquotes) with what its value means.

**The notebook.** The notebook of study ``<name>`` is ``notebooks/<stem>.md`` where the stem is
``<name>`` itself unless :data:`NOTEBOOK_OF` maps the study to another stem (today only
``synthetic_validation -> synthetic_world``); :func:`notebook_of` applies the rule. Its cell tagged
``parameters`` assigns exactly the fields of ``Params``, with the same default values (a test
parses the cell with ``ast``; lists and tuples compare equal). The next cells build the parameters,
run the study and glue exactly ``glue_values(result)``::

    params = params_from(<name>.Params, globals())
    result = <name>.run(params)
    for key, value in <name>.glue_values(result).items():
        glue(key, value, display=False)

Profile entries (``notebooks/profiles/*.yaml``) for that stem may set only ``Params`` fields.

**Seeds.** A study has one ``seed``. Every random step takes its own seed from
:meth:`StudyParams.seed_for` (``numpy.random.SeedSequence`` keyed by the study seed and the step's
name), so changing ``seed`` changes every random choice, steps do not share streams, and a step's
seed does not depend on which other steps ran.

>>> from dataclasses import dataclass
>>> @dataclass(frozen=True)
... class Params(StudyParams):
...     levels: tuple[float, ...] = (0.0, 1.0)  # planted levels
>>> p = Params(levels=[0, 0.5])
>>> p.levels
(0.0, 0.5)
>>> p.seed_for("bootstrap") == Params(seed=0).seed_for("bootstrap")
True
>>> p.seed_for("bootstrap") != p.seed_for("permutations")
True
>>> Params(levels="high")
Traceback (most recent call last):
...
ValueError: Params: levels must be a list of numbers, got 'high' (str)
"""

from __future__ import annotations

import dataclasses
import pkgutil
import types
import typing
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from os import PathLike
from pathlib import Path, PurePath
from typing import Any, Literal, TypeVar, Union

import numpy as np

__all__ = [
    "NOTEBOOK_OF",
    "StudyParams",
    "checkpoint_paths",
    "derive_seed",
    "notebook_of",
    "params_from",
    "study_names",
]

P = TypeVar("P", bound="StudyParams")


def checkpoint_paths(items: tuple[str, ...]) -> dict[str, str]:
    """A study's ``checkpoints`` parameter, entries ``"ARCH/TAG=path"``, as ``{model id: path}``.

    Raises ``ValueError`` naming the first entry that lacks the ``=``, the ``/`` of the model id
    or the path.

    >>> checkpoint_paths(("ViT-B-32/mine=/w/mine.pt",))
    {'ViT-B-32/mine': '/w/mine.pt'}
    """
    out = {}
    for item in items:
        mid, sep, path = item.partition("=")
        if not sep or "/" not in mid or not path:
            raise ValueError(f"Params: checkpoints entries read 'ARCH/TAG=path', got {item!r}")
        out[mid] = path
    return out

#: Study module -> notebook stem, for the studies whose notebook is not ``notebooks/<module>.md``.
NOTEBOOK_OF: Mapping[str, str] = types.MappingProxyType(
    {"synthetic_validation": "synthetic_world"}
)


def study_names() -> tuple[str, ...]:
    """The study modules of ``clipbias.studies``: every module whose name has no leading ``_``."""
    here = Path(__file__).parent
    return tuple(sorted(m.name for m in pkgutil.iter_modules([str(here)])
                        if not m.name.startswith("_")))


def notebook_of(study: str) -> str:
    """The stem of the notebook of ``study`` (``notebooks/<stem>.md``): :data:`NOTEBOOK_OF` or the
    study's own name."""
    if study not in study_names():
        raise ValueError(f"{study!r} is not a study module of clipbias.studies; "
                         f"the studies are {list(study_names())}")
    return NOTEBOOK_OF.get(study, study)


def derive_seed(seed: int, step: str) -> int:
    """A 63-bit seed for the random step named ``step`` of a study seeded with ``seed``.

    ``SeedSequence(seed, spawn_key=(crc32(step),))``: distinct steps get independent streams,
    and the value depends only on ``(seed, step)``.
    """
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    sequence = np.random.SeedSequence(int(seed), spawn_key=(zlib.crc32(step.encode()),))
    return int(sequence.generate_state(1, np.uint64)[0] >> np.uint64(1))


class _Mismatch(Exception):
    """A value does not fit a type annotation (turned into a ``ValueError`` by the caller)."""


def _describe(hint: Any) -> str:
    """A reader's name for the values ``hint`` admits ("an integer", "one of 'ci', 'default'")."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        return " or ".join(_describe(arg) for arg in args)
    if origin is Literal:
        return "one of " + ", ".join(repr(arg) for arg in args)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            item = _describe(args[0])
            item = item.split(" ", 1)[1] if item.startswith(("a ", "an ")) else item
            return f"a list of {item}s"
        return f"a list of {len(args)} values" if args else "a list"
    names = {bool: "True or False", int: "an integer", float: "a number", str: "a string",
             type(None): "None"}
    if hint in names:
        return names[hint]
    if isinstance(hint, type) and issubclass(hint, PurePath):
        return "a path"
    return f"a {getattr(hint, '__name__', hint)}"


def _conform(value: Any, hint: Any) -> Any:
    """``value`` made to fit ``hint`` (lists -> tuples, ints -> floats, numpy scalars -> Python,
    strings -> paths); raise :class:`_Mismatch` when it cannot. Unknown hints accept anything."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any or isinstance(hint, TypeVar | str):
        return value
    if origin in (Union, types.UnionType):
        for arg in args:
            try:
                return _conform(value, arg)
            except _Mismatch:
                continue
        raise _Mismatch
    if origin is Literal:
        for arg in args:
            try:
                if _conform(value, type(arg)) == arg:
                    return arg
            except _Mismatch:
                continue
        raise _Mismatch
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise _Mismatch
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_conform(item, args[0]) for item in value)
        if args and args != ((),):
            if len(value) != len(args):
                raise _Mismatch
            return tuple(_conform(item, arg) for item, arg in zip(value, args, strict=True))
        return tuple(value)
    if origin is not None:
        if isinstance(origin, type) and not isinstance(value, origin):
            raise _Mismatch
        return value
    if hint is type(None) or hint is None:
        if value is not None:
            raise _Mismatch
        return None
    if hint is bool:
        if not isinstance(value, bool | np.bool_):
            raise _Mismatch
        return bool(value)
    if hint is int:
        if isinstance(value, bool | np.bool_) or not isinstance(value, int | np.integer):
            raise _Mismatch
        return int(value)
    if hint is float:
        if isinstance(value, bool | np.bool_) or not isinstance(
                value, int | float | np.integer | np.floating):
            raise _Mismatch
        return float(value)
    if isinstance(hint, type) and issubclass(hint, PurePath):
        if not isinstance(value, str | PathLike):
            raise _Mismatch
        return hint(value)
    if isinstance(hint, type):
        if not isinstance(value, hint):
            raise _Mismatch
        return value
    return value


@dataclass(frozen=True)
class StudyParams:
    """Base of every study's ``Params``: the study ``seed``, type checks, one ``validate``.

    Subclasses add fields (each with a default and a one-line comment) and override
    :meth:`validate`, raising ``ValueError`` with a message that says what to do. Before
    ``validate`` runs, every value is checked against its field's type annotation and conformed to
    it: ``tuple[...]`` fields accept lists (papermill and YAML profiles pass lists) and store
    tuples, so ``Params`` stays hashable and frozen; ``float`` fields accept integers; ``Path``
    fields accept strings; a value of the wrong kind raises ``ValueError`` naming the field.
    """

    seed: int = 0  # one seed for the whole study; every random step derives its own from it

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        name = type(self).__name__
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            hint = hints.get(f.name, Any)
            try:
                conformed = _conform(value, hint)
            except _Mismatch:
                raise ValueError(f"{name}: {f.name} must be {_describe(hint)}, got {value!r} "
                                 f"({type(value).__name__})") from None
            object.__setattr__(self, f.name, conformed)
        if self.seed < 0:
            raise ValueError(f"{name}: seed must be a non-negative integer, got {self.seed!r}")
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
