"""COCO-style caption JSON, with a perceived gender read from the captions' gendered words.

Layout (COCO 2017): ``<root>/annotations/captions_<split>.json`` (``images`` with ``id`` and
``file_name``; ``annotations`` with ``id``, ``image_id`` and ``caption``), optionally
``<root>/annotations/instances_<split>.json`` for person boxes, and images in ``<root>/<split>/``.
Any dataset in the same JSON format (e.g. Flickr30k converted to COCO style) loads with
``captions_file`` and ``image_dir``.

Gender annotation (our choice, after Zhao et al. 2017 and Hendricks et al. 2018; word lists in
``resources/gender_words.yaml``): a caption is ``male`` if it holds male words only, ``female`` if
female words only, ``both`` if both and ``none`` if neither. An image is ``male`` if some caption
has male words and none has female words, ``female`` symmetrically, ``both`` if its captions hold
both kinds and ``none`` otherwise.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import pandas as pd

from clipbias.data.adapters.base import require, resolve_root
from clipbias.data.manifest import Manifest, make_manifest
from clipbias.data.word_lists import load_resource

__all__ = ["caption_gender", "combine_genders", "find_terms", "load_coco_captions"]

_TOKEN = re.compile(r"[a-z]+")


def _gender_words() -> tuple[frozenset[str], frozenset[str]]:
    words = load_resource("gender_words.yaml")
    return frozenset(words["male"]), frozenset(words["female"])


def caption_gender(caption: str) -> str:
    """``"male"``, ``"female"``, ``"both"`` or ``"none"`` from the gendered words of ``caption``.

    >>> caption_gender("A man riding a horse."), caption_gender("Two girls and their father.")
    ('male', 'both')
    """
    male, female = _gender_words()
    tokens = set(_TOKEN.findall(caption.lower()))
    return _label(bool(tokens & male), bool(tokens & female))


def _label(has_male: bool, has_female: bool) -> str:
    return {(True, False): "male", (False, True): "female", (True, True): "both"}.get(
        (has_male, has_female), "none")


def combine_genders(labels: Sequence[str]) -> str:
    """An image's gender from its captions' labels (see the module docstring)."""
    has_male = any(lab in ("male", "both") for lab in labels)
    has_female = any(lab in ("female", "both") for lab in labels)
    return _label(has_male, has_female)


def find_terms(caption: str, terms: Sequence[str]) -> list[str]:
    """The ``terms`` (single words or phrases, case-insensitive) that occur in ``caption`` as
    whole words, in the order of ``terms``.

    >>> find_terms("A police officer talks to a nurse.", ["nurse", "police officer", "doctor"])
    ['nurse', 'police officer']
    """
    text = " " + " ".join(_TOKEN.findall(caption.lower())) + " "
    return [t for t in terms if " " + " ".join(_TOKEN.findall(t.lower())) + " " in text]


def _person_boxes(instances: Path) -> dict[int, list[list[float]]]:
    data = json.loads(instances.read_text(encoding="utf-8"))
    person_ids = {c["id"] for c in data.get("categories", []) if c.get("name") == "person"} or {1}
    boxes: dict[int, list[list[float]]] = defaultdict(list)
    for ann in data.get("annotations", []):
        if ann.get("category_id") in person_ids and not ann.get("iscrowd", 0):
            x, y, w, h = ann["bbox"]
            boxes[ann["image_id"]].append([x, y, x + w, y + h])
    return boxes


def load_coco_captions(root: str | Path | None = None, *, split: str = "val2017",
                       captions_file: str | Path | None = None,
                       image_dir: str | Path | None = None,
                       instances_file: str | Path | None = None,
                       unit: Literal["caption", "image"] = "caption",
                       occupations: Sequence[str] | None = None) -> Manifest:
    """Manifest of a COCO-style caption set.

    ``unit="caption"``: one row per caption, columns ``item_id`` (caption id), ``split``,
    ``image_id``, ``image_path``, ``caption``, ``gender`` (the caption's) and ``image_gender``.
    ``unit="image"``: one row per image, ``item_id`` (image id), ``caption`` (its first caption by
    annotation id), ``captions`` (JSON list of all) and ``gender`` (the image's).
    Both add ``boxes`` (JSON list of ``[x0, y0, x1, y1]`` non-crowd person boxes) when an instances
    file exists, and ``occupations`` (JSON list of the given terms found in the captions) when
    ``occupations`` is given. ``root`` defaults to ``<data root>/coco``; image paths are
    ``<split>/<file_name>`` relative to it, or ``<image_dir>/<file_name>`` when ``image_dir`` is given.
    """
    folder = resolve_root("coco-2017-annotations", root)
    cap_path = Path(captions_file) if captions_file else folder / "annotations" / f"captions_{split}.json"
    require("coco-2017-annotations", cap_path, folder=folder)
    data = json.loads(cap_path.read_text(encoding="utf-8"))
    for key in ("images", "annotations"):
        if key not in data:
            raise ValueError(f"{cap_path} is not a COCO caption file: no {key!r} key")
    images = {img["id"]: img["file_name"] for img in data["images"]}
    img_base = Path(image_dir) if image_dir is not None else Path(split)
    inst_path = (Path(instances_file) if instances_file
                 else folder / "annotations" / f"instances_{split}.json")
    boxes = _person_boxes(inst_path) if inst_path.is_file() else None

    anns = sorted(data["annotations"], key=lambda a: a["id"])
    unknown = [a["image_id"] for a in anns if a["image_id"] not in images]
    if unknown:
        raise ValueError(f"{cap_path}: {len(unknown)} caption(s) name unknown image ids, "
                         f"e.g. {unknown[:3]}")
    genders = [caption_gender(a["caption"]) for a in anns]
    per_image: dict[int, list[int]] = defaultdict(list)
    for i, a in enumerate(anns):
        per_image[a["image_id"]].append(i)
    image_gender = {img: combine_genders([genders[i] for i in idx]) for img, idx in per_image.items()}

    def common(image_id: int, texts: list[str]) -> dict:
        row = {"image_path": (img_base / images[image_id]).as_posix()}
        if boxes is not None:
            row["boxes"] = json.dumps(boxes.get(image_id, []))
        if occupations is not None:
            hits = {t for c in texts for t in find_terms(c, occupations)}
            row["occupations"] = json.dumps([t for t in occupations if t in hits])
        return row

    if unit == "caption":
        rows = [{"item_id": str(a["id"]), "split": split, "image_id": str(a["image_id"]),
                 "caption": a["caption"], "gender": g, "image_gender": image_gender[a["image_id"]],
                 **common(a["image_id"], [a["caption"]])} for a, g in zip(anns, genders, strict=True)]
    elif unit == "image":
        rows = []
        for image_id, idx in per_image.items():
            texts = [anns[i]["caption"] for i in idx]
            rows.append({"item_id": str(image_id), "split": split, "caption": texts[0],
                         "captions": json.dumps(texts), "gender": image_gender[image_id],
                         **common(image_id, texts)})
    else:
        raise ValueError(f"unit must be 'caption' or 'image', got {unit!r}")
    return make_manifest(pd.DataFrame(rows), root=folder, name=f"coco-{split}-{unit}",
                         metadata={"source": "coco", "split": split, "unit": unit,
                                   "captions_file": str(cap_path)})
