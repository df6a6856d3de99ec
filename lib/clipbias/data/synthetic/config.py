"""The synthetic world's vocabulary (groups, concepts, contexts) and its typed knobs.

A scene shows person-like figures on a background. Each figure belongs to a *group*, visible as
its body colour and head shape, and holds an occupation-like *concept* object, visible as the
object's shape and colour. The background is a *context* (colour and texture). The knobs of
:class:`WorldConfig` plant the associations a bias metric should recover:

- ``association``: ``P(concept | group) = (1 - s) * uniform(all concepts)
  + s * uniform(concepts stereotyped for the group)``, with ``s = association``. Concept ``i`` is
  stereotyped for group ``i mod n_groups``. ``s = 0`` is no bias, ``s = 1`` is total.
- ``group_imbalance``: ``P(group 0) = 1/n + imbalance * (1 - 1/n)``, the rest shared equally.
- ``context_correlation``: ``P(context | group g) = (1 - r) * uniform + r * [context = g]``.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field

__all__ = ["CONCEPTS", "CONTEXTS", "GROUPS", "Concept", "Context", "Group", "WorldConfig",
           "stereotyped_group"]


@dataclass(frozen=True)
class Group:
    """A visible group attribute of a figure."""

    name: str                       # word used in captions, e.g. "orange"
    colour: tuple[int, int, int]    # body colour (RGB)
    head: str                       # head shape: "circle", "square" or "diamond"


@dataclass(frozen=True)
class Concept:
    """An occupation-like concept, drawn as the object a figure holds."""

    name: str                       # word used in captions, e.g. "chef"
    shape: str                      # object shape, one of render.SHAPES
    colour: tuple[int, int, int]    # object colour (RGB)


@dataclass(frozen=True)
class Context:
    """A background context of a scene."""

    name: str                       # word used in captions, e.g. "kitchen"
    colour: tuple[int, int, int]    # base colour (RGB)
    texture: str                    # "checker", "horizon", "stripes" or "dots"
    accent: tuple[int, int, int]    # colour of the texture's second tone (RGB)


#: Groups, in order; worlds with ``n_groups = k`` use the first ``k``.
GROUPS: tuple[Group, ...] = (
    Group("orange", (235, 135, 35), "circle"),
    Group("teal", (25, 150, 150), "square"),
    Group("violet", (145, 70, 200), "diamond"),
)

#: Concepts, in order; concept ``i`` is stereotyped for group ``i mod n_groups``.
CONCEPTS: tuple[Concept, ...] = (
    Concept("chef", "circle", (215, 30, 30)),
    Concept("pilot", "triangle", (40, 60, 225)),
    Concept("farmer", "square", (40, 175, 45)),
    Concept("nurse", "plus", (250, 250, 250)),
    Concept("painter", "diamond", (245, 225, 30)),
    Concept("builder", "ring", (15, 15, 15)),
    Concept("doctor", "bar", (245, 120, 190)),
    Concept("teacher", "cross", (120, 70, 20)),
    Concept("baker", "ring", (245, 225, 30)),
    Concept("lawyer", "triangle", (250, 250, 250)),
    Concept("singer", "plus", (215, 30, 30)),
    Concept("dancer", "bar", (40, 175, 45)),
)

#: Background contexts, in order; context ``g`` is the one correlated with group ``g``.
CONTEXTS: tuple[Context, ...] = (
    Context("kitchen", (196, 184, 160), "checker", (170, 160, 140)),
    Context("park", (150, 185, 215), "horizon", (105, 145, 90)),
    Context("street", (125, 125, 132), "stripes", (100, 100, 108)),
    Context("beach", (220, 205, 160), "dots", (150, 190, 220)),
)


@dataclass(frozen=True)
class WorldConfig:
    """Knobs of a synthetic image-caption world (see the module docstring for the formulas)."""

    size: int = field(default=8000, metadata={
        "doc": "Number of image-caption pairs."})
    image_size: int = field(default=32, metadata={
        "doc": "Image side in pixels (square; a multiple of 16)."})
    n_groups: int = field(default=2, metadata={
        "doc": "Number of groups (2 or 3)."})
    n_concepts: int = field(default=8, metadata={
        "doc": "Number of concepts (a multiple of n_groups, at most 12)."})
    n_contexts: int = field(default=4, metadata={
        "doc": "Number of background contexts (at least n_groups, at most 4)."})
    association: float = field(default=0.5, metadata={
        "doc": "Planted group-concept association s in [0, 1]."})
    group_imbalance: float = field(default=0.0, metadata={
        "doc": "Over-representation of group 0 in [0, 1)."})
    context_correlation: float = field(default=0.0, metadata={
        "doc": "Planted group-context correlation r in [0, 1]."})
    figures_per_scene: int = field(default=1, metadata={
        "doc": "Figures drawn side by side in every scene (1 to 3)."})
    group_mention: float = field(default=0.5, metadata={
        "doc": "Probability that a caption names a figure's group."})
    context_mention: float = field(default=0.3, metadata={
        "doc": "Probability that a caption names the context."})
    caption_noise: float = field(default=0.0, metadata={
        "doc": "Probability that a caption names a wrong concept."})
    pixel_noise: float = field(default=6.0, metadata={
        "doc": "Standard deviation of Gaussian pixel noise (0-255 scale)."})

    def __post_init__(self) -> None:
        checks = [
            (self.size >= 1, f"size must be >= 1, got {self.size}"),
            (self.image_size >= 16 and self.image_size % 16 == 0,
             f"image_size must be a multiple of 16 and >= 16, got {self.image_size}"),
            (self.n_groups in (2, 3), f"n_groups must be 2 or 3, got {self.n_groups}"),
            (self.n_groups <= self.n_concepts <= len(CONCEPTS)
             and self.n_concepts % self.n_groups == 0,
             f"n_concepts must be a multiple of n_groups={self.n_groups} and at most "
             f"{len(CONCEPTS)}, got {self.n_concepts}"),
            (self.n_groups <= self.n_contexts <= len(CONTEXTS),
             f"n_contexts must be in [n_groups, {len(CONTEXTS)}], got {self.n_contexts}"),
            (0.0 <= self.association <= 1.0,
             f"association must be in [0, 1], got {self.association}"),
            (0.0 <= self.group_imbalance < 1.0,
             f"group_imbalance must be in [0, 1), got {self.group_imbalance}"),
            (0.0 <= self.context_correlation <= 1.0,
             f"context_correlation must be in [0, 1], got {self.context_correlation}"),
            (1 <= self.figures_per_scene <= 3,
             f"figures_per_scene must be 1, 2 or 3, got {self.figures_per_scene}"),
            (0.0 <= self.group_mention <= 1.0,
             f"group_mention must be in [0, 1], got {self.group_mention}"),
            (0.0 <= self.context_mention <= 1.0,
             f"context_mention must be in [0, 1], got {self.context_mention}"),
            (0.0 <= self.caption_noise <= 1.0,
             f"caption_noise must be in [0, 1], got {self.caption_noise}"),
            (self.pixel_noise >= 0.0, f"pixel_noise must be >= 0, got {self.pixel_noise}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(f"WorldConfig: {message}")

    @property
    def groups(self) -> tuple[Group, ...]:
        """The groups of this world."""
        return GROUPS[: self.n_groups]

    @property
    def concepts(self) -> tuple[Concept, ...]:
        """The concepts of this world."""
        return CONCEPTS[: self.n_concepts]

    @property
    def contexts(self) -> tuple[Context, ...]:
        """The contexts of this world."""
        return CONTEXTS[: self.n_contexts]

    def to_dict(self) -> dict:
        """The knobs as a plain dict (JSON-serialisable)."""
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        """Canonical JSON of the knobs (sorted keys): the world's identity for hashing."""
        return json.dumps(self.to_dict(), sort_keys=True)

    def replace(self, **changes) -> WorldConfig:
        """A copy with some knobs changed (validated again)."""
        return dataclasses.replace(self, **changes)


def stereotyped_group(concept: int, n_groups: int) -> int:
    """The group a concept is stereotyped for: ``concept mod n_groups``."""
    return concept % n_groups
