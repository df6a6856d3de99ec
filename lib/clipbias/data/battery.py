"""The 26-test intrinsic-bias battery of Ghate et al. 2025, as data (``resources/battery.yaml``).

Eight test definitions (a category and one of its SEAT text tests) times the four modality orders
of :data:`clipbias.data.stimulus.ORDERS` give 32 runs. A category's images are shared by all its
text variants, so the runs with image targets (``image-image`` and ``image-text``) are kept once
per category; 26 tests remain: 5 ``image-image``, 8 ``text-text``, 5 ``image-text`` (image
targets, text attributes) and 8 ``text-image`` (text targets, image attributes).

Sign convention: ``x`` is the group the stereotype holds to be more pleasant (flowers,
instruments, European American, young, female) and ``a`` is pleasant, so a positive effect size is
stereotype-congruent. The gender tests set ``x`` = female directly, where the paper's code put male
first and negated d afterwards; the value is the same.

Text stimuli are the template-expanded sentences of :func:`clipbias.data.word_lists.text_set`.
Image stimuli are resolved against the data root: iEAT folders and the OASIS valence extremes.
The Instrument-Weapon images were never published; put your own under
``<data root>/ieat/instrument-weapon/{instrument,weapon}/`` or leave those tests out
(``skip_missing=True`` drops every test whose images are absent, with a warning).

:func:`battery` and the synthetic world's battery both return lists of
:class:`~clipbias.data.stimulus.EATSpec`, so the studies consume either the same way.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from clipbias.data.adapters.base import DatasetNotFoundError
from clipbias.data.adapters.ieat import load_ieat
from clipbias.data.adapters.oasis import load_oasis
from clipbias.data.adapters.sources import get_source
from clipbias.data.stimulus import ORDERS, EATSpec, StimulusSet
from clipbias.data.word_lists import load_resource, text_set, words

__all__ = [
    "EATDefinition",
    "battery",
    "battery_table",
    "definitions",
    "image_set",
    "image_set_names",
]


@dataclass(frozen=True)
class EATDefinition:
    """One of the eight definitions: a category, its SEAT text test and the four stimulus roles
    per modality (names of stimulus sets)."""

    category: str
    image_test: str
    text_test: str
    text_x: str
    text_y: str
    image_x: str
    image_y: str


@dataclass(frozen=True)
class _Row:
    test: str
    category: str
    order: str
    text_test: str | None
    x: str
    y: str
    a: str
    b: str


def definitions() -> list[EATDefinition]:
    """The eight test definitions, in the order of ``resources/battery.yaml``."""
    return [EATDefinition(category=t["category"], image_test=t["image_test"],
                           text_test=t["text_test"], text_x=t["text"]["x"], text_y=t["text"]["y"],
                           image_x=t["image"]["x"], image_y=t["image"]["y"])
            for t in load_resource("battery.yaml")["tests"]]


def _check(values: Sequence[str] | None, known: Sequence[str], what: str) -> None:
    if values is None:
        return
    if isinstance(values, str):
        raise TypeError(f"{what} must be a sequence of strings, not a single string")
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ValueError(f"unknown {what} {unknown}; known: {list(dict.fromkeys(known))}")


def _rows(orders: Sequence[str] | None, categories: Sequence[str] | None) -> list[_Row]:
    """The deduplicated runs, ordered by modality order then definition."""
    defs = definitions()
    _check(orders, ORDERS, "orders")
    _check(categories, [d.category for d in defs], "categories")
    attrs = load_resource("battery.yaml")["attributes"]
    rows: list[_Row] = []
    for order in ORDERS:
        if orders is not None and order not in orders:
            continue
        targets, attributes = order.split("-")
        seen: set[str] = set()
        for d in defs:
            if categories is not None and d.category not in categories:
                continue
            test = d.category if targets == "image" else f"{d.category}:{d.text_test}"
            if test in seen:
                continue
            seen.add(test)
            x, y = (d.image_x, d.image_y) if targets == "image" else (d.text_x, d.text_y)
            rows.append(_Row(test=test, category=d.category, order=order,
                             text_test=None if targets == "image" else d.text_test, x=x, y=y,
                             a=attrs[attributes]["a"], b=attrs[attributes]["b"]))
    return rows


def _image_sets() -> dict[str, dict]:
    return load_resource("stimuli", "image_sets.yaml")["sets"]


def image_set_names() -> list[str]:
    """Names of the image stimulus sets the battery uses, sorted."""
    return sorted(_image_sets())


def _size(name: str, modality: str) -> int | None:
    if modality == "text":
        entry = load_resource("stimuli", "text_sets.yaml")["sets"][name]
        family = load_resource("stimuli", "templates.yaml")["families"][entry["family"]]
        return len(words(name)) * len(family["templates"])
    entry = _image_sets()[name]
    return entry.get("n") or entry.get("expected_count")


def battery_table(*, orders: Sequence[str] | None = None,
                  categories: Sequence[str] | None = None) -> pd.DataFrame:
    """The battery's composition, without touching any image: one row per test with ``name``,
    ``test``, ``category``, ``order``, ``text_test`` (text-target orders), the set names ``x``,
    ``y``, ``a``, ``b``, their sizes ``n_x`` ... ``n_b`` (texts: expanded sentences; images: the
    published count, missing where unknown) and ``needs_images``."""
    records = []
    for r in _rows(orders, categories):
        targets, attributes = r.order.split("-")
        records.append({
            "name": f"{r.test}/{r.order}", "test": r.test, "category": r.category,
            "order": r.order, "text_test": r.text_test, "x": r.x, "y": r.y, "a": r.a, "b": r.b,
            "n_x": _size(r.x, targets), "n_y": _size(r.y, targets),
            "n_a": _size(r.a, attributes), "n_b": _size(r.b, attributes),
            "needs_images": "image" in (targets, attributes),
        })
    table = pd.DataFrame(records)
    for col in ("n_x", "n_y", "n_a", "n_b"):
        table[col] = table[col].astype("Int64")
    return table


def image_set(name: str, *, data_root: str | Path | None = None) -> StimulusSet:
    """Resolve an image stimulus set (see ``resources/stimuli/image_sets.yaml``) under the data
    root; raises :class:`~clipbias.data.adapters.DatasetNotFoundError` when its images are absent."""
    sets = _image_sets()
    if name not in sets:
        raise ValueError(f"unknown image stimulus set {name!r}; known sets: {sorted(sets)}")
    entry = sets[name]
    folder = get_source(entry["source"]).folder(data_root)
    if entry["source"] == "ieat":
        manifest = load_ieat(folder, folders=[entry["folder"]])
    else:
        manifest = load_oasis(folder, select="extremes", n=entry["n"])
        group = "pleasant" if entry["select"] == "highest" else "unpleasant"
        manifest = manifest.subset(manifest.table["valence_group"] == group)
    return StimulusSet(name=name, modality="image", items=tuple(manifest.table["image_path"]),
                       source=entry["citation"], licence=entry["licence"], root=folder)


def battery(*, data_root: str | Path | None = None, orders: Sequence[str] | None = None,
            categories: Sequence[str] | None = None, tests: Sequence[str] | None = None,
            skip_missing: bool = False) -> list[EATSpec]:
    """The battery as :class:`EATSpec` objects, with stimuli loaded.

    ``orders`` and ``categories`` select runs (default: all 26); ``tests`` selects by test name
    (e.g. ``"Race"``, ``"Race:SENT-WEAT3"``) or full name (``"Race/image-image"``). Image sets are
    resolved under ``data_root`` (default :func:`clipbias.paths.data_root`). When images are absent
    a :class:`~clipbias.data.adapters.DatasetNotFoundError` says what to fetch and how to run
    without them; with ``skip_missing=True`` those tests are dropped with a warning instead.
    Text-only selections (``orders=["text-text"]``) need no data at all.
    """
    rows = _rows(orders, categories)
    if tests is not None:
        _check(tests, [r.test for r in rows] + [f"{r.test}/{r.order}" for r in rows], "tests")
        rows = [r for r in rows if r.test in tests or f"{r.test}/{r.order}" in tests]
    cache: dict[str, StimulusSet] = {}

    def load(name: str, modality: str) -> StimulusSet:
        if name not in cache:
            cache[name] = text_set(name) if modality == "text" else image_set(name, data_root=data_root)
        return cache[name]

    specs, dropped = [], []
    for r in rows:
        targets, attributes = r.order.split("-")
        try:
            sets = [load(n, m) for n, m in ((r.x, targets), (r.y, targets), (r.a, attributes),
                                            (r.b, attributes))]
        except DatasetNotFoundError as err:
            if skip_missing:
                dropped.append(f"{r.test}/{r.order}")
                continue
            raise DatasetNotFoundError(
                err.dataset, err.missing, detail=err.detail,
                how=(f"{err.how}\nThe battery test {r.test}/{r.order} needs these images. To run "
                     "without them pass skip_missing=True, or select text-only tests with "
                     "orders=['text-text'].")) from err
        specs.append(EATSpec(test=r.test, category=r.category, order=r.order, x=sets[0], y=sets[1],
                             a=sets[2], b=sets[3]))
    if dropped:
        warnings.warn(f"battery: {len(dropped)} test(s) dropped because their images are absent: "
                      f"{dropped}", stacklevel=2)
    return specs
