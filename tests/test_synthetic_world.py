"""The synthetic world: determinism, planted knobs, captions, manifests, stimuli, benchmark."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from clipbias.data.stimulus import ORDERS
from clipbias.data.synthetic import (
    PRETRAINING_DATASETS,
    WorldConfig,
    benchmark_world,
    build_world,
    eat_specs,
    generate_world,
    planted_truth,
    pretraining_dataset,
    world_manifest,
)

SMALL = WorldConfig(size=600)


def test_same_seed_same_world_bit_for_bit():
    generate_world.cache_clear()
    a = generate_world(SMALL, seed=3)
    generate_world.cache_clear()
    b = generate_world(SMALL, seed=3)
    assert a is not b
    assert a.images.tobytes() == b.images.tobytes()
    assert a.captions() == b.captions()
    assert a.digest() == b.digest()


def test_different_seeds_and_streams_differ():
    a, b = generate_world(SMALL, seed=0), generate_world(SMALL, seed=1)
    c = generate_world(SMALL, seed=0, stream="other")
    assert (a.images != b.images).mean() > 0.5
    assert (a.concepts != b.concepts).mean() > 0.5
    assert a.digest() != b.digest() != c.digest()
    assert (a.images != c.images).mean() > 0.5


def test_images_are_uint8_and_read_only():
    w = generate_world(SMALL, seed=0)
    assert w.images.shape == (600, 32, 32, 3) and w.images.dtype == np.uint8
    with pytest.raises(ValueError):
        w.images[0, 0, 0, 0] = 1


@pytest.mark.parametrize("s", [0.0, 0.5, 1.0])
def test_planted_association_matches_formula(s):
    # P(stereotyped) = s + (1 - s) / n_groups for 2 groups and 8 concepts
    w = generate_world(WorldConfig(size=6000, association=s), seed=0)
    rate = w.stereotyped().mean()
    assert abs(rate - (s + (1 - s) / 2)) < 0.02


def test_group_imbalance_and_context_correlation():
    w = generate_world(WorldConfig(size=6000, group_imbalance=0.6, context_correlation=0.8),
                       seed=0)
    assert abs((w.groups[:, 0] == 0).mean() - 0.8) < 0.02
    own = (w.contexts == w.groups[:, 0]).mean()
    assert abs(own - (0.8 + 0.2 / 4)) < 0.02


def test_captions_name_concept_and_group_at_the_set_rate():
    cfg = WorldConfig(size=3000, group_mention=0.3, caption_noise=0.0)
    w = generate_world(cfg, seed=0)
    caps = w.captions()
    names = [c.name for c in cfg.concepts]
    assert all(names[c] in cap for c, cap in zip(w.concepts[:, 0], caps, strict=True))
    with_group = np.mean([("orange" in cap) or ("teal" in cap) for cap in caps])
    assert abs(with_group - 0.3) < 0.03


def test_caption_noise_names_wrong_concepts():
    w = generate_world(WorldConfig(size=3000, caption_noise=0.2), seed=0)
    wrong = (w.caption_concepts != w.concepts).mean()
    assert abs(wrong - 0.2) < 0.03


def test_swapped_captions_swap_only_groups():
    w = generate_world(WorldConfig(size=200, group_mention=1.0), seed=0)
    for orig, swapped in zip(w.captions(), w.captions(swapped=True), strict=True):
        back = swapped.replace("orange", "@").replace("teal", "orange").replace("@", "teal")
        assert back.replace("an teal", "a teal").replace("a orange", "an orange") == orig


def test_multi_figure_scenes_have_boxes_inside_the_image():
    cfg = WorldConfig(size=50, figures_per_scene=3, image_size=64)
    w = generate_world(cfg, seed=0)
    assert w.boxes.shape == (50, 3, 4)
    assert (w.boxes >= 0).all() and (w.boxes <= 64).all()
    assert (w.boxes[..., 2] > w.boxes[..., 0]).all()
    assert " and " in w.captions()[0]


@pytest.mark.parametrize("bad", [dict(association=1.5), dict(n_groups=4), dict(n_concepts=7),
                                 dict(image_size=40), dict(figures_per_scene=0),
                                 dict(group_imbalance=1.0)])
def test_bad_knobs_raise_naming_the_knob(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        WorldConfig(**bad)


def test_three_groups():
    w = generate_world(WorldConfig(size=3000, n_groups=3, n_concepts=9, association=1.0), seed=0)
    assert set(np.unique(w.groups)) == {0, 1, 2}
    assert w.stereotyped().all()


def test_manifest_png_files_equal_the_arrays():
    w = generate_world(WorldConfig(size=40), seed=5)
    m = world_manifest(w)
    assert m.missing_files().count == 0
    first = np.asarray(Image.open(m.image_paths()[7]))
    assert np.array_equal(first, w.images[7])
    row = m.table.iloc[7]
    assert row["group_id"] == w.groups[7, 0] and row["concept_id"] == w.concepts[7, 0]
    assert json.loads(row["boxes"]) == w.boxes[7].tolist()
    assert world_manifest(w).root == m.root  # content-addressed: same folder again


def test_build_world_rejects_out_of_range_truth():
    with pytest.raises(ValueError, match="concept ids"):
        build_world(np.zeros((2, 1), int), np.full((2, 1), 99), np.zeros(2, int),
                    config=SMALL, seed=0, stream="x")


def test_eat_specs_cover_all_orders_and_balance_groups():
    specs = eat_specs(SMALL, n_images=12)
    assert {s.order for s in specs} == set(ORDERS)
    assert {s.category for s in specs} == {"Concept", "Context"}
    spec = next(s for s in specs if s.test.startswith("Concept") and s.order == "image-image")
    assert len(spec.x) == 12 and all(p.is_file() for p in spec.x.paths())
    spec_t = next(s for s in specs if s.test.startswith("Concept") and s.order == "text-text")
    assert "a photo of a chef" in spec_t.x.items and "an orange person" in spec_t.a.items


def test_benchmark_is_neutral_and_held_out():
    cfg = WorldConfig(association=1.0, group_imbalance=0.5)
    bench = benchmark_world(cfg, size=2000)
    assert bench.config.association == 0.0 and bench.config.group_imbalance == 0.0
    assert abs(bench.stereotyped().mean() - 0.5) < 0.04
    train = generate_world(cfg.replace(size=2000), seed=0)
    assert not np.array_equal(bench.images[:10], train.images[:10])


def test_planted_truth_orders_families():
    table = planted_truth()
    assert set(table["dataset"]) == set(PRETRAINING_DATASETS)
    by_family = table.groupby("family")["planted_association"].mean()
    assert by_family["fair"] < by_family["web"] < by_family["skew"]
    with pytest.raises(ValueError, match="known"):
        pretraining_dataset("laion")
