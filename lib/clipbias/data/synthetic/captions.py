"""Caption templates of the synthetic world.

A caption names every figure's concept; it names a figure's group when that figure's
``mention_group`` flag is set and the scene's context when ``mention_context`` is set. Captions
are rebuilt from the ground-truth columns, so a counterfactual caption (the same scene with the
groups swapped) is the same call with other group ids.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from clipbias.data.synthetic.config import WorldConfig

__all__ = ["TEMPLATES", "article", "caption", "concept_prompts", "group_prompts",
           "swap_groups"]

#: Caption templates: an opening, and whether figures read "an orange chef" (short) or
#: "an orange person working as a chef" (long). An item's template id indexes this tuple.
TEMPLATES: tuple[tuple[str, bool], ...] = (
    ("a photo of {figures}", False), ("{figures}", False), ("a picture of {figures}", False),
    ("a photo of {figures}", True), ("{figures}", True), ("an image of {figures}", True),
)


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
    phrases = [_figure_phrase(names_g[g] if m else None, names_c[c], long_form)
               for g, c, m in zip(groups, concepts, mention_group, strict=True)]
    figures = phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + " and " + phrases[-1]
    text = opening.format(figures=figures)
    if mention_context:
        name = config.contexts[context].name
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
