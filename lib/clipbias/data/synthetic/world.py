"""Generate a seeded synthetic world: ground truth, images, captions, and its manifest on disk.

``generate_world(config, seed=s)`` draws every item's ground truth from the knobs (formulas in
:mod:`clipbias.data.synthetic.config`), renders the images in memory and builds the captions. The
same (config, seed, stream) gives the same world bit for bit; ``stream`` names independent
draws from one seed (``"train"``, ``"benchmark"``, ``"stimuli"``, ...). :func:`world_manifest`
writes the images as PNG files into a content-addressed cache folder so the embedding engine
reads them like a real dataset.

Labels say what each scene shows: group ``-1`` is a slot with no figure (a neutral scene),
concept ``-1`` a figure that holds no object and has no concept, and ``object_shown`` false an
object not drawn although the figure has its concept (``object_visibility < 1``). The draws
behind these scene kinds come from their own streams (``"<stream>/scenes"``,
``"<stream>/visibility"``), so with the scene knobs at their defaults a world is the same, bit for
bit, as under generator version 1.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from clipbias.atomic import atomic_dir
from clipbias.data.manifest import Manifest, make_manifest
from clipbias.data.synthetic.captions import TEMPLATES, article, caption, swap_groups
from clipbias.data.synthetic.config import WorldConfig
from clipbias.data.synthetic.render import render_scenes
from clipbias.paths import cache_dir

__all__ = ["GENERATOR_VERSION", "World", "build_world", "generate_world", "world_manifest",
           "world_rng"]

#: Bumped whenever drawing or rendering changes, so cached folders and models are not reused.
GENERATOR_VERSION = "1"


def world_rng(seed: int, stream: str) -> np.random.Generator:
    """The generator of one (seed, stream) pair: independent streams from one integer seed."""
    if seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    return np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(stream.encode())]))


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.flags.writeable = False
    return a


@dataclass(frozen=True, eq=False)
class World:
    """A generated world: images ``(n, H, W, 3)`` uint8 and per-item ground truth.

    Per-figure arrays are ``(n, f)`` with figures left to right: ``groups``, ``concepts`` (what
    is drawn), ``caption_concepts`` (what the caption names; differs under caption noise),
    ``mention_group`` (bool), ``object_shown`` (bool: the object is drawn). Per-scene arrays are
    ``(n,)``: ``contexts``, ``templates``, ``mention_context``. ``boxes`` is ``(n, f, 4)`` pixel
    boxes ``[x0, y0, x1, y1]`` around what is drawn of each slot. Group ``-1``: no figure;
    concept ``-1``: no object and no concept (see the module docstring).
    """

    config: WorldConfig
    seed: int
    stream: str
    images: np.ndarray
    groups: np.ndarray
    concepts: np.ndarray
    caption_concepts: np.ndarray
    mention_group: np.ndarray
    contexts: np.ndarray
    mention_context: np.ndarray
    templates: np.ndarray
    boxes: np.ndarray
    object_shown: np.ndarray

    def __len__(self) -> int:
        return len(self.images)

    def digest(self) -> str:
        """SHA-256 (hex) of the generator version, knobs, seed, stream and ground truth
        (``object_shown`` follows from these, so it is not hashed)."""
        h = hashlib.sha256(json.dumps([GENERATOR_VERSION, self.config.to_json(), self.seed,
                                       self.stream]).encode())
        for a in (self.groups, self.concepts, self.caption_concepts, self.mention_group,
                  self.contexts, self.mention_context, self.templates):
            h.update(np.ascontiguousarray(a, dtype=np.int64).tobytes())
        return h.hexdigest()

    def captions(self, *, swapped: bool = False) -> list[str]:
        """Captions in item order; ``swapped=True`` names every figure's group swapped
        (``g -> (g + 1) mod n_groups``): the counterfactual captions of the same scenes."""
        groups = swap_groups(self.groups, n_groups=self.config.n_groups) if swapped else self.groups
        groups = np.where(self.groups >= 0, groups, -1)
        return [_caption(int(t), g, c, m, int(x), bool(mc), config=self.config)
                for t, g, c, m, x, mc in zip(self.templates, groups.tolist(),
                                             self.caption_concepts.tolist(),
                                             self.mention_group.tolist(), self.contexts,
                                             self.mention_context, strict=True)]

    def stereotyped(self) -> np.ndarray:
        """``(n, f)`` bool: whether each figure's concept is stereotyped for its group (false
        where the slot has no figure or the figure no concept)."""
        assigned = np.asarray(self.config.concept_groups)[np.maximum(self.concepts, 0)]
        return (self.groups >= 0) & (self.concepts >= 0) & (assigned == self.groups)

    def table(self) -> pd.DataFrame:
        """Ground truth as a manifest table (one row per item, first figure in flat columns).

        Columns: item_id, split (the stream), image_path, caption, group, concept, context (names
        of the first figure and the scene; ``"none"`` for id ``-1``), group_id, concept_id,
        context_id, stereotyped, object_shown (first figure), figure_groups, figure_concepts,
        figure_objects_shown, boxes (JSON lists over figures).
        """
        cfg = self.config
        n = len(self)
        # id -1 (no figure / no concept) indexes the trailing "none"
        gnames = np.array([g.name for g in cfg.groups] + ["none"], dtype=object)
        cnames = np.array([c.name for c in cfg.concepts] + ["none"], dtype=object)
        xnames = np.array([x.name for x in cfg.contexts], dtype=object)
        ids = [f"{self.stream}-{i:06d}" for i in range(n)]
        return pd.DataFrame({
            "item_id": ids,
            "split": [self.stream] * n,
            "image_path": [f"{i}.png" for i in ids],
            "caption": self.captions(),
            "group": gnames[self.groups[:, 0]].astype(str),
            "concept": cnames[self.concepts[:, 0]].astype(str),
            "context": xnames[self.contexts].astype(str),
            "group_id": self.groups[:, 0].astype(np.int64),
            "concept_id": self.concepts[:, 0].astype(np.int64),
            "context_id": self.contexts.astype(np.int64),
            "stereotyped": self.stereotyped()[:, 0],
            "object_shown": self.object_shown[:, 0],
            "figure_groups": [json.dumps(r) for r in self.groups.tolist()],
            "figure_concepts": [json.dumps(r) for r in self.concepts.tolist()],
            "figure_objects_shown": [json.dumps(r) for r in self.object_shown.tolist()],
            "boxes": [json.dumps(r) for r in self.boxes.tolist()],
        })


#: Template ids of the bare figure phrase, short and long form (used by :func:`_caption`).
_PHRASE = {TEMPLATES[t][1]: t for t in range(len(TEMPLATES)) if TEMPLATES[t][0] == "{figures}"}


def _caption(template: int, groups: list[int], concepts: list[int], mention_group: list[bool],
             context: int, mention_context: bool, *, config: WorldConfig) -> str:
    """:func:`~clipbias.data.synthetic.captions.caption`, extended to slots with no figure
    (group ``-1``: the object alone, ``"a chef"``) and figures with no concept (concept ``-1``:
    ``"an orange person"`` or ``"a person"``)."""
    if min(groups) >= 0 and min(concepts) >= 0:
        return caption(template, groups, concepts, mention_group, context, mention_context,
                       config=config)
    opening, long_form = TEMPLATES[template]
    phrases = []
    for g, c, m in zip(groups, concepts, mention_group, strict=True):
        if c < 0:
            words = f"{config.groups[g].name} person" if m else "person"
            phrases.append(f"{article(words)} {words}")
        else:  # a figure's phrase (caption of one figure, no opening), or the object's alone
            phrases.append(caption(_PHRASE[long_form and g >= 0], [max(g, 0)], [c], [m and g >= 0],
                                   0, False, config=config))
    head = opening.format(figures=phrases[0] if len(phrases) == 1
                          else ", ".join(phrases[:-1]) + " and " + phrases[-1])
    if not mention_context:
        return head
    place = caption(_PHRASE[False], [0], [0], [False], context, True, config=config)
    return head + place[place.rindex(" in "):]


def build_world(groups: np.ndarray, concepts: np.ndarray, contexts: np.ndarray, *,
                config: WorldConfig, seed: int, stream: str) -> World:
    """Render a world with the given ground truth (``groups``/``concepts`` ``(n, f)``, ``-1``
    for no figure / no object; ``contexts`` ``(n,)``); captions follow ``config``'s mention and
    noise knobs, objects are drawn with probability ``config.object_visibility``. A slot with
    no figure names no group; a figure with no concept keeps concept ``-1`` under caption
    noise."""
    rng = world_rng(seed, stream + "/render")
    groups = np.asarray(groups, dtype=np.int64)
    concepts = np.asarray(concepts, dtype=np.int64)
    n, f = groups.shape
    templates = rng.integers(0, len(TEMPLATES), size=n)
    mention_group = (rng.random((n, f)) < config.group_mention) & (groups >= 0)
    mention_context = rng.random(n) < config.context_mention
    noisy = (rng.random((n, f)) < config.caption_noise) & (concepts >= 0)
    shift = rng.integers(1, config.n_concepts, size=(n, f))
    caption_concepts = np.where(noisy, (concepts + shift) % config.n_concepts, concepts)
    shown = concepts >= 0
    if config.object_visibility < 1.0:
        visible = world_rng(seed, stream + "/visibility").random((n, f))
        shown &= visible < config.object_visibility
    images, boxes = render_scenes(groups, concepts, contexts, config=config, rng=rng,
                                  shown=shown)
    return World(config, seed, stream, _frozen(images), _frozen(groups), _frozen(concepts),
                 _frozen(caption_concepts), _frozen(mention_group),
                 _frozen(np.asarray(contexts, dtype=np.int64)), _frozen(mention_context),
                 _frozen(templates), _frozen(boxes), _frozen(shown))


def _sample_truth(config: WorldConfig, rng: np.random.Generator, scenes: np.random.Generator
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw groups ``(n, f)``, concepts ``(n, f)`` and contexts ``(n,)`` from the knobs;
    ``scenes`` draws the neutral scenes and object-free figures (their own stream)."""
    n, f, k = config.size, config.figures_per_scene, config.n_groups
    p0 = 1.0 / k + config.group_imbalance * (1.0 - 1.0 / k)
    p = np.array([p0] + [(1.0 - p0) / (k - 1)] * (k - 1))
    groups = rng.choice(k, size=(n, f), p=p)
    per_group = config.n_concepts // k
    own_concepts = np.array([config.stereotyped_concepts(g) for g in range(k)])  # (k, per_group)
    stereo = own_concepts[groups, rng.integers(0, per_group, size=(n, f))]
    uniform = rng.integers(0, config.n_concepts, size=(n, f))
    concepts = np.where(rng.random((n, f)) < config.association, stereo, uniform)
    own = rng.random(n) < config.context_correlation
    contexts = np.where(own, np.asarray(config.group_contexts)[groups[:, 0]],
                        rng.integers(0, config.n_contexts, size=n))
    if config.object_free_share > 0:
        concepts = np.where(scenes.random((n, f)) < config.object_free_share, -1, concepts)
    if config.neutral_share > 0:
        # no figure, so nothing to associate: concepts and contexts uniform
        neutral = scenes.random(n) < config.neutral_share
        groups = np.where(neutral[:, None], -1, groups)
        concepts = np.where(neutral[:, None], scenes.integers(0, config.n_concepts, size=(n, f)),
                            concepts)
        contexts = np.where(neutral, scenes.integers(0, config.n_contexts, size=n), contexts)
    return groups, concepts, contexts


@functools.lru_cache(maxsize=8)
def generate_world(config: WorldConfig, *, seed: int, stream: str = "train") -> World:
    """Draw and render the world of ``config`` for ``(seed, stream)``; deterministic, cached
    in memory (the returned arrays are read-only)."""
    groups, concepts, contexts = _sample_truth(config, world_rng(seed, stream),
                                               world_rng(seed, stream + "/scenes"))
    return build_world(groups, concepts, contexts, config=config, seed=seed, stream=stream)


def _png_bytes(image: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return buf.getvalue()


def world_manifest(world: World) -> Manifest:
    """Write the world's images as PNG files (once, atomically, into
    ``<cache>/synthetic/worlds/<digest>``) and return its manifest (root = that folder)."""
    folder = cache_dir("synthetic", "worlds") / world.digest()[:24]
    table = world.table()
    if not folder.is_dir():
        with atomic_dir(folder) as tmp:
            for name, image in zip(table["image_path"], world.images, strict=True):
                Path(tmp, name).write_bytes(_png_bytes(image))
    return make_manifest(table, root=folder, name=f"synthetic-{world.stream}",
                         metadata={"config": world.config.to_dict(), "seed": world.seed,
                                   "stream": world.stream, "digest": world.digest()})
