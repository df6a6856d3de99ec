"""Retrieval prompt sets of the debiasing and data-balancing studies (``resources/prompts/``).

- :func:`berg_prompts`: Berg et al. 2022's 11 templates x 29 concepts = 319 prompts, the bias
  queries of the MaxSkew/NDKL protocol (also Zhang et al. 2024's evaluation).
- :func:`occupations`: named lists: Chuang et al. 2023's 80 training and 20 test occupations,
  BendVLM's 25 stereotype queries, LTC's 10 FairFace concepts.
- :func:`attribute_prompts`: one text per group of a protected attribute (gender, race, age), for
  zero-shot attribute classification; :func:`spurious_prompts`: the gender spurious prompts of the
  projection debiasers.
- :func:`occupation_pairs`: the data-balancing study's association-bias pairs;
  :func:`representation_labels`: its representation-bias labels.

Every list names its source in the resource file; where a source was silent the file says which
choice is ours.
"""

from __future__ import annotations

import pandas as pd

from clipbias.data.word_lists import expand, load_resource

__all__ = [
    "attribute_prompts",
    "berg_prompts",
    "occupation_list_names",
    "occupation_pairs",
    "occupations",
    "representation_labels",
    "spurious_prompts",
]


def berg_prompts() -> pd.DataFrame:
    """The 319 bias prompts of Berg et al. 2022: columns ``template``, ``concept``, ``prompt``,
    concept-major (all 11 templates of the first concept, then the next)."""
    data = load_resource("prompts", "berg2022.yaml")
    templates, concepts = data["templates"], data["concepts"]
    return pd.DataFrame({
        "template": [t for _ in concepts for t in templates],
        "concept": [c for c in concepts for _ in templates],
        "prompt": list(expand(concepts, templates)),
    })


def occupation_list_names() -> list[str]:
    """Names of the shipped occupation and query lists, sorted."""
    return sorted(load_resource("prompts", "occupations.yaml")["lists"])


def occupations(name: str = "chuang2023-train") -> tuple[str, ...]:
    """A named occupation or query list (see :func:`occupation_list_names`)."""
    lists = load_resource("prompts", "occupations.yaml")["lists"]
    if name not in lists:
        raise ValueError(f"unknown occupation list {name!r}; known lists: {sorted(lists)}")
    return tuple(lists[name]["items"])


def occupation_pairs() -> tuple[tuple[str, str], ...]:
    """The five (first, second) occupation pairs of the data-balancing study's association bias:
    librarian/scientist, nurse/doctor, housekeeper/homeowner, receptionist/executive,
    secretary/manager."""
    return tuple((a, b) for a, b in load_resource("prompts", "occupations.yaml")["pairs"]["items"])


def _attribute(attribute: str) -> dict:
    attrs = load_resource("prompts", "attributes.yaml")["attributes"]
    if attribute not in attrs:
        raise ValueError(f"unknown attribute {attribute!r}; known attributes: {sorted(attrs)}")
    return attrs[attribute]


def attribute_prompts(attribute: str) -> dict[str, str]:
    """``{group label: prompt}`` for ``"gender"``, ``"race"`` (FairFace's 7 labels) or ``"age"``
    (FairFace's 9 bins), e.g. ``{"female": "a photo of a female person.", ...}``."""
    entry = _attribute(attribute)
    template = entry["templates"][0]
    return {group: expand([word], [template])[0] for group, word in entry["groups"].items()}


def spurious_prompts(attribute: str = "gender") -> tuple[str, ...]:
    """The spurious (attribute-naming) prompts a projection debiaser removes; gender only
    (Chuang et al. 2023's six prompts)."""
    entry = _attribute(attribute)
    if "spurious" not in entry:
        raise ValueError(f"no spurious prompts are shipped for {attribute!r}")
    return tuple(entry["spurious"])


def representation_labels() -> tuple[str, str]:
    """The two labels of the data-balancing study's representation bias (``"Male"``, ``"Female"``)."""
    first, second = load_resource("prompts", "attributes.yaml")["representation_labels"]["items"]
    return first, second
