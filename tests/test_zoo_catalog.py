"""The catalog: completeness against open_clip, alias marking, parameter counts from configs."""

from __future__ import annotations

import importlib
import json

import open_clip
import pandas as pd
import pytest

from clipbias.paths import cache_dir
from clipbias.zoo import CATALOG_COLUMNS, catalog, params
from clipbias.zoo.catalog import tag_training_stats


@pytest.fixture(scope="session")
def real_catalog() -> pd.DataFrame:
    """The catalog without synthetic rows or parameter counts (counting all configs is slow)."""
    return catalog(include_synthetic=False, params=False)


@pytest.fixture(scope="session")
def vit_counts() -> pd.DataFrame:
    """Parameter counts of a few configs, computed (and cached) once per test session."""
    return params.param_counts(["ViT-B-32", "ViT-L-14", "ViT-L-14-quickgelu"])


def test_columns_are_exactly_the_schema(real_catalog):
    assert tuple(real_catalog.columns) == CATALOG_COLUMNS
    assert real_catalog["model_id"].is_unique
    assert (real_catalog["model_id"] == real_catalog["arch"] + "/" + real_catalog["tag"]).all()


def test_every_open_clip_pair_is_present_and_no_extras(real_catalog):
    listed = {f"{arch}/{tag}" for arch, tag in open_clip.list_pretrained()}
    open_clip_rows = real_catalog[real_catalog["source"] == "open_clip"]
    assert set(open_clip_rows["model_id"]) == listed
    assert len(open_clip_rows) == len(listed)
    assert set(real_catalog["source"]) == {"open_clip", "scaling_laws"}
    assert (real_catalog["source"] == "scaling_laws").sum() == 29


def test_quickgelu_twins_are_marked_not_dropped(real_catalog):
    table = real_catalog.set_index("model_id")
    assert table.at["ViT-B-32-quickgelu/openai", "alias_of"] == "ViT-B-32/openai"
    assert pd.isna(table.at["ViT-B-32/openai", "alias_of"])
    assert table.at["RN50-quickgelu/cc12m", "alias_of"] == "RN50/cc12m"
    # the SigLIP 378 config reads the weights published under the 384 name
    assert table.at["ViT-SO400M-14-SigLIP-378/webli", "alias_of"] == (
        "ViT-SO400M-14-SigLIP-384/webli")
    # distinct weights are never aliases
    assert pd.isna(table.at["ViT-B-32/laion2b_e16", "alias_of"])


def test_alias_targets_are_canonical_rows(real_catalog):
    aliases = real_catalog.dropna(subset=["alias_of"])
    canonical = set(real_catalog.loc[real_catalog["alias_of"].isna(), "model_id"])
    assert len(aliases) > 30
    assert set(aliases["alias_of"]) <= canonical


def test_scaling_law_copies_point_to_open_clip_rows(real_catalog):
    table = real_catalog.set_index("model_id")
    assert table.at["ViT-H-14/scaling_laws_laion2b_s34b", "alias_of"] == (
        "ViT-H-14/laion2b_s32b_b79k")
    # "possible" copies are not marked
    assert pd.isna(table.at["ViT-B-32/scaling_laws_laion400m_s13b", "alias_of"])
    row = table.loc["ViT-g-14/scaling_laws_laion2b_s13b"]
    assert (row["samples_seen"], row["batch_size"]) == (13e9, 64e3)
    assert row["downstream_score"] == pytest.approx(0.5654)
    assert row["dataset_family"] == "laion"


def test_tag_training_stats():
    assert tag_training_stats("commonpool_m_clip_s128m_b4k") == (128e6, 4e3)
    assert tag_training_stats("laion2b_s29b_b131k_ft_soup") == (29e9, 131e3)
    seen, batch = tag_training_stats("laion400m_e32")
    assert pd.isna(seen) and pd.isna(batch)


def test_dataset_sizes_have_a_source(real_catalog):
    assert real_catalog["dataset_size_source"].notna().all()
    table = real_catalog.set_index("model_id")
    assert table.at["ViT-B-32/openai", "dataset_size"] == 4e8
    assert table.at["ViT-B-16/datacomp_l_s1b_b8k", "dataset_size"] == 1.4e8
    unknown = table[table["dataset_size"].isna()]
    assert unknown["dataset_size_source"].str.startswith("unknown").all()


def _hand_count_vit_clip(cfg: dict) -> int:
    """Parameters of an open_clip CLIP with ViT image and transformer text towers, by hand."""
    def blocks(width: int, layers: int) -> int:
        # ln_1, attention in/out projections with biases, ln_2, MLP (ratio 4) with biases
        return layers * (2 * width + 3 * width * width + 3 * width + width * width + width
                         + 2 * width + 4 * width * width + 4 * width + 4 * width * width + width)

    embed = cfg["embed_dim"]
    vis, txt = cfg["vision_cfg"], cfg["text_cfg"]
    w, patch = vis["width"], vis["patch_size"]
    tokens = (vis["image_size"] // patch) ** 2 + 1
    image = (3 * patch * patch * w + w + tokens * w + 2 * w + blocks(w, vis["layers"])
             + 2 * w + w * embed)
    t = txt["width"]
    text = (txt["vocab_size"] * t + txt["context_length"] * t + blocks(t, txt["layers"])
            + 2 * t + t * embed)
    return image, text, image + text + 1  # + logit_scale


def test_params_of_vit_b_32_match_a_hand_count(vit_counts, real_catalog):
    image, text, total = _hand_count_vit_clip(open_clip.get_model_config("ViT-B-32"))
    row = vit_counts.loc["ViT-B-32"]
    assert (row["params_image"], row["params_text"], row["params_total"]) == (image, text, total)
    assert total == 151_277_313
    facts = real_catalog.set_index("model_id").loc["ViT-B-32/openai"]
    assert (facts["image_size"], facts["embed_dim"]) == (224, 512)


def test_catalog_maps_counts_by_arch(monkeypatch):
    catalog_module = importlib.import_module("clipbias.zoo.catalog")  # the package re-exports

    def fake_counts(archs):
        archs = list(archs)
        return pd.DataFrame({"params_total": range(len(archs)), "params_image": 1.0,
                             "params_text": 2.0, "reason": None}, index=pd.Index(archs))

    monkeypatch.setattr(catalog_module, "param_counts", fake_counts)
    table = catalog(include_synthetic=False)
    archs = list(dict.fromkeys(table["arch"]))
    expected = table["arch"].map({a: float(i) for i, a in enumerate(archs)})
    assert table["params_total"].tolist() == expected.tolist()
    assert (table["params_text"] == 2.0).all()


def test_params_are_cached_as_json_and_reused(vit_counts, monkeypatch):
    files = list(cache_dir("zoo").glob(f"params-open_clip-{open_clip.__version__}.json"))
    assert len(files) == 1
    entry = json.loads(files[0].read_text())["ViT-B-32"]
    assert entry["params_total"] == 151_277_313

    def fail(arch):
        raise AssertionError(f"recounted {arch}")

    monkeypatch.setattr(params, "count_parameters", lambda arch: (
        fail(arch) if arch == "ViT-B-32" else params.count_parameters(arch)))
    again = params.param_counts(["ViT-B-32"])
    assert again.at["ViT-B-32", "params_total"] == 151_277_313


def test_hf_text_towers_get_nan_with_a_reason_not_a_crash():
    counts = params.param_counts(["roberta-ViT-B-32"])
    if pd.isna(counts.at["roberta-ViT-B-32", "params_total"]):
        assert "roberta" in counts.at["roberta-ViT-B-32", "reason"]
    else:  # transformers and the config are cached on this machine
        assert counts.at["roberta-ViT-B-32", "params_total"] > 1e8


def test_quickgelu_configs_share_counts(vit_counts):
    assert vit_counts.at["ViT-L-14-quickgelu", "params_total"] == (
        vit_counts.at["ViT-L-14", "params_total"])
    assert vit_counts.at["ViT-L-14", "params_total"] > vit_counts.at["ViT-B-32", "params_total"]


def test_synthetic_rows_are_appended_from_the_synthetic_zoo(real_catalog, monkeypatch):
    import importlib

    tables = importlib.import_module("clipbias.zoo.catalog")

    fake = real_catalog.iloc[:1].copy()
    fake["model_id"], fake["arch"], fake["source"] = "fake-arch/s0", "fake-arch", "synthetic"
    monkeypatch.setattr(tables, "synthetic_catalog", lambda: fake)
    full = catalog(include_synthetic=True, params=False)
    assert full["model_id"].iloc[-1] == "fake-arch/s0"
    assert len(full) == len(real_catalog) + 1
    monkeypatch.setattr(tables, "synthetic_catalog", lambda: fake.drop(columns="alias_of"))
    with pytest.raises(ValueError, match="alias_of"):
        catalog(include_synthetic=True, params=False)


def test_catalog_summary_counts_by_source(real_catalog):
    from clipbias.zoo import catalog_summary

    summary = catalog_summary(real_catalog)
    assert summary["open_clip"] == len(open_clip.list_pretrained())
    assert summary["scaling_laws"] == 29 and summary["synthetic"] == 0
    assert summary["unique"] + summary["aliases"] == len(real_catalog)
    assert summary["open_clip_unique"] < summary["open_clip"]
    assert summary["params_missing"] == len(real_catalog)  # the fixture skips counting
