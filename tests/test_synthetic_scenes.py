"""Scene kinds and the concept-group assignment of the synthetic world.

Neutral scenes (no figure), object-free figures, object visibility and ``assignment_seed``; and
that with every new knob at its default a world is the one generator version 1 drew.
"""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np
import pytest

from clipbias.data.synthetic import (
    CONCEPTS,
    GROUPS,
    WorldConfig,
    benchmark_world,
    build_world,
    generate_world,
    stereotyped_group,
)

#: Hashes of worlds drawn by the code before the scene knobs and the assignment existed
#: (commit baa8030): images, boxes, every ground-truth array and the captions.
V1_WORLDS = {
    "default": (dict(size=300), 0, "3697941cd3260019"),
    "multi": (dict(size=200, n_groups=3, n_concepts=12, figures_per_scene=3,
                   context_correlation=0.7, caption_noise=0.2, group_imbalance=0.3,
                   association=0.8), 5, "7bd24320653b843b"),
    "two": (dict(size=200, image_size=48, figures_per_scene=2, association=0.0), 2,
            "eeb799b4bd0e29fb"),
}
V1_KNOBS = {"size", "image_size", "n_groups", "n_concepts", "n_contexts", "association",
            "group_imbalance", "context_correlation", "figures_per_scene", "group_mention",
            "context_mention", "caption_noise", "pixel_noise"}


def _world_hash(w) -> str:
    h = hashlib.sha256()
    for a in (w.images, w.groups, w.concepts, w.caption_concepts, w.mention_group, w.contexts,
              w.mention_context, w.templates, w.boxes):
        h.update(np.ascontiguousarray(a).tobytes())
    h.update("\n".join(w.captions()).encode())
    return h.hexdigest()[:16]


def _near(images: np.ndarray, colours, radius: float) -> np.ndarray:
    """Per image: how many pixels lie within ``radius`` (RGB distance) of any of ``colours``."""
    px = images.astype(np.float32)[..., None, :]                     # (n, H, W, 1, 3)
    ref = np.asarray(colours, dtype=np.float32)                      # (m, 3)
    close = (np.sqrt(((px - ref) ** 2).sum(-1)) <= radius).any(-1)   # (n, H, W)
    return close.sum(axis=(1, 2))


OBJECT_COLOURS = [c.colour for c in CONCEPTS]
GROUP_COLOURS = [g.colour for g in GROUPS]


@pytest.mark.parametrize("name", sorted(V1_WORLDS))
def test_defaults_reproduce_generator_version_1_bit_for_bit(name):
    knobs, seed, expected = V1_WORLDS[name]
    generate_world.cache_clear()
    assert _world_hash(generate_world(WorldConfig(**knobs), seed=seed)) == expected


def test_benchmark_reproduces_generator_version_1():
    assert _world_hash(benchmark_world(WorldConfig(), size=200, seed=1)) == "516f979382a54ee1"


def test_new_knobs_enter_the_identity_only_when_set():
    assert set(WorldConfig().to_dict()) == V1_KNOBS
    for knobs in (dict(assignment_seed=0), dict(neutral_share=0.2),
                  dict(object_free_share=0.1), dict(object_visibility=0.5)):
        cfg = WorldConfig(**knobs)
        assert set(cfg.to_dict()) == V1_KNOBS | set(knobs)
        assert cfg.to_json() != WorldConfig().to_json()
        assert generate_world(cfg.replace(size=20), seed=0).digest() != \
            generate_world(WorldConfig(size=20), seed=0).digest()


def test_every_knob_has_a_one_line_doc():
    for f in dataclasses.fields(WorldConfig):
        doc = f.metadata.get("doc", "")
        assert doc and "\n" not in doc, f.name


@pytest.mark.parametrize("bad", [dict(assignment_seed=-1), dict(assignment_seed=1.5),
                                 dict(neutral_share=1.2), dict(object_free_share=-0.1),
                                 dict(object_visibility=2.0)])
def test_bad_scene_knobs_raise_naming_the_knob(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        WorldConfig(**bad)


# --- assignment -----------------------------------------------------------------------------

def test_default_assignment_is_concept_mod_groups_and_context_g():
    for k, n in ((2, 8), (3, 9), (3, 12)):
        cfg = WorldConfig(n_groups=k, n_concepts=n)
        assert cfg.concept_groups == tuple(i % k for i in range(n))
        assert cfg.group_contexts == tuple(range(k))
        assert [stereotyped_group(i, config=cfg) for i in range(n)] == [i % k for i in range(n)]


def test_assignment_seed_draws_a_balanced_reproducible_assignment():
    seen = set()
    for seed in range(6):
        cfg = WorldConfig(n_groups=3, n_concepts=12, assignment_seed=seed)
        again = WorldConfig(n_groups=3, n_concepts=12, assignment_seed=seed)
        assert cfg.concept_groups == again.concept_groups
        assert cfg.group_contexts == again.group_contexts
        assert np.bincount(cfg.concept_groups, minlength=3).tolist() == [4, 4, 4]
        assert len(set(cfg.group_contexts)) == 3 and max(cfg.group_contexts) < cfg.n_contexts
        for g in range(3):
            assert all(cfg.concept_groups[c] == g for c in cfg.stereotyped_concepts(g))
        seen.add((cfg.concept_groups, cfg.group_contexts))
    assert len(seen) == 6  # different seeds, different assignments
    assert WorldConfig(n_groups=3, n_concepts=12).concept_groups not in {s[0] for s in seen}


def test_worlds_plant_the_drawn_assignment():
    cfg = WorldConfig(size=3000, association=1.0, context_correlation=1.0, assignment_seed=4)
    w = generate_world(cfg, seed=1)
    assigned = np.asarray(cfg.concept_groups)
    assert (assigned[w.concepts[:, 0]] == w.groups[:, 0]).all()
    assert (np.asarray(cfg.group_contexts)[w.groups[:, 0]] == w.contexts).all()
    assert w.stereotyped().all()
    # every stereotyped concept of a group occurs, about equally often
    for g in range(2):
        counts = np.bincount(w.concepts[w.groups[:, 0] == g, 0], minlength=8)
        own = list(cfg.stereotyped_concepts(g))
        assert (counts[own] > 0.2 * counts.sum()).all()
        assert counts[[c for c in range(8) if c not in own]].sum() == 0


@pytest.mark.parametrize("s", [0.0, 0.6])
def test_planted_association_rate_holds_under_any_assignment(s):
    w = generate_world(WorldConfig(size=6000, association=s, assignment_seed=2), seed=0)
    assert abs(w.stereotyped().mean() - (s + (1 - s) / 2)) < 0.02


# --- scene kinds ----------------------------------------------------------------------------

def test_neutral_scenes_have_no_figure_and_are_labelled_so():
    cfg = WorldConfig(size=400, neutral_share=0.4, pixel_noise=0.0)
    w = generate_world(cfg, seed=0)
    neutral = (w.groups == -1).all(axis=1)
    assert abs(neutral.mean() - 0.4) < 0.07
    assert ((w.groups == -1).any(axis=1) == neutral).all()       # whole scenes, not slots
    assert (w.concepts[neutral] >= 0).all() and w.object_shown[neutral].all()
    assert not w.mention_group[neutral].any() and not w.stereotyped()[neutral].any()
    near_group = _near(w.images, GROUP_COLOURS, 40.0)
    assert (near_group[neutral] == 0).all()                      # no figure pixel
    assert (near_group[~neutral] > 20).all()                     # control: figures are seen
    assert (_near(w.images[neutral], OBJECT_COLOURS, 30.0) > 5).all()  # the object is drawn
    caps = w.captions()
    names = [g.name for g in cfg.groups]
    for i in np.flatnonzero(neutral):
        assert not any(n in caps[i] for n in names) and "person" not in caps[i]
        assert cfg.concepts[w.concepts[i, 0]].name in caps[i]
    assert (w.table()["group"][neutral] == "none").all()


def test_object_free_figures_have_no_object_pixels():
    cfg = WorldConfig(size=300, object_free_share=1.0, pixel_noise=0.0)
    w = generate_world(cfg, seed=0)
    assert (w.concepts == -1).all() and not w.object_shown.any()
    assert (_near(w.images, OBJECT_COLOURS, 30.0) == 0).all()
    assert (_near(w.images, GROUP_COLOURS, 40.0) > 20).all()      # the figure is there
    with_objects = generate_world(cfg.replace(object_free_share=0.0), seed=0)
    assert (_near(with_objects.images, OBJECT_COLOURS, 30.0) > 5).all()  # control
    concept_names = [c.name for c in cfg.concepts]
    assert all("person" in c and not any(n in c for n in concept_names) for c in w.captions())
    assert (w.table()["concept"] == "none").all() and not w.stereotyped().any()


def test_object_free_share_is_per_figure():
    w = generate_world(WorldConfig(size=2000, figures_per_scene=2, object_free_share=0.3),
                       seed=0)
    free = w.concepts == -1
    assert abs(free.mean() - 0.3) < 0.03
    assert 0 < (free.sum(axis=1) == 1).mean() < 1                 # mixed scenes occur
    assert (w.caption_concepts[free] == -1).all()


def test_visibility_zero_hides_every_object_and_keeps_the_concepts():
    cfg = WorldConfig(size=300, object_visibility=0.0, pixel_noise=0.0, figures_per_scene=2)
    w = generate_world(cfg, seed=0)
    assert not w.object_shown.any() and (w.concepts >= 0).all()
    assert (_near(w.images, OBJECT_COLOURS, 30.0) == 0).all()
    caps = w.captions()
    assert all(cfg.concepts[c].name in cap for c, cap in zip(w.concepts[:, 0], caps, strict=True))


def test_visibility_draws_objects_at_its_rate():
    w = generate_world(WorldConfig(size=3000, object_visibility=0.3, pixel_noise=0.0), seed=0)
    assert abs(w.object_shown.mean() - 0.3) < 0.03
    seen = _near(w.images, OBJECT_COLOURS, 30.0) > 5
    assert (seen == w.object_shown[:, 0]).mean() > 0.99


def test_hidden_parts_change_no_other_pixel():
    # same truth, same seed and stream: a hidden object or figure leaves the rest as it was
    cfg = WorldConfig(size=50, pixel_noise=0.0)
    g = np.zeros((50, 1), int)
    c = np.full((50, 1), 2)
    x = np.arange(50) % 4
    full = build_world(g, c, x, config=cfg, seed=0, stream="t")
    free = build_world(g, np.full((50, 1), -1), x, config=cfg, seed=0, stream="t")
    empty = build_world(np.full((50, 1), -1), np.full((50, 1), -1), x, config=cfg, seed=0,
                        stream="t")
    changed = (full.images != free.images).any(-1)
    assert changed.any(axis=(1, 2)).all()
    # the changed pixels are the object's (farmer green) in `full`, never the figure's
    obj = np.array(CONCEPTS[2].colour, dtype=float)
    assert (np.abs(full.images[changed] - obj).max(-1) <= 30).all()
    figure_pixels = (free.images != empty.images).any(-1)
    assert (np.abs(free.images[figure_pixels] - np.array(GROUPS[0].colour)).max(-1) <= 45).all()
    assert not (figure_pixels & changed).any()
    assert (empty.boxes == 0).all() and (free.boxes[..., 2] > free.boxes[..., 0]).all()
    assert (full.boxes[..., 2] > free.boxes[..., 2]).all()      # the object widens the box


def test_rejects_ids_below_minus_one():
    with pytest.raises(ValueError, match="group ids"):
        build_world(np.full((2, 1), -2), np.zeros((2, 1), int), np.zeros(2, int),
                    config=WorldConfig(size=2), seed=0, stream="x")


# --- perceptual confounds -------------------------------------------------------------------

def test_shape_iou_matches_areas_computed_by_hand():
    from clipbias.data.synthetic.confounds import shape_iou

    assert shape_iou("circle", "circle") == 1.0
    assert abs(shape_iou("circle", "square") - np.pi / 4) < 0.01    # circle inside the square
    assert abs(shape_iou("ring", "circle") - 0.75) < 0.01            # ring = circle minus r/2
    assert abs(shape_iou("square", "circle") - shape_iou("circle", "square")) < 1e-12
    with pytest.raises(ValueError, match="unknown shape"):
        shape_iou("blob", "circle")


def test_appearance_overlap_against_a_direct_computation():
    import math

    from clipbias.data.synthetic.confounds import appearance_overlap, confound_margins, shape_iou

    for cfg in (WorldConfig(), WorldConfig(n_groups=3, n_concepts=9, assignment_seed=1)):
        table = appearance_overlap(cfg)
        assert list(table["concept"]) == [c.name for c in cfg.concepts]
        for i, c in enumerate(cfg.concepts):
            row = table.iloc[i]
            d = [math.dist(c.colour, g.colour) for g in cfg.groups]
            own = cfg.concept_groups[i]
            rest = [d[h] for h in range(cfg.n_groups) if h != own]
            assert row["own_group"] == cfg.groups[own].name
            assert row["nearest_colour_group"] == cfg.groups[d.index(min(d))].name
            assert abs(row["colour_margin"] - (sum(rest) / len(rest) - d[own])) < 1e-9
            iou = [shape_iou(c.shape, g.head) for g in cfg.groups]
            rest = [iou[h] for h in range(cfg.n_groups) if h != own]
            assert abs(row["shape_margin"] - (iou[own] - sum(rest) / len(rest))) < 1e-12
        margins = confound_margins(cfg)
        assert abs(margins["colour_margin"] - table["colour_margin"].mean()) < 1e-9


def test_default_world_has_the_reported_confound():
    # chef is a red circle stereotyped for the orange group, whose heads are circles: flagged;
    # the default assignment puts objects nearer their own group in colour on average
    from clipbias.data.synthetic.confounds import appearance_overlap, confound_margins

    row = appearance_overlap(WorldConfig()).set_index("concept").loc["chef"]
    assert row["nearest_colour_group"] == "orange" and row["nearest_shape_group"] == "orange"
    assert row["own_shape_iou"] == 1.0 and row["confounded"]
    assert confound_margins(WorldConfig())["colour_margin"] > 30
    # an assignment drawn by seed flips the sign for some seeds: the confound is counterbalanced
    signs = {np.sign(confound_margins(WorldConfig(assignment_seed=s))["colour_margin"])
             for s in range(6)}
    assert signs == {-1.0, 1.0}


# --- the shared evaluation set --------------------------------------------------------------

@pytest.mark.parametrize("cfg", [WorldConfig(), WorldConfig(n_groups=3, n_concepts=6,
                                                            n_contexts=3, assignment_seed=2)])
def test_evaluation_set_is_exactly_balanced(cfg):
    from collections import Counter

    from clipbias.data.synthetic import evaluation_set

    k, c, x, per = cfg.n_groups, cfg.n_concepts, cfg.n_contexts, 3
    figures = evaluation_set(cfg, kind="figures", per_cell=per)
    assert len(figures) == per * k * c * x
    cells = Counter(zip(figures.groups[:, 0].tolist(), figures.concepts[:, 0].tolist(),
                        figures.contexts.tolist(), strict=True))
    assert len(cells) == k * c * x and set(cells.values()) == {per}
    assert figures.object_shown.all() and (figures.caption_concepts == figures.concepts).all()
    neutral = evaluation_set(cfg, kind="neutral", per_cell=per)
    assert len(neutral) == len(figures) and (neutral.groups == -1).all()
    cells = Counter(zip(neutral.concepts[:, 0].tolist(), neutral.contexts.tolist(), strict=True))
    assert len(cells) == c * x and set(cells.values()) == {per * k}
    free = evaluation_set(cfg, kind="object_free", per_cell=per)
    assert len(free) == len(figures) and (free.concepts == -1).all()
    cells = Counter(zip(free.groups[:, 0].tolist(), free.contexts.tolist(), strict=True))
    assert len(cells) == k * x and set(cells.values()) == {per * c}
    # shuffled: the first rows are not one cell
    assert len(set(figures.groups[:16, 0].tolist()) | set(figures.concepts[:16, 0].tolist())) > 2


def test_evaluation_set_is_held_out_and_seeded():
    from clipbias.data.synthetic import evaluation_set

    cfg = WorldConfig(size=1500, association=0.0)
    ev = evaluation_set(cfg, per_cell=4, seed=0)
    again = evaluation_set.__wrapped__(cfg, per_cell=4, seed=0)
    assert again.images.tobytes() == ev.images.tobytes() and again.digest() == ev.digest()
    other = evaluation_set(cfg, per_cell=4, seed=1)
    assert (other.images != ev.images).mean() > 0.5
    train = generate_world(cfg, seed=0)
    bench = benchmark_world(cfg, size=600, seed=0)
    held = {im.tobytes() for im in ev.images}
    assert held.isdisjoint(im.tobytes() for im in train.images)
    assert held.isdisjoint(im.tobytes() for im in bench.images)
    assert len({ev.stream, train.stream, bench.stream}) == 3
    # the evaluation set ignores the training world's planted knobs
    skewed = evaluation_set(cfg.replace(association=1.0, context_correlation=1.0,
                                        neutral_share=0.5, object_visibility=0.0),
                            per_cell=4, seed=0)
    assert skewed.images.tobytes() == ev.images.tobytes()


def test_evaluation_defaults_are_documented_and_validated():
    from clipbias.data.synthetic import EVAL_DEFAULTS, EvalDefaults, evaluation_set

    assert EVAL_DEFAULTS.k < EVAL_DEFAULTS.per_cell * 2 * 8 * 4       # k fits the default set
    assert all(f.metadata.get("doc") for f in dataclasses.fields(EvalDefaults))
    for bad in (dict(per_cell=0), dict(k=0), dict(templates=("no slot",)), dict(templates=())):
        with pytest.raises(ValueError, match="EvalDefaults"):
            EvalDefaults(**bad)
    with pytest.raises(ValueError, match="kind"):
        evaluation_set(WorldConfig(), kind="faces")


def test_training_benchmark_drops_the_scene_knobs():
    cfg = WorldConfig(neutral_share=0.5, object_free_share=0.5, object_visibility=0.0)
    bench = benchmark_world(cfg, size=100, seed=0)
    assert (bench.groups >= 0).all() and (bench.concepts >= 0).all() and bench.object_shown.all()
    plain = benchmark_world(WorldConfig(), size=100, seed=0)
    assert bench.images.tobytes() == plain.images.tobytes()
