"""Named selections (paper_131, all_unique, ...) and validation of explicit model lists."""

from __future__ import annotations

import pytest

from clipbias.zoo import (
    SELECTIONS,
    UnknownModelError,
    catalog,
    paper_131_family_counts,
    paper_131_report,
    select,
)


@pytest.fixture(scope="module")
def paper() -> list[str]:
    return select("paper_131")


def test_paper_131_applies_the_papers_rules(paper):
    assert len(paper) == len(set(paper)) == 127  # 4 of the 131 cannot be identified
    assert sum(m.split("/")[1].startswith("scaling_laws_") for m in paper) == 29
    assert not any(m.endswith("_e31") for m in paper)
    assert "ViT-B-32/laion400m_e31" not in paper and "ViT-B-16/laion400m_e32" not in paper
    assert "RN50-quickgelu/openai" not in paper and "RN50/openai" in paper
    # metaclip weights were listed only under -quickgelu names in the paper's open_clip
    assert "ViT-B-32-quickgelu/metaclip_400m" in paper
    assert "ViT-B-32/metaclip_400m" not in paper
    assert "ViT-H-14/laion2b_s32b_b79k" not in paper  # open_clip copy of a scaling-law file
    assert "xlm-roberta-large-ViT-H-14/frozen_laion5b_s13b_b90k" in paper
    assert not any(m.startswith(("convnext_xxlarge", "MobileCLIP", "ViTamin")) for m in paper)


def test_paper_131_report_flags_uncertain_rows():
    report = paper_131_report()
    uncertain = set(report.loc[report["uncertain"], "model_id"])
    assert {"ViT-B-32/laion400m_e32", "ViT-L-14/laion400m_e32"} <= uncertain
    assert report["included"].sum() == 127
    assert report["rule"].str.startswith(("kept", "dropped", "added")).all()


def test_paper_131_family_counts_locate_the_missing_models():
    counts = paper_131_family_counts().set_index(["kind", "family"])
    differences = counts["difference"]
    assert (differences >= 0).all()
    assert differences.xs("arch_family").sum() == 131 - 127
    assert counts.at[("dataset_family", "laion"), "ours"] == 58


def test_all_unique_has_no_alias_and_all_has_every_real_row():
    table = catalog(include_synthetic=False, params=False).set_index("model_id")
    unique, everything = select("all_unique"), select("all")
    assert table.loc[unique, "alias_of"].isna().all()
    assert set(everything) == set(table.index)
    assert len(unique) < len(everything)
    assert select("scaling_laws") == [m for m in everything if "/scaling_laws_" in m]


def test_explicit_lists_keep_their_order():
    ids = ["ViT-B-16/openai", "RN50/cc12m"]
    assert select(ids) == ids
    assert select("RN50/cc12m") == ["RN50/cc12m"]


def test_unknown_ids_name_the_closest(monkeypatch):
    with pytest.raises(UnknownModelError, match="ViT-B-32/openai"):
        select(["ViT-B-32/openia"])
    with pytest.raises(ValueError, match="more than once"):
        select(["RN50/cc12m", "RN50/cc12m"])
    with pytest.raises(ValueError, match="unknown selection"):
        select("paper_132")
    assert "paper_131" in SELECTIONS


def test_synthetic_selection_and_ids_delegate_to_the_synthetic_zoo(monkeypatch):
    import importlib

    import pandas as pd

    selections = importlib.import_module("clipbias.zoo.selections")
    monkeypatch.setattr(selections, "synthetic_catalog",
                        lambda: pd.DataFrame({"model_id": ["tiny-a/x_s0", "tiny-b/x_s0"]}))
    monkeypatch.setattr(selections, "is_synthetic", lambda model_id: model_id.startswith("tiny-"))
    assert select("synthetic") == ["tiny-a/x_s0", "tiny-b/x_s0"]
    assert select(["tiny-z/run-0123", "RN50/openai"]) == ["tiny-z/run-0123", "RN50/openai"]


def test_selection_table_counts_only_the_selected_archs():
    from clipbias.zoo import selection_table

    ids = ["ViT-B-32/scaling_laws_laion2b_s34b", "ViT-B-32/openai"]
    table = selection_table(ids)
    assert table["model_id"].tolist() == ids
    assert table["params_total"].tolist() == [151_277_313, 151_277_313]
    assert table["source"].tolist() == ["scaling_laws", "open_clip"]
