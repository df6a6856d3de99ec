"""The shared evaluation set of the synthetic world and the studies' metric defaults, in one place.

Every study that evaluates synthetic models (zoo, global vs local, bias transfer, data balancing,
joint debiasing) draws its images from :func:`evaluation_set` and takes k, the prompt templates
and the set's size from :data:`EVAL_DEFAULTS`, so the chapters' numbers are comparable: the same
scenes, the same queries, the same cut-offs.

The set is held out and exactly balanced. Three kinds of scene, each of
``per_cell * G * C * X`` scenes for ``G`` groups, ``C`` concepts and ``X`` contexts:

- ``"figures"``: one figure per scene; every (group, concept, context) cell ``per_cell`` times;
  objects always drawn. Nothing is planted, so group and concept are independent by design.
- ``"neutral"``: no figure (group ``-1``); every (concept, context) cell ``per_cell * G`` times:
  the neutral images of representation bias.
- ``"object_free"``: figures holding no object (concept ``-1``); every (group, context) cell
  ``per_cell * C`` times: group images, as on face datasets, for association bias.

Scenes are rendered from their own random streams (``"evaluation-<kind>"`` of ``seed``), never a
training stream (``"train"``) or the training-time benchmark's (``"benchmark"``,
:mod:`clipbias.data.synthetic.benchmark`, which monitors zero-shot accuracy while a model trains
and is random rather than exactly balanced). Items are shuffled (a seeded permutation) so that
ties in a top-k never favour the first cell.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

from clipbias.data.synthetic.config import WorldConfig
from clipbias.data.synthetic.world import World, build_world, world_rng

__all__ = ["EVAL_DEFAULTS", "EVAL_KINDS", "EvalDefaults", "evaluation_config", "evaluation_set",
           "evaluation_size"]

#: The scene kinds of the evaluation set.
EVAL_KINDS: tuple[str, ...] = ("figures", "neutral", "object_free")


@dataclass(frozen=True)
class EvalDefaults:
    """Metric defaults shared by the studies on the synthetic world (read them from
    :data:`EVAL_DEFAULTS`; a study may expose them as parameters, with these defaults)."""

    per_cell: int = field(default=20, metadata={
        "doc": "Scenes per (group, concept, context) cell: 1280 scenes per kind in the default "
               "world (2 groups x 8 concepts x 4 contexts)."})
    k: int = field(default=100, metadata={
        "doc": "k of MaxSkew@k and NDKL@k: about 8% of the set, as 1000 of FairFace's 10954 "
               "validation images in Berg et al. (2022)."})
    recall_k: int = field(default=5, metadata={
        "doc": "k of recall@k (image-text retrieval), as recall@5 in Alabdulmohsin et al. (2024)."})
    templates: tuple[str, ...] = field(default=(
        "a photo of {}", "a picture of {}", "an image of {}", "{}"), metadata={
        "doc": "Prompt templates of concept and group queries (the captions' openings); a query "
               "is averaged over them or, with one template, uses the first."})
    seed: int = field(default=0, metadata={
        "doc": "Seed of the evaluation set (a study passes its own seed_for('evaluation'))."})

    def __post_init__(self) -> None:
        if self.per_cell < 1:
            raise ValueError(f"EvalDefaults: per_cell must be >= 1, got {self.per_cell}")
        if self.k < 1 or self.recall_k < 1:
            raise ValueError(f"EvalDefaults: k and recall_k must be >= 1, got {self.k}, "
                             f"{self.recall_k}")
        if not self.templates or any("{}" not in t for t in self.templates):
            raise ValueError("EvalDefaults: templates must be non-empty, each with one '{}'")


#: The defaults every study uses.
EVAL_DEFAULTS = EvalDefaults()


def evaluation_config(config: WorldConfig, *, size: int) -> WorldConfig:
    """The knobs of the evaluation set of worlds like ``config``: its vocabulary, image size,
    assignment, caption mention rates, words and pixel noise; nothing planted (association,
    imbalance, context correlation 0), one figure per scene, clean captions, objects visible,
    no neutral or object-free scenes drawn at random (the kinds are laid out exactly)."""
    return config.replace(size=size, association=0.0, group_imbalance=0.0,
                          context_correlation=0.0, figures_per_scene=1, caption_noise=0.0,
                          neutral_share=0.0, object_free_share=0.0, object_visibility=1.0)


def evaluation_size(config: WorldConfig, *, per_cell: int = EVAL_DEFAULTS.per_cell) -> int:
    """Scenes in one kind of the evaluation set of worlds like ``config``: ``per_cell * G * C * X``
    (every kind has the same size).

    >>> evaluation_size(WorldConfig(), per_cell=20)
    1280
    """
    return per_cell * config.n_groups * config.n_concepts * config.n_contexts


def _cells(kind: str, config: WorldConfig, per_cell: int
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Groups ``(n, 1)``, concepts ``(n, 1)`` and contexts ``(n,)`` of one kind, cell by cell."""
    g_ids = np.arange(config.n_groups) if kind != "neutral" else np.array([-1])
    c_ids = np.arange(config.n_concepts) if kind != "object_free" else np.array([-1])
    reps = per_cell * (config.n_groups if kind == "neutral" else 1) \
        * (config.n_concepts if kind == "object_free" else 1)
    g, c, x = np.meshgrid(g_ids, c_ids, np.arange(config.n_contexts), indexing="ij")
    g, c, x = (np.repeat(a.ravel(), reps) for a in (g, c, x))
    return g[:, None], c[:, None], x


@functools.lru_cache(maxsize=6)
def evaluation_set(config: WorldConfig, *, kind: str = "figures",
                   per_cell: int = EVAL_DEFAULTS.per_cell, seed: int = EVAL_DEFAULTS.seed
                   ) -> World:
    """The balanced, held-out evaluation scenes of one ``kind`` (see :data:`EVAL_KINDS` and the
    module docstring) for worlds like ``config``.

    Returns a :class:`~clipbias.data.synthetic.world.World` of ``n = per_cell * G * C * X``
    scenes (stream ``"evaluation-<kind>"``): ``groups``/``concepts`` ``(n, 1)`` are the labels
    (``-1``: no figure / no object), ``contexts`` ``(n,)``. Deterministic in ``seed``; cached in
    memory (the arrays are read-only).
    """
    if kind not in EVAL_KINDS:
        raise ValueError(f"unknown evaluation kind {kind!r}; known: {EVAL_KINDS}")
    if per_cell < 1:
        raise ValueError(f"per_cell must be >= 1, got {per_cell}")
    groups, concepts, contexts = _cells(kind, config, per_cell)
    stream = f"evaluation-{kind}"
    order = world_rng(seed, stream + "/order").permutation(len(contexts))
    return build_world(groups[order], concepts[order], contexts[order],
                       config=evaluation_config(config, size=len(contexts)), seed=seed,
                       stream=stream)
