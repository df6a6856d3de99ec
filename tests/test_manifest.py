"""Manifest validation, hashing and the CSV round trip."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clipbias.data.manifest import load_manifest, make_manifest, save_manifest


def _table(n: int = 4) -> pd.DataFrame:
    return pd.DataFrame({
        "item_id": [f"i{k}" for k in range(n)],
        "split": ["train"] * n,
        "image_path": [f"img/{k}.png" for k in range(n)],
        "gender": ["female", "male"] * (n // 2),
        "age": np.arange(n, dtype="int64"),
    })


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda t: t.drop(columns="split"), "required column"),
    (lambda t: t.drop(columns="image_path"), "image_path' or a 'caption"),
    (lambda t: t.assign(item_id=["a", "a", "b", "c"]), "duplicate item id"),
    (lambda t: t.assign(item_id=["", "a", "b", "c"]), "empty item ids"),
    (lambda t: t.assign(image_path=[None, "a.png", "b.png", "c.png"]), "empty image_path"),
])
def test_invalid_tables_are_refused_with_the_reason(mutate, message) -> None:
    with pytest.raises(ValueError, match=message):
        make_manifest(mutate(_table()), name="bad")


def test_missing_files_are_counted_and_can_be_required(tmp_path) -> None:
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "0.png").write_bytes(b"x")
    manifest = make_manifest(_table(), root=tmp_path)
    report = manifest.missing_files()
    assert (report.count, report.total) == (3, 4)
    with pytest.raises(ValueError, match="3 of 4 image files missing"):
        make_manifest(_table(), root=tmp_path, require_files=True)


def test_digest_depends_on_content_only() -> None:
    a, b = make_manifest(_table()), make_manifest(_table(), name="other")
    assert a.digest() == b.digest()
    changed = _table()
    changed.loc[2, "gender"] = "male"
    assert make_manifest(changed).digest() != a.digest()
    assert make_manifest(_table().iloc[::-1]).digest() != a.digest()


def test_csv_round_trip_keeps_values_dtypes_and_digest(tmp_path) -> None:
    manifest = make_manifest(_table(), root=tmp_path, name="demo", metadata={"source": "test"})
    loaded = load_manifest(save_manifest(manifest, tmp_path / "demo.csv"))
    pd.testing.assert_frame_equal(loaded.table, manifest.table)
    assert loaded.digest() == manifest.digest()
    assert (loaded.name, loaded.metadata, loaded.root) == ("demo", {"source": "test"}, tmp_path)


def test_subset_keeps_root_and_reindexes(tmp_path) -> None:
    manifest = make_manifest(_table(), root=tmp_path)
    sub = manifest.subset(manifest.table["gender"] == "male")
    assert list(sub.table["item_id"]) == ["i1", "i3"]
    assert list(sub.table.index) == [0, 1] and sub.root == tmp_path
