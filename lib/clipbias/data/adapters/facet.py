"""FACET (Gustafson et al. 2023): person boxes with perceived attributes; one manifest row per
person, its image the crop of its box.

Layout (the release at https://facet.metademolab.com, as code that reads it describes it; we
could not check it against the files offline): ``<root>/annotations/annotations.csv``, one row
per annotated person, with

- ``person_id`` (unique), ``filename`` (the image's file name), ``class1`` (one of the 52 person
  classes, e.g. ``doctor``);
- ``gender_presentation_masc``, ``_fem``, ``_non_binary``, ``_na``;
- ``age_presentation_young``, ``_middle``, ``_older``, ``_na``;
- ``skin_tone_1`` ... ``skin_tone_10`` and ``skin_tone_na`` (Monk Skin Tone scale, 1 lightest);
- ``bounding_box``: a JSON object ``{"x": .., "y": .., "width": .., "height": ..}`` in pixels;

and the images in ``<root>/imgs_1/``, ``imgs_2/``, ``imgs_3/`` (the release's three archives)
or all together in ``<root>/images/``.

Labels (our reading; where the release leaves a choice we state ours):

- ``gender``: the presentation column with the largest value: ``masc`` -> ``male``, ``fem`` ->
  ``female``, ``non_binary`` -> ``non-binary``; ``na``, all zero or a tie -> ``none``. Binary
  metrics keep ``male``/``female`` only (Zhang et al. 2024 drop the rest).
- ``age``: FACET's own groups ``young``/``middle``/``older`` chosen the same way, else ``none``.
- ``skin_tone``: the mean Monk index over the annotators' choices, ``sum_k k c_k / sum_k c_k``
  with ``c_k`` the ``skin_tone_k`` column (a count of annotators choosing ``k``); NaN when no
  index was chosen. ``skin_group``: ``light`` when the mean is at most 5.5, else ``dark``
  (Zhang et al. 2024); empty when the mean is NaN.
- ``bounding_box`` is read as JSON; a Python-literal dict (single quotes) is accepted as well.

Crops: each box is clipped to its image, cropped, and saved once as JPEG (quality 95, no chroma
subsampling) under ``<cache>/datasets/facet-crops/``; the file name carries a hash of the source
image's path, size and modification time and of the box, so an edited image or box gives a new
crop (and new embeddings). The re-encoding changes pixels slightly against an in-memory crop;
we accept that to keep the cache small (about 50k crops for the full release).
"""

from __future__ import annotations

import ast
import hashlib
import io
import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from clipbias.atomic import atomic_write_bytes
from clipbias.checks import check_int
from clipbias.data.adapters.base import DatasetNotFoundError, require, resolve_root
from clipbias.data.manifest import Manifest, make_manifest
from clipbias.paths import cache_dir
from clipbias.progress import progress

__all__ = ["FACET_IMAGE_FOLDERS", "load_facet"]

#: Folders (under the FACET root) searched for images, in order.
FACET_IMAGE_FOLDERS: tuple[str, ...] = ("imgs_1", "imgs_2", "imgs_3", "images")
_GENDERS = {"masc": "male", "fem": "female", "non_binary": "non-binary", "na": "none"}
_AGES = {"young": "young", "middle": "middle", "older": "older", "na": "none"}
_TONES = tuple(range(1, 11))
_REQUIRED = ("person_id", "filename", "class1", "bounding_box",
             *(f"gender_presentation_{k}" for k in _GENDERS),
             *(f"age_presentation_{k}" for k in _AGES), *(f"skin_tone_{k}" for k in _TONES))
_LIGHT_MAX = 5.5


def _one_hot_label(table: pd.DataFrame, prefix: str, labels: dict[str, str]) -> list[str]:
    """Per row: the label of the unique largest ``<prefix><key>`` column, else ``"none"``."""
    values = table[[prefix + k for k in labels]].to_numpy(dtype=float)
    names = np.array(list(labels.values()), dtype=object)
    best = values.max(axis=1, keepdims=True)
    unique = ((values == best).sum(axis=1) == 1) & (best[:, 0] > 0)
    return np.where(unique, names[values.argmax(axis=1)], "none").tolist()


def _skin_tone(table: pd.DataFrame) -> np.ndarray:
    counts = table[[f"skin_tone_{k}" for k in _TONES]].to_numpy(dtype=float)
    total = counts.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, counts @ np.array(_TONES, dtype=float) / total, np.nan)


def _parse_box(text: str, person: str) -> tuple[float, float, float, float]:
    try:
        box = json.loads(text)
    except json.JSONDecodeError:
        try:
            box = ast.literal_eval(text)
        except (ValueError, SyntaxError) as exc:
            raise ValueError(f"FACET person {person}: bounding_box {text!r} is neither JSON nor a "
                             "literal dict") from exc
    try:
        x, y, w, h = (float(box[k]) for k in ("x", "y", "width", "height"))
    except (KeyError, TypeError) as exc:
        raise ValueError(f"FACET person {person}: bounding_box needs x, y, width and height, "
                         f"got {text!r}") from exc
    return x, y, x + w, y + h


def _image_index(folder: Path) -> dict[str, Path]:
    index: dict[str, Path] = {}
    for name in FACET_IMAGE_FOLDERS:
        sub = folder / name
        if sub.is_dir():
            for path in sorted(sub.iterdir()):
                index.setdefault(path.name, path)
    return index


def _clip_box(box: tuple[float, ...], size: tuple[int, int], person: str) -> list[int]:
    width, height = size
    x0, y0 = max(0, math.floor(box[0])), max(0, math.floor(box[1]))
    x1, y1 = min(width, math.ceil(box[2])), min(height, math.ceil(box[3]))
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"FACET person {person}: box {list(box)} lies outside its "
                         f"{width}x{height} image")
    return [x0, y0, x1, y1]


def _crop_name(person: str, source: Path, box: list[int]) -> str:
    st = source.stat()
    stamp = f"{source.resolve()}|{st.st_size}|{st.st_mtime_ns}|{box}"
    return f"{person}-{hashlib.sha256(stamp.encode()).hexdigest()[:16]}.jpg"


def _jpeg(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.convert("RGB").save(buf, format="JPEG", quality=95, subsampling=0)
    return buf.getvalue()


def _write_crops(rows: pd.DataFrame, sources: Sequence[Path], boxes: Sequence[tuple[float, ...]],
                 crops: Path) -> tuple[list[str], list[str]]:
    """Crop every person (each source image decoded once); return crop names and clipped boxes."""
    names, clipped = [""] * len(rows), [""] * len(rows)
    by_image: dict[Path, list[int]] = {}
    for i, source in enumerate(sources):
        by_image.setdefault(source, []).append(i)
    for source, members in progress(by_image.items(), desc="FACET crops", unit="image",
                                    total=len(by_image)):
        with Image.open(source) as img:
            img.load()
            for i in members:
                person = rows["person_id"].iat[i]
                box = _clip_box(boxes[i], img.size, person)
                names[i] = _crop_name(person, source, box)
                clipped[i] = json.dumps(box)
                if not (crops / names[i]).is_file():
                    atomic_write_bytes(crops / names[i], _jpeg(img.crop(tuple(box))))
    return names, clipped


def load_facet(root: str | Path | None = None, *, fraction: float = 1.0,
               seed: int = 0) -> Manifest:
    """Manifest of FACET persons: ``item_id`` (person_id), ``split`` (``"all"``), ``image_path``
    (the person's crop), ``source_image`` (relative to ``root``), ``box`` (JSON ``[x0, y0, x1,
    y1]``, clipped), ``concept`` (class1), ``gender``, ``age``, ``skin_tone``, ``skin_group``.

    ``root`` is the FACET folder (default ``<data root>/facet``); the module docstring gives the
    layout and how each label is read. ``fraction`` in (0, 1] keeps a seeded random share of the
    persons, ``round(fraction * n)`` of them in CSV order, before any crop is written (Zhang et
    al. 2024 evaluate on 10%). Crops go to ``<cache>/datasets/facet-crops`` (the manifest's
    root) and are written once. Raises :class:`DatasetNotFoundError` when the annotations CSV
    or a named image is absent, and ``ValueError`` for a CSV without FACET's columns or a box
    outside its image.
    """
    if isinstance(fraction, bool) or not isinstance(fraction, int | float) \
            or not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be a number in (0, 1], got {fraction!r}")
    seed = check_int(seed, "seed", low=0)
    folder = resolve_root("facet", root)
    csv = require("facet", folder / "annotations" / "annotations.csv", folder=folder)
    table = pd.read_csv(csv, dtype={"person_id": str, "filename": str, "bounding_box": str})
    missing = [c for c in _REQUIRED if c not in table.columns]
    if missing:
        raise ValueError(f"{csv} lacks FACET column(s) {missing}; it has {list(table.columns)}")
    if table["person_id"].duplicated().any():
        raise ValueError(f"{csv}: person_id is not unique, e.g. "
                         f"{table['person_id'][table['person_id'].duplicated()].iloc[0]!r}")
    if fraction < 1.0:
        keep = np.random.default_rng(seed).choice(len(table), size=round(fraction * len(table)),
                                                  replace=False)
        table = table.iloc[np.sort(keep)]
    table = table.reset_index(drop=True)
    if table.empty:
        raise ValueError(f"{csv}: no person rows (after fraction={fraction})")
    index = _image_index(folder)
    absent = sorted({f for f in table["filename"] if f not in index})
    if absent:
        raise DatasetNotFoundError(
            "facet", folder / FACET_IMAGE_FOLDERS[0] / absent[0], folder=folder,
            detail=f"{len(absent)} image(s) named in annotations.csv are in none of "
                   f"{list(FACET_IMAGE_FOLDERS)}, e.g. {absent[:3]}")
    sources = [index[f] for f in table["filename"]]
    boxes = [_parse_box(t, p) for t, p in zip(table["bounding_box"], table["person_id"],
                                               strict=True)]
    crops = cache_dir("datasets", "facet-crops")
    names, clipped = _write_crops(table, sources, boxes, crops)
    tone = _skin_tone(table)
    out = pd.DataFrame({
        "item_id": table["person_id"],
        "split": "all",
        "image_path": names,
        "source_image": [s.relative_to(folder).as_posix() for s in sources],
        "box": clipped,
        "concept": table["class1"].astype(str),
        "gender": _one_hot_label(table, "gender_presentation_", _GENDERS),
        "age": _one_hot_label(table, "age_presentation_", _AGES),
        "skin_tone": tone,
        "skin_group": np.where(np.isnan(tone), "",
                                    np.where(tone <= _LIGHT_MAX, "light", "dark")),
    })
    return make_manifest(out, root=crops, name="facet",
                         metadata={"source": "facet", "fraction": fraction, "seed": seed,
                                   "annotations": str(csv)})
