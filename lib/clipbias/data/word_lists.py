"""Shipped word lists and sentence templates, loaded as :class:`StimulusSet` objects.

The word lists of the intrinsic-bias battery (Ghate et al. 2025) live in
``resources/stimuli/text_sets.yaml`` and their sentence templates in
``resources/stimuli/templates.yaml``; each set names its source and licence.

Template expansion: every text set is embedded in the sentence templates of its family, and
:func:`text_set` returns the **expanded** sentences (the stimuli an EAT embeds). Expansion is
word-major: all templates of the first word, then all of the second, and so on; a template holds
the placeholder ``{}`` exactly once (the one placeholder style of the
library; :func:`clipbias.embed.embed_texts` templates use it too). Counts per set: SEAT nouns 25 x 14 = 350 (our own templates,
see the family's provenance), names 8 templates (e.g. 32 x 8 = 256), group terms 15 x 13 = 195,
gender terms 8 x 10 = 80, NRC valence words 25 x 6 = 150.

>>> len(text_set("nrc/pleasant"))
150
>>> text_set("seat/young-names").items[0]
'This is Tiffany.'
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from clipbias.data.stimulus import StimulusSet

__all__ = [
    "PLACEHOLDER",
    "expand",
    "load_resource",
    "resource_path",
    "templates",
    "text_set",
    "text_set_names",
    "text_sets_table",
    "words",
]

#: The placeholder a template holds once; it is replaced by the stimulus word.
PLACEHOLDER = "{}"


def resource_path(*parts: str) -> Path:
    """Path of a file shipped under ``clipbias/data/resources/``."""
    return Path(str(resources.files("clipbias.data").joinpath("resources", *parts)))


@functools.lru_cache(maxsize=64)
def _read_resource(relative: str) -> Any:
    path = resource_path(*relative.split("/"))
    if not path.is_file():
        raise FileNotFoundError(f"clipbias resource {relative!r} is missing from the package "
                                f"(looked at {path}); reinstall clipbias")
    text = path.read_text(encoding="utf-8")
    return json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)


def load_resource(*parts: str) -> Any:
    """Parsed content of a shipped YAML or JSON resource (a fresh copy the caller may change)."""
    return copy.deepcopy(_read_resource("/".join(parts)))


def _sets() -> dict[str, dict]:
    return load_resource("stimuli", "text_sets.yaml")["sets"]


def _families() -> dict[str, dict]:
    return load_resource("stimuli", "templates.yaml")["families"]


def _entry(name: str) -> dict:
    sets = _sets()
    if name not in sets:
        raise ValueError(f"unknown text stimulus set {name!r}; known sets: {sorted(sets)}")
    return sets[name]


def text_set_names() -> list[str]:
    """Names of the shipped text stimulus sets, sorted."""
    return sorted(_sets())


def templates(family: str) -> tuple[str, ...]:
    """The sentence templates of a template family (``noun``, ``name``, ``valence_word``, ...)."""
    families = _families()
    if family not in families:
        raise ValueError(f"unknown template family {family!r}; known families: {sorted(families)}")
    return tuple(families[family]["templates"])


def expand(words: Sequence[str], templates: Sequence[str]) -> tuple[str, ...]:
    """Embed every word in every template, word-major (``len(words) * len(templates)`` texts).

    >>> expand(["rose", "lily"], ["This is the {}.", "The {} is here."])
    ('This is the rose.', 'The rose is here.', 'This is the lily.', 'The lily is here.')
    """
    if isinstance(words, str) or isinstance(templates, str):
        raise TypeError("words and templates must be sequences of strings, not a single string")
    for template in templates:
        if template.count(PLACEHOLDER) != 1:
            raise ValueError(f"template {template!r} must contain {PLACEHOLDER!r} exactly once")
    return tuple(t.replace(PLACEHOLDER, w) for w in words for t in templates)


def words(name: str) -> tuple[str, ...]:
    """The raw words of a text stimulus set, before template expansion."""
    return tuple(_entry(name)["words"])


def text_set(name: str, *, expanded: bool = True) -> StimulusSet:
    """A shipped text stimulus set as a :class:`StimulusSet`.

    With ``expanded=True`` (the default, what the battery uses) the items are the sentences of
    :func:`expand`; with ``expanded=False`` they are the bare words.
    """
    entry = _entry(name)
    items = expand(entry["words"], templates(entry["family"])) if expanded else tuple(entry["words"])
    return StimulusSet(name=name, modality="text", items=items, source=entry["source"],
                       licence=entry["licence"])


def text_sets_table() -> pd.DataFrame:
    """One row per text set: name, test, template family, word and sentence counts, provenance."""
    families = _families()
    rows = []
    for name, entry in sorted(_sets().items()):
        family = families[entry["family"]]
        rows.append({
            "name": name, "test": entry["test"], "family": entry["family"],
            "n_words": len(entry["words"]), "n_templates": len(family["templates"]),
            "n_sentences": len(entry["words"]) * len(family["templates"]),
            "source": entry["source"], "licence": entry["licence"],
            "template_provenance": " ".join(family["provenance"].split()),
        })
    return pd.DataFrame(rows)
