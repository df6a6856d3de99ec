"""The synthetic world's vocabulary (groups, concepts, contexts) and its typed knobs.

A scene shows person-like figures on a background. Each figure belongs to a *group*, visible as
its body colour and head shape, and holds an occupation-like *concept* object, visible as the
object's shape and colour. The background is a *context* (colour and texture). The knobs of
:class:`WorldConfig` plant the associations a bias metric should recover:

- ``association``: ``P(concept | group) = (1 - s) * uniform(all concepts)
  + s * uniform(concepts stereotyped for the group)``, with ``s = association``. ``s = 0`` is no
  bias, ``s = 1`` is total.
- ``group_imbalance``: ``P(group 0) = 1/n + imbalance * (1 - 1/n)``, the rest shared equally.
- ``context_correlation``: ``P(context | group g) = (1 - r) * uniform + r * [context = c(g)]``.

Which concepts are stereotyped for which group, and which context ``c(g)`` goes with group ``g``,
is the *assignment*. With ``assignment_seed = None`` (the default) concept ``i`` is stereotyped
for group ``i mod n_groups`` and ``c(g) = g``; an integer seed draws a balanced assignment instead
(every group gets ``n_concepts / n_groups`` concepts and its own context), so a zoo can
counterbalance the appearance of concept objects against the groups' appearance (see
:mod:`clipbias.data.synthetic.confounds`). The assignment belongs to the data, never to a
training seed.

Scene kinds (all off by default, so default worlds are the ones of generator version 1):
``neutral_share`` of scenes show no figure, only the concept object(s) on the context (group
``-1``); ``object_free_share`` of figures hold no object and have no concept (concept ``-1``);
each remaining object is drawn with probability ``object_visibility`` (the figure keeps its
concept and its caption names it, so concept evidence in the image can be weak).

Knobs added after generator version 1 enter :meth:`WorldConfig.to_dict` (and so every cache key
derived from it) only when set away from their default: older worlds keep their identity.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import zlib
from dataclasses import dataclass, field

import numpy as np

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

#: Concepts, in order; by default concept ``i`` is stereotyped for group ``i mod n_groups``.
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

#: Background contexts, in order; by default context ``g`` is the one correlated with group ``g``.
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
    assignment_seed: int | None = field(default=None, metadata={
        "doc": "Seed of the concept-group and context-group assignment (None: concept i goes "
               "with group i mod n_groups, context g with group g)."})
    neutral_share: float = field(default=0.0, metadata={
        "doc": "Share of scenes with no figure, only the concept object(s) on the context."})
    object_free_share: float = field(default=0.0, metadata={
        "doc": "Probability that a figure holds no object and has no concept."})
    object_visibility: float = field(default=1.0, metadata={
        "doc": "Probability that a figure's concept object is drawn (its caption names it "
               "either way)."})
    synonyms: int = field(default=1, metadata={
        "doc": "Words per group, concept and context that captions draw from (1 to 3)."})

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
            (self.assignment_seed is None
             or (isinstance(self.assignment_seed, int | np.integer)
                 and not isinstance(self.assignment_seed, bool) and self.assignment_seed >= 0),
             f"assignment_seed must be None or an integer >= 0, got {self.assignment_seed!r}"),
            (0.0 <= self.neutral_share <= 1.0,
             f"neutral_share must be in [0, 1], got {self.neutral_share}"),
            (0.0 <= self.object_free_share <= 1.0,
             f"object_free_share must be in [0, 1], got {self.object_free_share}"),
            (0.0 <= self.object_visibility <= 1.0,
             f"object_visibility must be in [0, 1], got {self.object_visibility}"),
            (1 <= self.synonyms <= 3, f"synonyms must be 1, 2 or 3, got {self.synonyms}"),
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

    @property
    def concept_groups(self) -> tuple[int, ...]:
        """The group each concept is stereotyped for (one entry per concept), per the
        assignment."""
        return _assignment(self.assignment_seed, self.n_groups, self.n_concepts,
                           self.n_contexts)[0]

    @property
    def group_contexts(self) -> tuple[int, ...]:
        """The context ``c(g)`` correlated with each group (one entry per group), per the
        assignment."""
        return _assignment(self.assignment_seed, self.n_groups, self.n_concepts,
                           self.n_contexts)[1]

    def stereotyped_concepts(self, group: int) -> tuple[int, ...]:
        """The concepts stereotyped for ``group``, in increasing order."""
        if not 0 <= group < self.n_groups:
            raise ValueError(f"group must be in [0, {self.n_groups}), got {group}")
        return tuple(c for c, g in enumerate(self.concept_groups) if g == group)

    def to_dict(self) -> dict:
        """The knobs as a plain dict (JSON-serialisable). Knobs added after generator version 1
        appear only when set away from their default, so cache keys of older worlds hold."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if f.name in _V1_KNOBS or getattr(self, f.name) != f.default}

    def to_json(self) -> str:
        """Canonical JSON of the knobs (sorted keys): the world's identity for hashing."""
        return json.dumps(self.to_dict(), sort_keys=True)

    def replace(self, **changes) -> WorldConfig:
        """A copy with some knobs changed (validated again)."""
        return dataclasses.replace(self, **changes)


#: The knobs of generator version 1: always part of :meth:`WorldConfig.to_dict`.
_V1_KNOBS = frozenset({
    "size", "image_size", "n_groups", "n_concepts", "n_contexts", "association",
    "group_imbalance", "context_correlation", "figures_per_scene", "group_mention",
    "context_mention", "caption_noise", "pixel_noise"})


@functools.lru_cache(maxsize=64)
def _assignment(seed: int | None, n_groups: int, n_concepts: int, n_contexts: int
                ) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(group of each concept, context of each group). ``None``: ``i mod n_groups`` and ``g``.
    A seed draws a uniform random permutation ``p`` of the concepts and gives concept ``p[j]`` to
    group ``j mod n_groups`` (balanced), and the first ``n_groups`` contexts of another
    permutation to the groups in order."""
    if seed is None:
        return (tuple(i % n_groups for i in range(n_concepts)), tuple(range(n_groups)))
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), zlib.crc32(b"assignment")]))
    order = rng.permutation(n_concepts)
    groups = np.empty(n_concepts, dtype=np.int64)
    groups[order] = np.arange(n_concepts) % n_groups
    contexts = rng.permutation(n_contexts)[:n_groups]
    return tuple(int(g) for g in groups), tuple(int(x) for x in contexts)


def stereotyped_group(concept: int, *, config: WorldConfig) -> int:
    """The group concept ``concept`` is stereotyped for under ``config``'s assignment
    (``concept mod n_groups`` when ``assignment_seed`` is None)."""
    if not 0 <= concept < config.n_concepts:
        raise ValueError(f"concept must be in [0, {config.n_concepts}), got {concept}")
    return config.concept_groups[concept]
