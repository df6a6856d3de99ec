"""The synthetic zoo: ids, catalog rows, loading errors."""

from __future__ import annotations

import math

import pytest

from clipbias.zoo.schema import CATALOG_COLUMNS
from clipbias.zoo.tiny import (
    TINY_CONFIGS,
    UntrainedModelError,
    is_synthetic,
    load_synthetic,
    synthetic_catalog,
    zoo_entries,
)


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


def test_catalog_has_the_shared_columns_and_nan_scores_when_untrained():
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
