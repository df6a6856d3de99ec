"""The synthetic zoo: ids, catalog rows, loading errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from clipbias.data.synthetic import PRETRAINING_DATASETS, planted_truth
from clipbias.interventions.train import missing_zoo_models, train_synthetic_zoo
from clipbias.zoo.schema import CATALOG_COLUMNS
from clipbias.zoo.synthetic import zoos
from clipbias.zoo.synthetic.architectures import TINY_CONFIGS
from clipbias.zoo.synthetic.catalog import synthetic_catalog
from clipbias.zoo.synthetic.checkpoints import read_metadata
from clipbias.zoo.synthetic.ids import UntrainedModelError, is_synthetic, load_synthetic
from clipbias.zoo.synthetic.zoos import ZOOS, ZooEntry, zoo_entries


@pytest.mark.parametrize("model_id,expected", [
    ("synthetic-vit-s/skew-l_s0", True),
    ("synthetic-rn-m/fair-s_s12", True),
    ("synthetic-vit-s/run-0123456789abcdef", True),
    ("synthetic-vit-s/laion2b_s0", False),
    ("ViT-B-32/openai", False),
    ("synthetic-vit-xl/skew-l_s0", False),
    ("synthetic-vit-s/run-0123", False),
])
def test_is_synthetic(model_id, expected):
    assert is_synthetic(model_id) is expected


def test_zoo_sizes_and_factors():
    default, ci = zoo_entries("default"), zoo_entries("ci")
    assert {e.arch for e in default} == set(TINY_CONFIGS)
    assert len({e.model_id for e in default}) == len(default)
    assert len({e.model_id for e in ci}) == len(ci) <= 12
    assert {e.model_id for e in ci} <= {e.model_id for e in default}
    assert {e.dataset for e in default} == set(PRETRAINING_DATASETS)
    with pytest.raises(ValueError, match="known"):
        zoo_entries("huge")


def test_default_zoo_replicates_half_of_its_cells():
    seeds: dict[tuple[str, str], set[int]] = {}
    for e in zoo_entries("default"):
        seeds.setdefault((e.arch, e.dataset), set()).add(e.seed)
    cells = {(a, d) for a in TINY_CONFIGS for d in PRETRAINING_DATASETS}
    assert set(seeds) == cells                                    # every cell, seed 0 included
    assert all(0 in s for s in seeds.values())
    replicated = [c for c, s in seeds.items() if len(s) >= 2]
    assert 2 * len(replicated) >= len(cells)
    # replicates reach every dataset family and both architecture families
    assert {PRETRAINING_DATASETS[d].family for _, d in replicated} == {"fair", "web", "skew"}
    assert {a.split("-")[1] for a, _ in replicated} == {"vit", "rn"}


def test_ci_zoo_design_identifies_the_zoo_regression(monkeypatch, tmp_path):
    """d ~ log_params + arch_family + dataset_family + log_dataset_size: every family at both
    sizes, two architecture sizes within one family, and a full-rank design."""
    monkeypatch.setenv("CLIPBIAS_CACHE", str(tmp_path))
    cat = synthetic_catalog("ci")
    sizes = cat.groupby("dataset_family")["dataset_size"].nunique()
    assert set(sizes.index) == {"fair", "web", "skew"} and (sizes == 2).all()
    per_family = cat.groupby("arch_family")["params_total"].nunique()
    assert per_family.max() >= 2 and len(per_family) == 2
    fam = cat["dataset_family"]
    design = np.column_stack([
        np.ones(len(cat)), np.log(cat["params_total"]), cat["arch_family"] == "ResNet",
        fam == "web", fam == "skew", np.log(cat["dataset_size"])]).astype(float)
    assert np.linalg.matrix_rank(design) == design.shape[1]
    # no factor is a function of another: size varies within every family and architecture,
    # architecture within every family
    assert (cat.groupby("arch")["dataset_size"].nunique() == 2).all()
    assert (cat.groupby("dataset_family")["arch"].nunique() >= 2).all()
    assert (cat.groupby("arch")["dataset_family"].nunique() == 3).all()


def test_planted_truth_describes_every_zoo_dataset():
    truth = planted_truth().set_index("dataset")
    for zoo in ZOOS:
        configs = [PRETRAINING_DATASETS[e.dataset].config for e in zoo_entries(zoo)]
        for e, config in zip(zoo_entries(zoo), configs, strict=True):
            assert truth.loc[e.dataset, "planted_association"] == config.association
            assert truth.loc[e.dataset, "size"] == config.size
            for g in range(config.n_groups):
                names = [config.concepts[c].name for c in config.stereotyped_concepts(g)]
                assert f"{config.groups[g].name}: {', '.join(names)}" in \
                    truth.loc[e.dataset, "stereotypes"]
        # one assignment for the whole zoo: every model shares one battery
        assert len({(c.concept_groups, c.group_contexts) for c in configs}) == 1


def test_catalog_has_the_shared_columns_and_nan_scores_when_untrained(monkeypatch, tmp_path):
    monkeypatch.setenv("CLIPBIAS_CACHE", str(tmp_path))  # an empty cache: nothing trained
    cat = synthetic_catalog("ci")
    assert tuple(cat.columns) == CATALOG_COLUMNS
    assert (cat["source"] == "synthetic").all()
    assert set(cat["arch_family"]) == {"ViT", "ResNet"}
    assert all(is_synthetic(m) for m in cat["model_id"])
    assert cat["params_total"].gt(cat["params_image"]).all()
    assert all(math.isnan(v) for v in cat["downstream_score"])


def test_untrained_model_names_the_training_function():
    with pytest.raises(FileNotFoundError, match="train_synthetic_zoo") as info:
        load_synthetic("synthetic-vit-s/fair-s_s99")
    assert isinstance(info.value, UntrainedModelError)
    with pytest.raises(ValueError, match="not a synthetic model id"):
        load_synthetic("ViT-B-32/openai")


@pytest.mark.slow
def test_parallel_training_gives_the_sequential_checkpoints(monkeypatch, tmp_path):
    pair = (ZooEntry("synthetic-vit-s", "fair-s", 0), ZooEntry("synthetic-vit-s", "fair-s", 1))
    monkeypatch.setitem(zoos.ZOOS, "pair", pair)
    digests = {}
    for workers in (2, 1):
        monkeypatch.setenv("CLIPBIAS_CACHE", str(tmp_path / f"workers-{workers}"))
        assert missing_zoo_models("pair") == list(pair)
        cat = train_synthetic_zoo("pair", progress=False, workers=workers)
        assert missing_zoo_models("pair") == []
        assert cat["downstream_score"].notna().all()
        digests[workers] = [read_metadata(e.key())["weights_sha256"] for e in pair]
    assert digests[2] == digests[1]
    assert digests[1][0] != digests[1][1]  # different seeds, different models


@pytest.mark.parametrize("arch", ["synthetic-vit-s", "synthetic-rn-s"])
def test_catalog_param_counts_match_open_clips_own_towers(arch, monkeypatch, tmp_path):
    """The one parameter count (zoo.params) against open_clip's own split of a tiny model: the
    custom-text CLIP keeps the text tower as ``model.text``, the image tower as ``model.visual``."""
    import open_clip
    import torch

    from clipbias.zoo.synthetic.architectures import register_tiny_configs

    monkeypatch.setenv("CLIPBIAS_CACHE", str(tmp_path))
    register_tiny_configs()
    row = synthetic_catalog("ci").set_index("arch").loc[arch].iloc[0]
    model = open_clip.create_model(arch, force_custom_text=True)

    def count(module: torch.nn.Module) -> float:
        return float(sum(p.numel() for p in module.parameters()))

    assert row["params_text"] == count(model.text)
    assert row["params_image"] == count(model.visual)
    assert row["params_total"] == count(model)  # text + image + the logit scale
    assert row["params_total"] == row["params_text"] + row["params_image"] + 1
