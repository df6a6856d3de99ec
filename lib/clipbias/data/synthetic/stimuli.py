"""Embedding association tests of the synthetic world, in all four modality orders.

For every pair of groups ``(g, h)`` two tests, with the stereotype-congruent direction positive:

- ``Concept-<g>-<h>`` (category ``"Concept"``): targets are the concepts stereotyped for ``g``
  (X) and for ``h`` (Y); attributes are groups ``g`` (A) and ``h`` (B). Planted by
  ``association``.
- ``Context-<g>-<h>`` (category ``"Context"``): targets are the backgrounds correlated with ``g``
  (X) and ``h`` (Y); attributes as above. Planted by ``context_correlation``.

Image targets show figures of every group in equal numbers (so the group is balanced within X and
Y); image attributes show one group with every concept and context in equal numbers. Text stimuli
use the caption vocabulary ("a photo of a chef", "an orange person", "a photo of a park"); with
``config.synonyms = m`` every name contributes its ``m`` words (``captions.words``), so a text
set holds several distinct words per side, each in 4 phrasings. Which concepts and context go
with which group follows the config's assignment (``WorldConfig.concept_groups``).
"""

from __future__ import annotations

import numpy as np

from clipbias.data.stimulus import ORDERS, EATSpec, StimulusSet
from clipbias.data.synthetic.captions import article, words
from clipbias.data.synthetic.config import WorldConfig
from clipbias.data.synthetic.world import build_world, world_manifest

__all__ = ["eat_specs"]

_OPENINGS = ("a photo of {}", "{}", "a picture of {}", "an image of {}")


def _texts(phrases: list[str]) -> tuple[str, ...]:
    return tuple(o.format(f"{article(p)} {p}") for p in phrases for o in _OPENINGS)


def _image_truth(config: WorldConfig, n: int, *, concepts: list[int] | None = None,
                 groups: list[int] | None = None, contexts: list[int] | None = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ground truth for ``n`` images cycling through the given (or all) values of each factor,
    at coprime-ish strides so the factors are crossed evenly."""
    i = np.arange(n)
    pick = [concepts or list(range(config.n_concepts)), groups or list(range(config.n_groups)),
            contexts or list(range(config.n_contexts))]
    c = np.array(pick[0])[i % len(pick[0])]
    g = np.array(pick[1])[(i // len(pick[0])) % len(pick[1])]
    x = np.array(pick[2])[(i + i // (len(pick[0]) * len(pick[1]))) % len(pick[2])]
    return g[:, None], c[:, None], x


def eat_specs(config: WorldConfig, *, seed: int = 0, n_images: int = 24,
              orders: tuple[str, ...] = ORDERS) -> list[EATSpec]:
    """The synthetic battery for worlds like ``config``: one :class:`EATSpec` per test and order.

    ``n_images`` images per image set (written once as PNG files to a content-addressed cache
    folder); text sets hold 4 phrasings of each word (``config.synonyms`` words per name).
    Deterministic in ``seed``.
    """
    if n_images < 2:
        raise ValueError(f"n_images must be >= 2, got {n_images}")
    bad = [o for o in orders if o not in ORDERS]
    if bad:
        raise ValueError(f"unknown order(s) {bad}; known: {ORDERS}")
    k = config.n_groups
    image_sets: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    text_sets: dict[str, tuple[str, ...]] = {}
    for g in range(k):
        gname = config.groups[g].name
        own = list(config.stereotyped_concepts(g))
        place = config.group_contexts[g]
        image_sets[f"group:{gname}"] = _image_truth(config, n_images, groups=[g])
        image_sets[f"concepts:{gname}"] = _image_truth(config, n_images, concepts=own)
        image_sets[f"context:{gname}"] = _image_truth(config, n_images, contexts=[place])
        text_sets[f"group:{gname}"] = _texts([f"{w} person" for w in words(gname, config)])
        text_sets[f"concepts:{gname}"] = _texts([w for c in own
                                                 for w in words(config.concepts[c].name, config)])
        text_sets[f"context:{gname}"] = _texts(list(words(config.contexts[place].name, config)))
    names = list(image_sets)
    truth = [np.concatenate([image_sets[s][j] for s in names]) for j in range(3)]
    world = build_world(*truth, config=config.replace(size=len(truth[2]), figures_per_scene=1),
                        seed=seed, stream="stimuli")
    manifest = world_manifest(world)
    paths = manifest.table["image_path"].tolist()
    sets: dict[tuple[str, str], StimulusSet] = {}
    for j, name in enumerate(names):
        items = tuple(paths[j * n_images:(j + 1) * n_images])
        sets[(name, "image")] = StimulusSet(name, "image", items, source="synthetic world",
                                            licence="generated", root=manifest.root)
        sets[(name, "text")] = StimulusSet(name, "text", text_sets[name],
                                           source="synthetic world", licence="generated")
    specs = []
    for g in range(k):
        for h in range(g + 1, k):
            gn, hn = config.groups[g].name, config.groups[h].name
            for kind, category in (("concepts", "Concept"), ("context", "Context")):
                for order in orders:
                    tm, am = order.split("-")
                    specs.append(EATSpec(
                        test=f"{category}-{gn}-{hn}", category=category, order=order,
                        x=sets[(f"{kind}:{gn}", tm)], y=sets[(f"{kind}:{hn}", tm)],
                        a=sets[(f"group:{gn}", am)], b=sets[(f"group:{hn}", am)]))
    return specs
