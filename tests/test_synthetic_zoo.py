"""The synthetic zoo: ids, catalog rows, loading errors."""

from __future__ import annotations

import math

import pytest

from clipbias.interventions.train import missing_zoo_models, train_synthetic_zoo
from clipbias.zoo.schema import CATALOG_COLUMNS
from clipbias.zoo.synthetic import zoos
from clipbias.zoo.synthetic.architectures import TINY_CONFIGS
from clipbias.zoo.synthetic.catalog import synthetic_catalog
from clipbias.zoo.synthetic.checkpoints import read_metadata
from clipbias.zoo.synthetic.ids import UntrainedModelError, is_synthetic, load_synthetic
from clipbias.zoo.synthetic.zoos import ZooEntry, zoo_entries


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
    assert len(default) >= 24 and 6 <= len(ci) <= 8
    assert {e.arch for e in default} == set(TINY_CONFIGS)
    assert len({e.model_id for e in default}) == len(default)
    assert {e.model_id for e in ci} <= {e.model_id for e in default}
    with pytest.raises(ValueError, match="known"):
        zoo_entries("huge")


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
