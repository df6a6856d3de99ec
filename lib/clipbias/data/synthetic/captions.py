"""Caption templates of the synthetic world.

A caption names every figure's concept; it names a figure's group when that figure's
``mention_group`` flag is set and the scene's context when ``mention_context`` is set. Captions
are rebuilt from the ground-truth columns, so a counterfactual caption (the same scene with the
groups swapped) is the same call with other group ids.

With ``WorldConfig.synonyms = m > 1`` every group, concept and context is named by one of the
first ``m`` words of its entry in :data:`SYNONYMS` ("orange", "amber", "tangerine"). Which word is
used is a deterministic hash of the caption's ground truth (template, figures, context, the
figure's position and the role of the word), so each word names about ``1/m`` of the mentions.
The hash sees only those inputs (``World.captions`` passes no item index), so within one
(group, concept) cell the words' shares are fixed, not drawn; summed over a name's words every
cell is named exactly as with one word. The battery's text stimuli then hold
several distinct words per side, not phrasings of one word (see
:mod:`clipbias.data.synthetic.stimuli`).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np

from clipbias.data.synthetic.config import WorldConfig

__all__ = ["SYNONYMS", "TEMPLATES", "article", "caption", "concept_prompts", "group_prompts",
           "swap_groups", "words"]

#: Caption templates: an opening, and whether figures read "an orange chef" (short) or
#: "an orange person working as a chef" (long). An item's template id indexes this tuple.
TEMPLATES: tuple[tuple[str, bool], ...] = (
    ("a photo of {figures}", False), ("{figures}", False), ("a picture of {figures}", False),
    ("a photo of {figures}", True), ("{figures}", True), ("an image of {figures}", True),
)


#: Words for every group, concept and context name: the name itself first, then two synonyms
#: (none shared between two names). Group and context words are one token of the CLIP
#: tokenizer and concept words at most two, so a one-figure caption fits a 16-token context.
SYNONYMS: dict[str, tuple[str, str, str]] = {
    "orange": ("orange", "amber", "tangerine"),
    "teal": ("teal", "aqua", "turquoise"),
    "violet": ("violet", "purple", "lilac"),
    "chef": ("chef", "cook", "caterer"),
    "pilot": ("pilot", "aviator", "airman"),
    "farmer": ("farmer", "rancher", "grower"),
    "nurse": ("nurse", "carer", "midwife"),
    "painter": ("painter", "artist", "illustrator"),
    "builder": ("builder", "mason", "bricklayer"),
    "doctor": ("doctor", "physician", "surgeon"),
    "teacher": ("teacher", "tutor", "lecturer"),
    "baker": ("baker", "breadmaker", "patissier"),
    "lawyer": ("lawyer", "attorney", "solicitor"),
    "singer": ("singer", "vocalist", "soprano"),
    "dancer": ("dancer", "ballerina", "choreographer"),
    "kitchen": ("kitchen", "galley", "canteen"),
    "park": ("park", "garden", "meadow"),
    "street": ("street", "road", "avenue"),
    "beach": ("beach", "shore", "seaside"),
}


def words(name: str, config: WorldConfig) -> tuple[str, ...]:
    """The words that name ``name`` in worlds like ``config``: the first ``config.synonyms`` of
    :data:`SYNONYMS` (just ``(name,)`` when ``synonyms`` is 1)."""
    if config.synonyms == 1:
        return (name,)
    if name not in SYNONYMS:
        raise ValueError(f"no synonyms for {name!r}; add them to captions.SYNONYMS")
    return SYNONYMS[name][: config.synonyms]


def _pick(name: str, config: WorldConfig, key: str) -> str:
    """One word for ``name``: ``words(name)[crc32(key) mod m]`` (deterministic, about uniform)."""
    options = words(name, config)
    return options[zlib.crc32(key.encode()) % len(options)] if len(options) > 1 else options[0]


def article(word: str) -> str:
    """``"an"`` before a vowel sound's letter, else ``"a"``."""
    return "an" if word[:1].lower() in "aeiou" else "a"


def _figure_phrase(group: str | None, concept: str, long_form: bool) -> str:
    """``"an orange chef"``, ``"a chef"``, ``"an orange person working as a chef"``, ..."""
    if long_form:
        words = f"{group} person" if group else "person"
        return f"{article(words)} {words} working as {article(concept)} {concept}"
    words = f"{group} {concept}" if group else concept
    return f"{article(words)} {words}"


def caption(template: int, groups: Sequence[int], concepts: Sequence[int],
            mention_group: Sequence[bool], context: int, mention_context: bool, *,
            config: WorldConfig) -> str:
    """One caption, e.g. ``"a photo of an orange chef and a pilot in a park"``."""
    names_g = [g.name for g in config.groups]
    names_c = [c.name for c in config.concepts]
    opening, long_form = TEMPLATES[template]
    scene = "|".join(map(str, [int(template), *map(int, groups), *map(int, concepts),
                               *map(int, mention_group), int(context), int(mention_context)]))
    phrases = [_figure_phrase(_pick(names_g[g], config, f"{scene}|g{i}") if m else None,
                              _pick(names_c[c], config, f"{scene}|c{i}"), long_form)
               for i, (g, c, m) in enumerate(zip(groups, concepts, mention_group, strict=True))]
    figures = phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + " and " + phrases[-1]
    text = opening.format(figures=figures)
    if mention_context:
        name = _pick(config.contexts[context].name, config, f"{scene}|x")
        text += f" in {article(name)} {name}"
    return text


def swap_groups(groups: np.ndarray, *, n_groups: int) -> np.ndarray:
    """Counterfactual group ids: ``g -> (g + 1) mod n_groups`` (a swap when there are two)."""
    return (np.asarray(groups) + 1) % n_groups


def concept_prompts(config: WorldConfig, *, template: str = "a photo of {}") -> list[str]:
    """Zero-shot class prompts, one per concept: ``"a photo of a chef"``, ..."""
    return [template.format(f"{article(c.name)} {c.name}") for c in config.concepts]


def group_prompts(config: WorldConfig, *, template: str = "a photo of {}") -> list[str]:
    """One prompt per group: ``"a photo of an orange person"``, ..."""
    return [template.format(f"{article(g.name)} {g.name} person") for g in config.groups]
