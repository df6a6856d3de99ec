"""OASIS (Kurdi, Lozano and Banaji 2017): a ratings CSV plus 900 images named after their theme.

Layout: ``<root>/OASIS.csv`` (columns ``Theme``, ``Category``, ``Valence_mean``, ``Arousal_mean``,
...; a leading unnamed index column is ignored) and ``<root>/Images/<Theme>.jpg``.

The intrinsic-bias battery's image attributes are the 25 highest and the 25 lowest
``Valence_mean`` images (Ghate et al. 2025). Ties are broken by theme name (ascending), our choice;
the manifest's metadata says whether the selection equals the published one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pandas as pd

from clipbias.data.adapters.base import DatasetNotFoundError, require, resolve_root
from clipbias.data.manifest import Manifest, make_manifest
from clipbias.data.word_lists import load_resource

__all__ = ["load_oasis"]

_COLUMNS = ("Theme", "Category", "Valence_mean")


def _images_folder(folder: Path) -> Path:
    for name in ("Images", "images"):
        if (folder / name).is_dir():
            return folder / name
    raise DatasetNotFoundError("oasis", folder / "Images", folder=folder,
                               detail="the image folder is absent")


def load_oasis(root: str | Path | None = None, *, select: Literal["extremes", "all"] = "extremes",
               n: int = 25) -> Manifest:
    """Manifest of OASIS images: ``item_id (theme), split ("all"), image_path, concept (theme),
    category, valence, valence_group`` (+ ``arousal``).

    ``select="extremes"`` keeps the ``n`` highest-valence images (``valence_group`` ``pleasant``)
    then the ``n`` lowest (``unpleasant``), each in order of valence from the extreme inwards;
    ``select="all"`` keeps every image (``valence_group`` empty). ``metadata["matches_published"]``
    compares an ``n=25`` selection with the published lists of Ghate et al. 2025.
    """
    folder = resolve_root("oasis", root)
    csv = require("oasis", folder / "OASIS.csv", folder=folder)
    table = pd.read_csv(csv)
    missing = [c for c in _COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{csv} lacks OASIS column(s) {missing}; it has {list(table.columns)}")
    images = _images_folder(folder)
    table = table.sort_values(["Valence_mean", "Theme"], ascending=[False, True], kind="stable")
    if select == "extremes":
        if n < 1 or 2 * n > len(table):
            raise ValueError(f"n must be between 1 and {len(table) // 2} for {len(table)} OASIS "
                             f"images, got {n}")
        low = table.tail(n).sort_values(["Valence_mean", "Theme"], kind="stable")
        table = pd.concat([table.head(n), low])
        groups = ["pleasant"] * n + ["unpleasant"] * n
    elif select == "all":
        groups = [""] * len(table)
    else:
        raise ValueError(f"select must be 'extremes' or 'all', got {select!r}")
    out = pd.DataFrame({
        "item_id": table["Theme"].astype(str).to_numpy(),
        "split": "all",
        "image_path": [f"{images.name}/{t}.jpg" for t in table["Theme"]],
        "concept": table["Theme"].astype(str).to_numpy(),
        "category": table["Category"].astype(str).to_numpy(),
        "valence": table["Valence_mean"].astype(float).to_numpy(),
        "valence_group": groups,
    })
    if "Arousal_mean" in table.columns:
        out["arousal"] = table["Arousal_mean"].astype(float).to_numpy()
    metadata: dict = {"source": "oasis", "select": select, "n": n}
    if select == "extremes" and n == 25:
        sets = load_resource("stimuli", "image_sets.yaml")["sets"]
        metadata["matches_published"] = {
            group: sorted(out.loc[out["valence_group"] == group, "concept"])
            == sorted(sets[f"oasis/{group}"]["published"])
            for group in ("pleasant", "unpleasant")}
    return make_manifest(out, root=folder, name=f"oasis-{select}", metadata=metadata)
