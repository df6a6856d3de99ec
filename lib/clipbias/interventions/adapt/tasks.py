"""Synthetic downstream tasks: training worlds with a planted downstream-data bias and their
balanced test worlds.

A downstream task's label is the concept a figure holds. Its training world plants the
downstream-data bias ``b`` as the world's group-concept association (``P(concept | group) =
(1 - b) uniform + b uniform(stereotyped concepts)``, :mod:`clipbias.data.synthetic.config`) and
weakens the concept evidence in the images with ``object_visibility``: where the object is not
drawn, the group is the only cue left, so a model can take it as a shortcut. The test world is
exactly balanced (every group x concept x context cell equally often, nothing planted) with the
same visibility, so a bias measured on it comes from the model, not from the test data.
"""

from __future__ import annotations

import numpy as np

from clipbias.checks import check_int
from clipbias.data.synthetic import World, WorldConfig, build_world
from clipbias.data.synthetic.world import world_rng

__all__ = ["TASKS", "TASK_METRICS", "balanced_test_world", "downstream_config"]

#: Downstream tasks: concept classification (probe) and caption retrieval (projector).
TASKS: tuple[str, ...] = ("classification", "retrieval")

#: Bias metrics of each task (:mod:`clipbias.interventions.adapt.bias`).
TASK_METRICS: dict[str, tuple[str, ...]] = {
    "classification": ("error_gap",),
    "retrieval": ("recall_gap", "stereotype_skew"),
}


def downstream_config(base: WorldConfig, *, bias: float, visibility: float, size: int
                      ) -> WorldConfig:
    """Knobs of a downstream training world like ``base``: association ``bias``, object
    visibility ``visibility``, ``size`` pairs, clean captions, one figure per scene."""
    check_int(size, "size", low=2)
    return base.replace(size=size, association=bias, object_visibility=visibility,
                        caption_noise=0.0, figures_per_scene=1, group_imbalance=0.0)


def balanced_test_world(config: WorldConfig, *, per_cell: int, seed: int) -> World:
    """A balanced test world for tasks on worlds like ``config``: every (group, concept, context)
    cell ``per_cell`` times in a seeded order (stream ``"downstream-test"``), objects drawn with
    ``config.object_visibility``, nothing planted. ``n = per_cell * G * C * X`` scenes."""
    check_int(per_cell, "per_cell", low=1)
    g, c, x = np.meshgrid(np.arange(config.n_groups), np.arange(config.n_concepts),
                          np.arange(config.n_contexts), indexing="ij")
    g, c, x = (np.repeat(a.ravel(), per_cell) for a in (g, c, x))
    order = world_rng(seed, "downstream-test/order").permutation(g.shape[0])
    test = config.replace(size=g.shape[0], association=0.0, context_correlation=0.0,
                          group_imbalance=0.0, caption_noise=0.0, figures_per_scene=1)
    return build_world(g[order, None], c[order, None], x[order], config=test, seed=seed,
                       stream="downstream-test")
