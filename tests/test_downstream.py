"""Downstream performance tables shipped as package data (clipbias.zoo.downstream)."""

from __future__ import annotations

import csv
import hashlib
from importlib import resources

import numpy as np
import pandas as pd
import pytest
import yaml

from clipbias.zoo.downstream import (
    DOWNSTREAM_COLUMNS,
    downstream_scores,
    openclip_results,
    vtab_plus_tasks,
)

#: The VTAB+ tasks the open_clip table lacks (the paper ran them itself).
MISSING = {"fer2013", "vtab/diabetic_retinopathy", "vtab/dmlab",
           "vtab/dsprites_label_orientation", "vtab/dsprites_label_x_position",
           "vtab/smallnorb_label_azimuth", "vtab/smallnorb_label_elevation"}
#: The table's columns of the 28 VTAB+ tasks it has, written out by hand.
PRESENT_COLUMNS = [
    "ImageNet 1k", "ImageNet v2", "ImageNet Sketch", "ImageNet-A", "ImageNet-R", "ObjectNet",
    "Pascal VOC 2007", "SUN397", "Stanford Cars", "FGVC Aircraft", "MNIST", "STL-10", "GTSRB",
    "Country211", "Rendered SST2", "Caltech-101", "CIFAR-10", "CIFAR-100", "CLEVR Counts",
    "CLEVR Distance", "Describable Textures", "EuroSAT", "KITTI Vehicle Distance",
    "Oxford Flowers-102", "Oxford-IIIT Pet", "PatchCamelyon", "RESISC45", "SVHN"]


def _resource(name: str) -> bytes:
    return resources.files("clipbias.zoo").joinpath(f"resources/{name}").read_bytes()


def test_shipped_table_matches_its_provenance_note():
    note = yaml.safe_load(_resource("openclip_results.provenance.yaml"))
    entry = note["openclip_results.csv"]
    assert entry["commit"].startswith("ebe135b2")
    assert hashlib.sha256(_resource("openclip_results.csv")).hexdigest() == entry["sha256"]


def test_results_table_shape():
    table = openclip_results()
    assert len(table) == 121
    assert table["model_id"].is_unique
    assert "ViT-B-32/openai" in set(table["model_id"])
    first = table.columns.get_loc("Average perf. on 38 datasets")
    assert len(table.columns) - first - 1 == 38


def test_vtab_plus_membership():
    tasks = vtab_plus_tasks()
    assert len(tasks) == 35 and tasks["dataset"].is_unique
    assert set(tasks.loc[~tasks["in_table"], "dataset"]) == MISSING
    assert sorted(tasks["table_column"].dropna()) == sorted(PRESENT_COLUMNS)
    assert set(tasks["type"]) == {"natural", "specialized", "structured"}
    types = dict(csv.reader(_resource("clip_benchmark_dataset_type.csv").decode().splitlines()))
    assert all(types[d] == t for d, t in zip(tasks["dataset"], tasks["type"], strict=True))


def _catalog(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["model_id", "source", "alias_of", "downstream_score"])


def test_vtab_plus_is_the_mean_of_the_present_tasks():
    reader = csv.DictReader(_resource("openclip_results.csv").decode().splitlines())
    row = next(r for r in reader if r["name"] == "ViT-B-32" and r["pretrained"] == "openai")
    expected = np.mean([float(row[c]) for c in PRESENT_COLUMNS])
    cat = _catalog([{"model_id": "ViT-B-32/openai", "source": "open_clip", "alias_of": None,
                     "downstream_score": np.nan}])
    out = downstream_scores(["ViT-B-32/openai"], cat)
    assert list(out.columns) == list(DOWNSTREAM_COLUMNS)
    assert out.at[0, "vtab_plus"] == pytest.approx(expected, abs=1e-12)
    assert out.at[0, "average_38"] == pytest.approx(float(row["Average perf. on 38 datasets"]))
    assert out.at[0, "n_vtab_tasks"] == 28


def test_alias_scaling_laws_synthetic_and_missing_rows():
    cat = _catalog([
        {"model_id": "ViT-B-32/openai", "source": "open_clip", "alias_of": None,
         "downstream_score": np.nan},
        {"model_id": "ViT-B-32-quickgelu/openai-twin", "source": "open_clip",
         "alias_of": "ViT-B-32/openai", "downstream_score": np.nan},
        {"model_id": "ViT-X/nowhere", "source": "open_clip", "alias_of": None,
         "downstream_score": np.nan},
        {"model_id": "ViT-B-32/cherti", "source": "scaling_laws", "alias_of": None,
         "downstream_score": 0.42},
        {"model_id": "synthetic-vit-s/fair-s_s0", "source": "synthetic", "alias_of": None,
         "downstream_score": 0.9},
    ])
    ids = ["ViT-X/nowhere", "ViT-B-32-quickgelu/openai-twin", "ViT-B-32/cherti",
           "synthetic-vit-s/fair-s_s0"]
    out = downstream_scores(ids, cat).set_index("model_id")
    assert list(out.index) == ids  # every model listed, in order, none dropped
    assert np.isnan(out.at["ViT-X/nowhere", "vtab_plus"])
    assert "not in open_clip" in out.at["ViT-X/nowhere", "missing_reason"]
    assert out.at["ViT-B-32-quickgelu/openai-twin", "matched_as"] == "ViT-B-32/openai"
    assert out.at["ViT-B-32/cherti", "vtab_plus"] == 0.42
    assert np.isnan(out.at["ViT-B-32/cherti", "average_38"])
    assert out.at["synthetic-vit-s/fair-s_s0", "average_38"] == 0.9


def test_bad_inputs():
    cat = _catalog([{"model_id": "ViT-B-32/openai", "source": "open_clip", "alias_of": None,
                     "downstream_score": np.nan}])
    with pytest.raises(ValueError, match="duplicates"):
        downstream_scores(["ViT-B-32/openai"] * 2, cat)
    with pytest.raises(ValueError, match="not in the catalog"):
        downstream_scores(["ViT-L-14/openai"], cat)
    with pytest.raises(ValueError, match="lacks the columns"):
        downstream_scores(["ViT-B-32/openai"], cat.drop(columns="alias_of"))
