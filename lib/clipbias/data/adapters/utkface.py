"""UTKFace (Zhang, Song and Qi 2017): the labels live in the file names.

File names read ``<age>_<gender>_<race>_<date&time>.jpg.chip.jpg`` (the aligned-and-cropped release;
the in-the-wild release ends in ``.jpg``): age in years, gender 0 = male and 1 = female, race
0-4 = White, Black, Asian, Indian, Others. A few files of the public release lack a field; they are
skipped and counted in the manifest's metadata (``skipped``, ``skipped_examples``).
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from clipbias.data.adapters.base import IMAGE_EXTENSIONS, require, resolve_root
from clipbias.data.manifest import Manifest, make_manifest

__all__ = ["UTK_GENDERS", "UTK_RACES", "age_bin", "load_utkface"]

UTK_GENDERS = ("male", "female")
UTK_RACES = ("White", "Black", "Asian", "Indian", "Others")
_NAME = re.compile(r"^(?P<age>\d{1,3})_(?P<gender>[01])_(?P<race>[0-4])_(?P<stamp>\d+)")
#: FairFace's age bins as (label, lowest age, highest age).
_AGE_BINS = (("0-2", 0, 2), ("3-9", 3, 9), ("10-19", 10, 19), ("20-29", 20, 29), ("30-39", 30, 39),
             ("40-49", 40, 49), ("50-59", 50, 59), ("60-69", 60, 69), ("more than 70", 70, 10**6))


def age_bin(years: int) -> str:
    """FairFace's age-bin label for an age in years (so UTKFace and FairFace share ``age``).

    >>> age_bin(25), age_bin(70)
    ('20-29', 'more than 70')
    """
    if years < 0:
        raise ValueError(f"age must be non-negative, got {years}")
    return next(label for label, low, high in _AGE_BINS if low <= years <= high)


def load_utkface(root: str | Path | None = None) -> Manifest:
    """Manifest of UTKFace: ``item_id, split ("all"), image_path, gender, race, age, age_years``.

    ``root`` is the folder holding the images, searched recursively (default
    ``<data root>/utkface``). ``age`` is the FairFace bin of ``age_years``.
    """
    folder = require("utkface", resolve_root("utkface", root), folder=resolve_root("utkface", root))
    rows, skipped = [], []
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or path.suffix.lower() not in IMAGE_EXTENSIONS:
            continue
        rel = path.relative_to(folder).as_posix()
        match = _NAME.match(path.name)
        if match is None:
            skipped.append(rel)
            continue
        years = int(match["age"])
        rows.append({"item_id": rel, "split": "all", "image_path": rel,
                     "gender": UTK_GENDERS[int(match["gender"])],
                     "race": UTK_RACES[int(match["race"])],
                     "age": age_bin(years), "age_years": years})
    if not rows:
        raise ValueError(f"no UTKFace images named <age>_<gender>_<race>_<date>... under {folder}"
                         + (f" ({len(skipped)} other image files, e.g. {skipped[:3]})" if skipped else ""))
    return make_manifest(pd.DataFrame(rows), root=folder, name="utkface",
                         metadata={"source": "utkface", "skipped": len(skipped),
                                   "skipped_examples": skipped[:5]})
