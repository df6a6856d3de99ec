"""FairFace (Karkkainen and Joo 2021): label CSVs per split plus the face images they name.

Layout (as distributed): ``fairface_label_train.csv`` and ``fairface_label_val.csv`` with columns
``file`` (e.g. ``train/1.jpg``), ``age`` (9 bins such as ``20-29``, ``more than 70``), ``gender``
(``Male``/``Female``), ``race`` (7 labels, e.g. ``Latino_Hispanic``) and ``service_test``, beside the
``train/`` and ``val/`` image folders of one padding (0.25 or 1.25).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from clipbias.data.adapters.base import require, resolve_root
from clipbias.data.manifest import Manifest, make_manifest

__all__ = ["FAIRFACE_SPLITS", "load_fairface"]

FAIRFACE_SPLITS = ("train", "val")
_COLUMNS = ("file", "age", "gender", "race")


def load_fairface(root: str | Path | None = None, *,
                  splits: Sequence[str] = FAIRFACE_SPLITS) -> Manifest:
    """Manifest of FairFace: one row per face, columns ``item_id, split, image_path, gender, race,
    age`` (+ ``service_test`` when present).

    ``root`` is the FairFace folder (default ``<data root>/fairface``). ``gender`` is lower-cased
    (``female``/``male``); ``race`` and ``age`` keep FairFace's labels. ``item_id`` is the image path
    without its suffix (``train/1``). Raises :class:`DatasetNotFoundError` when a label CSV is absent.
    """
    folder = resolve_root("fairface", root)
    frames = []
    for split in splits:
        if split not in FAIRFACE_SPLITS:
            raise ValueError(f"FairFace split must be one of {FAIRFACE_SPLITS}, got {split!r}")
        csv = require("fairface", folder / f"fairface_label_{split}.csv", folder=folder)
        table = pd.read_csv(csv)
        missing = [c for c in _COLUMNS if c not in table.columns]
        if missing:
            raise ValueError(f"{csv} lacks FairFace column(s) {missing}; it has {list(table.columns)}")
        out = pd.DataFrame({
            "item_id": table["file"].str.rsplit(".", n=1).str[0],
            "split": split,
            "image_path": table["file"],
            "gender": table["gender"].str.lower(),
            "race": table["race"],
            "age": table["age"].astype(str),
        })
        if "service_test" in table.columns:
            out["service_test"] = table["service_test"].astype(bool)
        frames.append(out)
    return make_manifest(pd.concat(frames, ignore_index=True), root=folder, name="fairface",
                         metadata={"source": "fairface", "splits": list(splits)})
