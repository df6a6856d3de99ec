"""Every dataset adapter on a tiny fake copy of its real layout, built in tmp_path."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import clipbias.data.adapters as adapters
from clipbias.data.adapters import (
    DatasetNotFoundError,
    age_bin,
    caption_gender,
    find_terms,
    load_class_folders,
    load_coco_captions,
    load_facet,
    load_fairface,
    load_folder_csv,
    load_ieat,
    load_oasis,
    load_utkface,
)
from clipbias.data.word_lists import load_resource


def write_image(path: Path, shade: int = 128) -> Path:
    """A 4x4 image at ``path`` (format from the suffix; ``.jpg.chip.jpg`` is a JPEG)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = "PNG" if path.suffix.lower() == ".png" else "JPEG"
    Image.new("RGB", (4, 4), (shade, shade, shade)).save(path, format=fmt)
    return path


def make_ieat(root: Path, *, counts: dict[str, int] | None = None) -> Path:
    """Fake iEAT folders ``<test>/<category>/<n>.jpg`` (default: the battery's categories)."""
    counts = counts or {"insect-flower/flower": 3, "insect-flower/insect": 3,
                        "race/european-american": 2, "race/african-american": 2,
                        "gender/female": 2, "gender/male": 2, "age/young": 2, "age/old": 2}
    for folder, n in counts.items():
        for i in range(n):
            write_image(root / folder / f"{i}_google.jpg", shade=10 * i)
    return root


def make_oasis(root: Path, *, extra_neutral: int = 6) -> Path:
    """Fake OASIS: ``OASIS.csv`` (with its unnamed index column) and ``Images/<Theme>.jpg``,
    the published 25 + 25 valence extremes plus some neutral images."""
    sets = load_resource("stimuli", "image_sets.yaml")["sets"]
    pleasant, unpleasant = sets["oasis/pleasant"]["published"], sets["oasis/unpleasant"]["published"]
    rows = ([(t, "Scene", 6.9 - 0.01 * i) for i, t in enumerate(pleasant)]
            + [(t, "Object", 1.1 + 0.01 * i) for i, t in enumerate(unpleasant)]
            + [(f"Neutral {i}", "Object", 4.0) for i in range(extra_neutral)])
    table = pd.DataFrame(rows, columns=["Theme", "Category", "Valence_mean"])
    table.insert(2, "Source", "Pixabay")
    table["Arousal_mean"] = 3.0
    root.mkdir(parents=True, exist_ok=True)
    table.to_csv(root / "OASIS.csv")  # keeps pandas' unnamed index column, like the real file
    for theme in table["Theme"]:
        write_image(root / "Images" / f"{theme}.jpg")
    return root


def vocabulary() -> set[str]:
    """Column names documented in the adapters package docstring."""
    return set(re.findall(r"^([a-z_]+)\s{2,}", adapters.__doc__, flags=re.MULTILINE))


def check_vocabulary(manifest) -> None:
    assert set(manifest.table.columns) <= vocabulary(), set(manifest.table.columns) - vocabulary()


# FairFace ----------------------------------------------------------------------------------------

def make_fairface(root: Path) -> Path:
    train = pd.DataFrame({"file": ["train/1.jpg", "train/2.jpg", "train/3.jpg"],
                          "age": ["20-29", "3-9", "more than 70"],
                          "gender": ["Male", "Female", "Female"],
                          "race": ["East Asian", "Latino_Hispanic", "White"],
                          "service_test": [True, False, True]})
    val = pd.DataFrame({"file": ["val/1.jpg", "val/2.jpg"], "age": ["30-39", "0-2"],
                        "gender": ["Female", "Male"], "race": ["Black", "Indian"],
                        "service_test": [False, False]})
    root.mkdir(parents=True)
    train.to_csv(root / "fairface_label_train.csv", index=False)
    val.to_csv(root / "fairface_label_val.csv", index=False)
    for f in [*train["file"], *val["file"]]:
        write_image(root / f)
    return root


def test_fairface_reads_both_splits(tmp_path):
    m = load_fairface(make_fairface(tmp_path / "fairface"))
    t = m.table
    assert len(m) == 5 and list(t["split"]) == ["train"] * 3 + ["val"] * 2
    assert list(t["item_id"][:2]) == ["train/1", "train/2"]
    assert list(t["gender"]) == ["male", "female", "female", "female", "male"]
    assert t.loc[1, "race"] == "Latino_Hispanic" and t.loc[2, "age"] == "more than 70"
    assert m.missing_files().count == 0
    assert len(load_fairface(tmp_path / "fairface", splits=["val"])) == 2
    check_vocabulary(m)


def test_fairface_counts_missing_images_and_rejects_bad_csv(tmp_path):
    root = make_fairface(tmp_path / "fairface")
    (root / "val" / "2.jpg").unlink()
    assert load_fairface(root).missing_files().count == 1
    pd.DataFrame({"file": ["train/1.jpg"], "gender": ["Male"]}).to_csv(
        root / "fairface_label_train.csv", index=False)
    with pytest.raises(ValueError, match=r"lacks FairFace column\(s\) \['age', 'race'\]"):
        load_fairface(root)


def test_absent_dataset_says_what_to_download_and_where(tmp_path, monkeypatch):
    monkeypatch.setenv("CLIPBIAS_DATA", str(tmp_path / "data"))
    with pytest.raises(DatasetNotFoundError) as err:
        load_fairface()
    text = str(err.value)
    assert isinstance(err.value, FileNotFoundError)
    assert str(tmp_path / "data" / "fairface") in text
    assert "github.com/joojs/fairface" in text and "fairface_label_train.csv" in text
    with pytest.raises(DatasetNotFoundError, match="data fetch ieat"):
        load_ieat()


# UTKFace -----------------------------------------------------------------------------------------

def test_utkface_parses_labels_from_file_names(tmp_path):
    root = tmp_path / "UTKFace"
    for name in ["25_1_0_20170109150557335.jpg.chip.jpg", "70_0_1_20170110122437420.jpg.chip.jpg",
                 "2_0_4_20161221192614412.jpg.chip.jpg", "39_1_20170116174525125.jpg.chip.jpg"]:
        write_image(root / name)
    (root / "notes.txt").write_text("not an image")
    m = load_utkface(root)
    t = m.table.set_index("item_id")
    assert len(m) == 3 and m.metadata["skipped"] == 1
    row = t.loc["25_1_0_20170109150557335.jpg.chip.jpg"]
    assert (row["gender"], row["race"], row["age"], row["age_years"]) == ("female", "White", "20-29", 25)
    assert t.loc["70_0_1_20170110122437420.jpg.chip.jpg", "age"] == "more than 70"
    assert t.loc["2_0_4_20161221192614412.jpg.chip.jpg", "race"] == "Others"
    assert set(m.table["split"]) == {"all"}
    check_vocabulary(m)


def test_age_bins_follow_fairface():
    assert [age_bin(a) for a in (0, 2, 3, 9, 10, 69, 70, 116)] == [
        "0-2", "0-2", "3-9", "3-9", "10-19", "60-69", "more than 70", "more than 70"]
    with pytest.raises(ValueError):
        age_bin(-1)


def test_utkface_without_labelled_files_is_an_error(tmp_path):
    write_image(tmp_path / "u" / "portrait.jpg")
    with pytest.raises(ValueError, match="no UTKFace images"):
        load_utkface(tmp_path / "u")


# iEAT --------------------------------------------------------------------------------------------

def test_ieat_reads_one_folder_per_category(tmp_path):
    root = make_ieat(tmp_path / "ieat")
    (root / "race" / "african-american" / ".DS_Store").write_text("x")
    write_image(root / "age" / "old" / "extra.png")
    m = load_ieat(root)
    assert len(m) == 19 and m.missing_files().count == 0
    counts = m.table.groupby(["test", "concept"]).size()
    assert counts[("insect-flower", "flower")] == 3 and counts[("age", "old")] == 3
    only = load_ieat(root, folders=["race"])
    assert set(only.table["concept"]) == {"european-american", "african-american"}
    check_vocabulary(m)


def test_ieat_missing_or_empty_folder_is_a_clear_error(tmp_path):
    root = make_ieat(tmp_path / "ieat")
    with pytest.raises(DatasetNotFoundError, match="instrument-weapon/instrument"):
        load_ieat(root, folders=["instrument-weapon/instrument"])
    (root / "age" / "empty").mkdir()
    with pytest.raises(DatasetNotFoundError, match="no image"):
        load_ieat(root, folders=["age/empty"])


# OASIS -------------------------------------------------------------------------------------------

def test_oasis_selects_the_25_highest_and_lowest_valence_images(tmp_path):
    m = load_oasis(make_oasis(tmp_path / "oasis"))
    t = m.table
    assert len(m) == 50 and m.missing_files().count == 0
    assert (t["valence_group"][:25] == "pleasant").all() and (t["valence_group"][25:] == "unpleasant").all()
    assert t["item_id"].iloc[0] == "Dog 6" and t["item_id"].iloc[25] == "Destruction 4"
    assert t["valence"].iloc[:25].is_monotonic_decreasing
    assert t["valence"].iloc[25:].is_monotonic_increasing
    assert not t["item_id"].str.startswith("Neutral").any()
    assert m.metadata["matches_published"] == {"pleasant": True, "unpleasant": True}
    assert t["image_path"].iloc[0] == "Images/Dog 6.jpg"
    check_vocabulary(m)


def test_oasis_reports_a_selection_that_differs_from_the_published_one(tmp_path):
    root = make_oasis(tmp_path / "oasis")
    csv = pd.read_csv(root / "OASIS.csv", index_col=0)
    csv.loc[csv["Theme"] == "Neutral 0", "Valence_mean"] = 7.0
    csv.to_csv(root / "OASIS.csv")
    m = load_oasis(root)
    assert m.table["item_id"].iloc[0] == "Neutral 0"
    assert m.metadata["matches_published"] == {"pleasant": False, "unpleasant": True}


def test_oasis_ties_are_broken_by_theme_and_bad_n_is_refused(tmp_path):
    root = make_oasis(tmp_path / "oasis", extra_neutral=4)
    m = load_oasis(root, select="extremes", n=27)
    pleasant = m.table[m.table["valence_group"] == "pleasant"]["item_id"]
    assert list(pleasant[-2:]) == ["Neutral 0", "Neutral 1"]
    assert len(load_oasis(root, select="all")) == 54
    with pytest.raises(ValueError, match="between 1 and 27"):
        load_oasis(root, n=28)


# COCO-style captions ----------------------------------------------------------------------------

def make_coco(root: Path) -> Path:
    images = [{"id": 1, "file_name": "000000000001.jpg"}, {"id": 2, "file_name": "000000000002.jpg"},
              {"id": 3, "file_name": "000000000003.jpg"}]
    captions = [
        {"id": 10, "image_id": 1, "caption": "A man riding a horse."},
        {"id": 11, "image_id": 1, "caption": "Someone on a horse near a field."},
        {"id": 12, "image_id": 2, "caption": "A woman's dog and a nurse."},
        {"id": 13, "image_id": 2, "caption": "The manager talks to her doctor."},
        {"id": 14, "image_id": 3, "caption": "A boy and his sister play."},
        {"id": 15, "image_id": 3, "caption": "A human and a police officer."},
    ]
    instances = {
        "categories": [{"id": 1, "name": "person"}, {"id": 18, "name": "dog"}],
        "annotations": [
            {"image_id": 1, "category_id": 1, "bbox": [10, 20, 30, 40], "iscrowd": 0},
            {"image_id": 2, "category_id": 18, "bbox": [0, 0, 5, 5], "iscrowd": 0},
            {"image_id": 3, "category_id": 1, "bbox": [1, 2, 3, 4], "iscrowd": 0},
            {"image_id": 3, "category_id": 1, "bbox": [0, 0, 99, 99], "iscrowd": 1},
        ]}
    (root / "annotations").mkdir(parents=True)
    (root / "annotations" / "captions_val2017.json").write_text(
        json.dumps({"images": images, "annotations": captions}))
    (root / "annotations" / "instances_val2017.json").write_text(json.dumps(instances))
    for img in images:
        write_image(root / "val2017" / img["file_name"])
    return root


def test_caption_gender_uses_whole_words():
    assert caption_gender("A woman's dog.") == "female"
    assert caption_gender("The manager and a human.") == "none"
    assert caption_gender("A boy and his sister.") == "both"
    assert find_terms("The Police Officer, a nurse.", ["nurse", "police officer", "officer x"]) == [
        "nurse", "police officer"]


def test_coco_per_caption_rows(tmp_path):
    m = load_coco_captions(make_coco(tmp_path / "coco"), occupations=["nurse", "doctor",
                                                                       "police officer", "manager"])
    t = m.table.set_index("item_id")
    assert len(m) == 6 and m.missing_files().count == 0
    assert list(t["gender"]) == ["male", "none", "female", "female", "both", "none"]
    assert list(t["image_gender"]) == ["male", "male", "female", "female", "both", "both"]
    assert json.loads(t.loc["10", "boxes"]) == [[10, 20, 40, 60]]
    assert json.loads(t.loc["12", "boxes"]) == []  # the dog is not a person
    assert json.loads(t.loc["14", "boxes"]) == [[1, 2, 4, 6]]  # the crowd box is dropped
    assert json.loads(t.loc["13", "occupations"]) == ["doctor", "manager"]
    assert t.loc["12", "image_path"] == "val2017/000000000002.jpg"
    check_vocabulary(m)


def test_coco_per_image_rows(tmp_path):
    m = load_coco_captions(make_coco(tmp_path / "coco"), unit="image",
                           occupations=["nurse", "doctor"])
    t = m.table.set_index("item_id")
    assert list(t.index) == ["1", "2", "3"]
    assert list(t["gender"]) == ["male", "female", "both"]
    assert json.loads(t.loc["2", "captions"])[1] == "The manager talks to her doctor."
    assert t.loc["2", "caption"] == "A woman's dog and a nurse."
    assert json.loads(t.loc["2", "occupations"]) == ["nurse", "doctor"]
    check_vocabulary(m)


def test_coco_errors(tmp_path):
    with pytest.raises(DatasetNotFoundError, match=re.escape("annotations_trainval2017.zip")):
        load_coco_captions(tmp_path / "none")
    root = make_coco(tmp_path / "coco")
    path = root / "annotations" / "captions_val2017.json"
    data = json.loads(path.read_text())
    data["annotations"].append({"id": 99, "image_id": 42, "caption": "x"})
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="unknown image ids"):
        load_coco_captions(root)
    with pytest.raises(ValueError, match="unit"):
        load_coco_captions(make_coco(tmp_path / "coco2"), unit="word")


# ImageNet-style class folders -------------------------------------------------------------------

def test_class_folders_with_names(tmp_path):
    root = tmp_path / "imagenet"
    write_image(root / "val" / "n01440764" / "ILSVRC2012_val_00000293.JPEG")
    write_image(root / "val" / "n01440764" / "ILSVRC2012_val_00002138.JPEG")
    write_image(root / "val" / "n01443537" / "ILSVRC2012_val_00000236.JPEG")
    (root / "LOC_synset_mapping.txt").write_text(
        "n01440764 tench, Tinca tinca\nn01443537 goldfish, Carassius auratus\n")
    m = load_class_folders(root)
    assert len(m) == 3 and m.metadata["classes"] == 2
    assert list(m.table["concept"]) == ["tench", "tench", "goldfish"]
    assert set(m.table["split"]) == {"val"} and m.missing_files().count == 0
    flat = load_class_folders(root / "val", split=None, class_names={"n01443537": "goldfish"})
    assert list(flat.table["concept"]) == ["n01440764", "n01440764", "goldfish"]
    assert set(flat.table["split"]) == {"all"}
    check_vocabulary(m)
    with pytest.raises(DatasetNotFoundError, match=re.escape("image-net.org")):
        load_class_folders(root, split="train")


# Generic folder + CSV ----------------------------------------------------------------------------

def test_folder_csv_renames_to_the_vocabulary(tmp_path):
    write_image(tmp_path / "imgs" / "a.jpg")
    write_image(tmp_path / "imgs" / "b.jpg")
    pd.DataFrame({"file": ["a.jpg", "b.jpg"], "sex": ["female", "male"], "code": ["01", "02"]}
                 ).to_csv(tmp_path / "labels.csv", index=False)
    m = load_folder_csv(tmp_path / "labels.csv", image_root=tmp_path / "imgs",
                        rename={"file": "image_path", "sex": "gender"})
    assert list(m.table["item_id"]) == ["a.jpg", "b.jpg"] and list(m.table["code"]) == ["01", "02"]
    assert list(m.table["gender"]) == ["female", "male"] and set(m.table["split"]) == {"all"}
    assert m.missing_files().count == 0 and m.name == "labels"


def test_folder_csv_validation_errors(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="one row per image"):
        load_folder_csv(tmp_path / "absent.csv")
    pd.DataFrame({"file": ["a.jpg", "a.jpg"]}).to_csv(tmp_path / "dup.csv", index=False)
    with pytest.raises(ValueError, match="image_path"):
        load_folder_csv(tmp_path / "dup.csv")
    with pytest.raises(ValueError, match="duplicate item id"):
        load_folder_csv(tmp_path / "dup.csv", rename={"file": "image_path"})
    pd.DataFrame({"image_path": ["gone.jpg"]}).to_csv(tmp_path / "gone.csv", index=False)
    with pytest.raises(ValueError, match="1 of 1 image files missing"):
        load_folder_csv(tmp_path / "gone.csv", require_files=True)


def test_manifest_digest_follows_content(tmp_path):
    root = make_fairface(tmp_path / "fairface")
    first, again = load_fairface(root), load_fairface(root)
    assert first.digest() == again.digest()
    csv = pd.read_csv(root / "fairface_label_val.csv")
    csv.loc[0, "race"] = "White"
    csv.to_csv(root / "fairface_label_val.csv", index=False)
    assert load_fairface(root).digest() != first.digest()


# FACET -------------------------------------------------------------------------------------------

_FACET_COLOURS = ((200, 30, 30), (30, 200, 30), (30, 30, 200), (220, 220, 40))


def write_quadrants(path: Path, size: tuple[int, int] = (40, 20)) -> Path:
    """A JPEG whose four quadrants are flat colours (top-left, top-right, bottom-left, -right)."""
    w, h = size
    img = Image.new("RGB", size)
    for q, colour in enumerate(_FACET_COLOURS):
        x, y = (q % 2) * w // 2, (q // 2) * h // 2
        img.paste(colour, (x, y, x + w // 2, y + h // 2))
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, format="JPEG", quality=100, subsampling=0)
    return path


def facet_row(person: str, filename: str, box: dict | str, *, gender: dict | None = None,
              age: dict | None = None, tones: dict | None = None, cls: str = "doctor") -> dict:
    """One annotations.csv row; unspecified label columns are 0."""
    row = {"person_id": person, "filename": filename, "class1": cls, "class2": "",
           "bounding_box": box if isinstance(box, str) else json.dumps(box)}
    row |= {f"gender_presentation_{k}": (gender or {}).get(k, 0)
            for k in ("masc", "fem", "non_binary", "na")}
    row |= {f"age_presentation_{k}": (age or {}).get(k, 0)
            for k in ("young", "middle", "older", "na")}
    row |= {f"skin_tone_{k}": (tones or {}).get(k, 0) for k in range(1, 11)}
    row["skin_tone_na"] = 0
    return row


def make_facet(root: Path, rows: list[dict] | None = None) -> Path:
    """Fake FACET: two images (in imgs_1 and imgs_3) and persons on their quadrants."""
    write_quadrants(root / "imgs_1" / "sa_1.jpg")
    write_quadrants(root / "imgs_3" / "sa_2.jpg")
    rows = rows or [
        facet_row("11", "sa_1.jpg", {"x": 0, "y": 0, "width": 20, "height": 10},
                  gender={"fem": 1}, age={"young": 1}, tones={2: 1, 3: 1}, cls="nurse"),
        facet_row("12", "sa_1.jpg", {"x": 20.4, "y": 10, "width": 30, "height": 30},
                  gender={"masc": 1}, age={"older": 1}, tones={5: 1, 6: 1}),
        facet_row("21", "sa_2.jpg", "{'x': 0, 'y': 10, 'width': 20, 'height': 10}",
                  gender={"non_binary": 1}, age={"middle": 1}, tones={8: 2, 9: 1}),
        facet_row("22", "sa_2.jpg", {"x": 20, "y": 0, "width": 20, "height": 10},
                  gender={"masc": 1, "fem": 1}, age={"na": 1}),
    ]
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(root / "annotations" / "annotations.csv", index=False)
    return root


def test_facet_labels_and_crops(tmp_path, monkeypatch):
    monkeypatch.setenv("CLIPBIAS_CACHE", str(tmp_path / "cache"))
    m = load_facet(make_facet(tmp_path / "facet"))
    t = m.table
    check_vocabulary(m)
    assert list(t["item_id"]) == ["11", "12", "21", "22"] and set(t["split"]) == {"all"}
    assert list(t["gender"]) == ["female", "male", "non-binary", "none"]  # a tie is "none"
    assert list(t["age"]) == ["young", "older", "middle", "none"]
    assert list(t["concept"]) == ["nurse", "doctor", "doctor", "doctor"]
    # mean Monk index over the annotators' choices, slow reference: sum k c_k / sum c_k
    expected = [(2 + 3) / 2, (5 + 6) / 2, (8 * 2 + 9) / 3]
    np.testing.assert_allclose(t["skin_tone"][:3], expected)
    assert np.isnan(t["skin_tone"][3])
    assert list(t["skin_group"]) == ["light", "light", "dark", ""]  # 5.5 is light
    assert list(t["source_image"]) == ["imgs_1/sa_1.jpg"] * 2 + ["imgs_3/sa_2.jpg"] * 2
    # person 12's box runs past the 40x20 image: clipped; 20.4 floors to 20
    assert json.loads(t["box"][1]) == [20, 10, 40, 20]
    assert m.missing_files().count == 0
    quadrant = {0: 0, 1: 3, 2: 2, 3: 1}  # the quadrant each person's box covers
    for i, path in enumerate(m.image_paths()):
        with Image.open(path) as crop:
            assert crop.size == (20, 10)
            mean = np.asarray(crop.convert("RGB"), dtype=float).reshape(-1, 3).mean(axis=0)
        np.testing.assert_allclose(mean, _FACET_COLOURS[quadrant[i]], atol=4)


def test_facet_crops_are_written_once_and_follow_their_source(tmp_path, monkeypatch):
    monkeypatch.setenv("CLIPBIAS_CACHE", str(tmp_path / "cache"))
    root = make_facet(tmp_path / "facet")
    first = load_facet(root)
    stamps = [p.stat().st_mtime_ns for p in first.image_paths()]
    again = load_facet(root)
    assert again.digest() == first.digest()
    assert [p.stat().st_mtime_ns for p in again.image_paths()] == stamps
    write_quadrants(root / "imgs_1" / "sa_1.jpg", size=(40, 24))  # an edited image
    edited = load_facet(root)
    assert list(edited.table["image_path"][:2]) != list(first.table["image_path"][:2])
    assert list(edited.table["image_path"][2:]) == list(first.table["image_path"][2:])


def test_facet_fraction_keeps_a_seeded_share(tmp_path, monkeypatch):
    monkeypatch.setenv("CLIPBIAS_CACHE", str(tmp_path / "cache"))
    root = make_facet(tmp_path / "facet")
    half = load_facet(root, fraction=0.5, seed=3)
    assert len(half) == 2 and half.digest() == load_facet(root, fraction=0.5, seed=3).digest()
    everyone = list(load_facet(root).table["item_id"])
    picked = list(half.table["item_id"])
    assert set(picked) <= set(everyone) and picked == sorted(picked, key=everyone.index)
    seeds = {tuple(load_facet(root, fraction=0.5, seed=s).table["item_id"]) for s in range(8)}
    assert len(seeds) > 1
    for bad in (0.0, 1.5, True, "0.5"):
        with pytest.raises(ValueError, match="fraction"):
            load_facet(root, fraction=bad)


def test_facet_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("CLIPBIAS_CACHE", str(tmp_path / "cache"))
    with pytest.raises(DatasetNotFoundError, match=r"facet\.metademolab\.com"):
        load_facet(tmp_path / "absent")
    root = make_facet(tmp_path / "facet")
    (root / "imgs_3" / "sa_2.jpg").unlink()
    with pytest.raises(DatasetNotFoundError, match=r"1 image\(s\) named in annotations\.csv"):
        load_facet(root)
    write_quadrants(root / "images" / "sa_2.jpg")  # the merged-folder layout is found too
    assert len(load_facet(root)) == 4
    box = {"x": 50, "y": 0, "width": 5, "height": 5}
    make_facet(root, [facet_row("1", "sa_1.jpg", box, gender={"fem": 1})])
    with pytest.raises(ValueError, match="outside its 40x20 image"):
        load_facet(root)
    make_facet(root, [facet_row("1", "sa_1.jpg", "not a box")])
    with pytest.raises(ValueError, match="neither JSON nor"):
        load_facet(root)
    make_facet(root, [facet_row("1", "sa_1.jpg", {"x": 0, "y": 0})])
    with pytest.raises(ValueError, match="x, y, width and height"):
        load_facet(root)
    row = facet_row("1", "sa_1.jpg", box)
    make_facet(root, [row, row])
    with pytest.raises(ValueError, match="person_id is not unique"):
        load_facet(root)
    pd.DataFrame([{k: v for k, v in row.items() if k != "skin_tone_4"}]).to_csv(
        root / "annotations" / "annotations.csv", index=False)
    with pytest.raises(ValueError, match=r"lacks FACET column\(s\) \['skin_tone_4'\]"):
        load_facet(root)
