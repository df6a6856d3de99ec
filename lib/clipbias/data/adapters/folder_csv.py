"""The generic adapter: any folder of images described by a CSV (one row per image)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from clipbias.data.adapters.base import DatasetNotFoundError
from clipbias.data.manifest import Manifest, make_manifest

__all__ = ["load_folder_csv"]


def load_folder_csv(csv_path: str | Path, *, image_root: str | Path | None = None,
                    rename: Mapping[str, str] | None = None, split: str = "all",
                    name: str | None = None, require_files: bool = False) -> Manifest:
    """Manifest from a CSV whose rows are images (or texts) and whose columns are annotations.

    ``rename`` maps the CSV's column names to the manifest vocabulary (e.g.
    ``{"file": "image_path", "sex": "gender"}``). After renaming, the table needs ``image_path``
    or ``caption``; ``item_id`` defaults to ``image_path`` (else the row number) and ``split`` to the
    ``split`` argument. Image paths are relative to ``image_root`` (default: the CSV's folder).
    With ``require_files=True`` a missing image is an error. Every column is read as text, so labels
    such as ``"01"`` keep their form.
    """
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise DatasetNotFoundError(
            name or csv_path.stem, csv_path,
            how=("Write a CSV with one row per image: a column of image paths (relative to the "
                 "image folder) and one column per annotation (gender, race, age, concept, ...)."))
    table = pd.read_csv(csv_path, dtype=str, keep_default_na=False).rename(columns=dict(rename or {}))
    if "image_path" not in table.columns and "caption" not in table.columns:
        raise ValueError(f"{csv_path}: after renaming, an 'image_path' or 'caption' column is "
                         f"needed; columns are {list(table.columns)} (pass rename=...)")
    if "item_id" not in table.columns:
        table["item_id"] = (table["image_path"] if "image_path" in table.columns
                            else [str(i) for i in range(len(table))])
    if "split" not in table.columns:
        table["split"] = split
    root = Path(image_root) if image_root is not None else csv_path.parent
    return make_manifest(table, root=root, name=name or csv_path.stem, require_files=require_files,
                         metadata={"source": "folder-csv", "csv": str(csv_path)})
