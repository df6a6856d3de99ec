"""Perceptual confounds: how much a concept's object looks like a group's figure.

A concept object that shares colour or shape with a group's figure (the red circle of "chef" and
the circle heads of the orange group) gives an image encoder a route from concept to group that
does not go through co-occurrence: image-side association tests can then measure a "bias" at
planted association 0, and its sign follows the assignment. :func:`appearance_overlap` makes this
visible, one row per concept:

- colour: RGB distance ``||colour(concept) - colour(group)||_2`` to every group; the nearest
  group, and the *colour margin* ``mean_{h != own} d(h) - d(own)`` (positive: the object's colour
  is nearer the group it is stereotyped for than the other groups are);
- shape: intersection over union of the object's shape and each group's head shape, both drawn
  at the same half-size on a fine grid; the most overlapping group, and the *shape margin*
  ``IoU(own) - mean_{h != own} IoU(h)``.

:func:`confound_margins` averages the margins over concepts: near zero means the appearance of
objects is balanced against the assignment; an ``assignment_seed`` can be chosen to get there.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from clipbias.data.synthetic.config import WorldConfig
from clipbias.data.synthetic.render import shape_mask

__all__ = ["appearance_overlap", "confound_margins", "shape_iou"]

_GRID = 401  # grid points per side for shape overlaps (half-size 1 on [-1.5, 1.5])


def shape_iou(a: str, b: str, *, grid: int = _GRID) -> float:
    """Intersection over union of shapes ``a`` and ``b`` (names in
    :data:`~clipbias.data.synthetic.render.SHAPES`), both of half-size 1, centred, on a
    ``grid x grid`` lattice over ``[-1.5, 1.5]^2``: ``|A & B| / |A | B|``."""
    if grid < 11:
        raise ValueError(f"grid must be >= 11, got {grid}")
    axis = np.linspace(-1.5, 1.5, grid, dtype=np.float64)
    dy, dx = np.meshgrid(axis, axis, indexing="ij")
    r = np.ones_like(dx)
    ma, mb = shape_mask(a, dx, dy, r), shape_mask(b, dx, dy, r)
    return float((ma & mb).sum() / (ma | mb).sum())


def appearance_overlap(config: WorldConfig) -> pd.DataFrame:
    """One row per concept of ``config``: ``concept``, ``shape``, ``own_group`` (the group it is
    stereotyped for, per the assignment), ``nearest_colour_group``, ``colour_distance`` (to that
    group), ``own_colour_distance``, ``colour_margin``, ``nearest_shape_group`` (largest head
    IoU), ``shape_iou`` (that IoU), ``own_shape_iou``, ``shape_margin`` and ``confounded`` (the
    nearest group in colour or, with a positive IoU, in shape is the own group). Formulas in the
    module docstring."""
    groups = config.groups
    gcol = np.array([g.colour for g in groups], dtype=np.float64)           # (k, 3)
    ious = {(c.shape, g.head): shape_iou(c.shape, g.head)
            for c in config.concepts for g in groups}
    rows = []
    for i, c in enumerate(config.concepts):
        own = config.concept_groups[i]
        others = [h for h in range(len(groups)) if h != own]
        dist = np.sqrt(((gcol - np.array(c.colour, dtype=np.float64)) ** 2).sum(axis=1))
        iou = np.array([ious[(c.shape, g.head)] for g in groups])
        near_c, near_s = int(dist.argmin()), int(iou.argmax())
        rows.append({
            "concept": c.name, "shape": c.shape, "own_group": groups[own].name,
            "nearest_colour_group": groups[near_c].name, "colour_distance": float(dist[near_c]),
            "own_colour_distance": float(dist[own]),
            "colour_margin": float(dist[others].mean() - dist[own]),
            "nearest_shape_group": groups[near_s].name, "shape_iou": float(iou[near_s]),
            "own_shape_iou": float(iou[own]),
            "shape_margin": float(iou[own] - iou[others].mean()),
            "confounded": bool(near_c == own or (near_s == own and iou[near_s] > 0)),
        })
    return pd.DataFrame(rows)


def confound_margins(config: WorldConfig) -> dict[str, float]:
    """Mean ``colour_margin`` and ``shape_margin`` over the concepts of ``config`` (see
    :func:`appearance_overlap`), and the share of concepts flagged ``confounded``."""
    table = appearance_overlap(config)
    return {"colour_margin": float(table["colour_margin"].mean()),
            "shape_margin": float(table["shape_margin"].mean()),
            "confounded_share": float(table["confounded"].mean())}
