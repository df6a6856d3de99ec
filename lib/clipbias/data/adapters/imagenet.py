"""ImageNet-style class folders: ``<root>/<split>/<class id>/<image>``.

Class names come from an optional mapping file with lines ``<class id> <name>[, <synonym>...]``
(ImageNet's ``LOC_synset_mapping.txt``); the first name becomes the ``concept``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from clipbias.data.adapters.base import DatasetNotFoundError, list_images, require, resolve_root
from clipbias.data.manifest import Manifest, make_manifest

__all__ = ["load_class_folders", "read_class_names"]


def read_class_names(path: str | Path) -> dict[str, str]:
    """``{class id: first name}`` from a mapping file of lines ``n01440764 tench, Tinca tinca``."""
    names = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.strip():
            class_id, _, rest = line.strip().partition(" ")
            names[class_id] = rest.split(",")[0].strip() or class_id
    return names


def load_class_folders(root: str | Path | None = None, *, split: str | None = "val",
                       class_names: Mapping[str, str] | str | Path | None = None,
                       dataset: str = "imagenet") -> Manifest:
    """Manifest of a class-folder image set: ``item_id, split, image_path, label, concept``.

    Images are read from ``<root>/<split>/<class>/`` (or ``<root>/<class>/`` with split ``"all"``
    when ``split`` is None). ``label`` is the class folder name; ``concept`` its human-readable name
    from ``class_names`` (a mapping, or a mapping file; default ``<root>/LOC_synset_mapping.txt``
    when it exists, else the folder name). ``root`` defaults to the registry folder of ``dataset``.
    """
    folder = resolve_root(dataset, root)
    base = require(dataset, folder / split if split else folder, folder=folder)
    if class_names is None and (folder / "LOC_synset_mapping.txt").is_file():
        class_names = folder / "LOC_synset_mapping.txt"
    names = read_class_names(class_names) if isinstance(class_names, (str, Path)) else dict(class_names or {})
    rows = []
    for cls in sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for img in list_images(cls):
            rel = img.relative_to(folder).as_posix()
            rows.append({"item_id": rel, "split": split or "all", "image_path": rel,
                         "label": cls.name, "concept": names.get(cls.name, cls.name)})
    if not rows:
        raise DatasetNotFoundError(dataset, base, folder=folder,
                                   detail="no <class>/<image> files in it")
    return make_manifest(pd.DataFrame(rows), root=folder, name=f"{dataset}-{split or 'all'}",
                         metadata={"source": dataset, "classes": len(set(r["label"] for r in rows))})
