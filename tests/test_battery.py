"""The 26-test battery: composition, sign convention, image resolution and its errors."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from clipbias.data.adapters import DatasetNotFoundError
from clipbias.data.battery import battery, battery_table, definitions, image_set, image_set_names
from clipbias.data.stimulus import ORDERS, EATSpec
from test_adapters import (  # fake dataset layouts shared with the adapter tests
    make_ieat,
    make_oasis,
)

CONGRUENT_X = {"seat/flowers", "seat/instruments", "seat/ea-names-32", "seat/ea-names-16",
               "seat/ea-terms", "seat/young-names", "seat/female-names", "seat/female-terms",
               "ieat/flower", "ieat/instrument", "ieat/european-american", "ieat/young",
               "ieat/female"}


def make_data_root(root: Path, *, instruments: bool = True) -> Path:
    counts = {"insect-flower/flower": 2, "insect-flower/insect": 2, "race/european-american": 2,
              "race/african-american": 2, "gender/female": 2, "gender/male": 2,
              "age/young": 2, "age/old": 2}
    if instruments:
        counts |= {"instrument-weapon/instrument": 2, "instrument-weapon/weapon": 2}
    make_ieat(root / "ieat", counts=counts)
    make_oasis(root / "oasis", extra_neutral=2)
    return root


def test_composition_is_5_all_image_8_all_text_5_image_target_8_text_target():
    table = battery_table()
    assert len(table) == 26 and table["name"].is_unique
    assert table["order"].value_counts().to_dict() == {
        "image-image": 5, "text-text": 8, "image-text": 5, "text-image": 8}
    assert len(definitions()) == 8
    per_category = table.groupby("category").size().to_dict()
    assert per_category == {"Insect-Flower": 4, "Instrument-Weapon": 4, "Race": 8, "Gender": 6,
                            "Age": 4}
    # 20 category x order cells, the random-effect groups of the zoo regression
    assert len(table.groupby(["category", "order"])) == 20


def test_sign_convention_puts_the_congruent_group_first_and_pleasant_as_a():
    table = battery_table()
    assert set(table["x"]) <= CONGRUENT_X
    assert set(table["a"]) == {"nrc/pleasant", "oasis/pleasant"}
    gender = table[table["category"] == "Gender"]
    assert set(gender["x"]) == {"seat/female-names", "seat/female-terms", "ieat/female"}


def test_table_sizes_and_selection():
    table = battery_table(orders=["text-image"], categories=["Race"])
    assert list(table["test"]) == ["Race:SENT-WEAT3", "Race:SENT-WEAT4", "Race:SENT-WEAT3B"]
    assert list(table["n_x"]) == [256, 128, 195] and set(table["n_a"]) == {25}
    full = battery_table()
    unknown = full[full["x"] == "ieat/instrument"]
    assert unknown["n_x"].isna().all() and len(unknown) == 2
    with pytest.raises(ValueError, match="unknown orders"):
        battery_table(orders=["image-audio"])
    with pytest.raises(ValueError, match="unknown categories"):
        battery_table(categories=["Religion"])


def test_text_only_battery_needs_no_data(tmp_path):
    specs = battery(data_root=tmp_path / "empty", orders=["text-text"])
    assert len(specs) == 8 and all(isinstance(s, EATSpec) for s in specs)
    table = battery_table(orders=["text-text"]).set_index("name")
    for s in specs:
        assert (len(s.x), len(s.a)) == (table.loc[s.name, "n_x"], table.loc[s.name, "n_a"])
        assert s.x.modality == "text" and s.x.items[0].endswith(".")
    assert specs[0].name == "Insect-Flower:SENT-WEAT1/text-text"


def test_absent_images_raise_a_clear_error(tmp_path):
    with pytest.raises(DatasetNotFoundError) as err:
        battery(data_root=tmp_path / "empty")
    text = str(err.value)
    assert "data fetch ieat" in text and "skip_missing=True" in text
    assert "Insect-Flower/image-image" in text


def test_full_battery_resolves_images_under_the_data_root(tmp_path):
    specs = battery(data_root=make_data_root(tmp_path / "data"))
    assert len(specs) == 26
    assert [s.order for s in specs] == sorted((s.order for s in specs), key=ORDERS.index)
    for s in specs:
        for role in (s.x, s.y, s.a, s.b):
            if role.modality == "image":
                assert role.paths() and all(p.is_file() for p in role.paths()), role.name
    attrs = next(s for s in specs if s.order == "image-image")
    assert len(attrs.a) == len(attrs.b) == 25
    assert image_set("oasis/unpleasant", data_root=tmp_path / "data").paths()[0].name == "Destruction 4.jpg"


def test_data_root_defaults_to_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("CLIPBIAS_DATA", str(make_data_root(tmp_path / "data")))
    assert len(battery(orders=["image-image"])) == 5


def test_skip_missing_drops_only_tests_whose_images_are_absent(tmp_path):
    root = make_data_root(tmp_path / "data", instruments=False)
    with pytest.raises(DatasetNotFoundError, match="instrument-weapon"):
        battery(data_root=root)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        specs = battery(data_root=root, skip_missing=True)
    assert len(specs) == 24
    assert {s.name for s in specs} == set(battery_table()["name"]) - {
        "Instrument-Weapon/image-image", "Instrument-Weapon/image-text"}
    assert any("2 test(s) dropped" in str(w.message) for w in caught)


def test_select_tests_by_name(tmp_path):
    specs = battery(data_root=make_data_root(tmp_path / "data"),
                    tests=["Race", "Age:SENT-WEAT10/text-text"])
    assert sorted(s.name for s in specs) == ["Age:SENT-WEAT10/text-text", "Race/image-image",
                                             "Race/image-text"]
    with pytest.raises(ValueError, match="unknown tests"):
        battery(tests=["Race:SENT-WEAT99"])


def test_image_set_names_and_unknown_set():
    assert "oasis/pleasant" in image_set_names() and "ieat/female" in image_set_names()
    with pytest.raises(ValueError, match="known sets"):
        image_set("ieat/cats")
