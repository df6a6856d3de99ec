"""iEAT image stimuli (Steed and Caliskan 2021): one folder per test, one subfolder per category.

Layout: ``<root>/<test>/<category>/<image>``, e.g. ``insect-flower/flower/*.jpg`` or
``race/european-american/*.jpg`` (``python -m clipbias data fetch ieat`` puts the repository's
``data/experiments`` there).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from clipbias.data.adapters.base import DatasetNotFoundError, list_images, require, resolve_root
from clipbias.data.manifest import Manifest, make_manifest

__all__ = ["load_ieat"]


def load_ieat(root: str | Path | None = None, *,
              folders: Sequence[str] | None = None) -> Manifest:
    """Manifest of iEAT images: ``item_id, split ("all"), image_path, test, concept``.

    ``root`` defaults to ``<data root>/ieat``. ``folders`` limits the scan to ``"<test>"`` or
    ``"<test>/<category>"`` folders (all tests when None); a named folder that is absent or holds no
    image raises :class:`DatasetNotFoundError`. ``item_id`` is the image path relative to ``root``.
    """
    folder = resolve_root("ieat", root)
    require("ieat", folder, folder=folder)
    if folders is None:
        categories = sorted(c for t in folder.iterdir() if t.is_dir() and not t.name.startswith(".")
                            for c in t.iterdir() if c.is_dir() and not c.name.startswith("."))
    else:
        categories = []
        for name in folders:
            path = require("ieat", folder / name, folder=folder,
                           detail=f"the iEAT folder {name!r} is absent")
            parts = Path(name).parts
            if len(parts) == 2:
                categories.append(path)
            elif len(parts) == 1:
                categories.extend(sorted(c for c in path.iterdir() if c.is_dir()))
            else:
                raise ValueError(f"iEAT folder must be '<test>' or '<test>/<category>', got {name!r}")
    rows = []
    for cat in categories:
        images = list_images(cat)
        if folders is not None and not images:
            raise DatasetNotFoundError("ieat", cat, folder=folder, detail="the folder holds no image")
        for img in images:
            rel = img.relative_to(folder).as_posix()
            rows.append({"item_id": rel, "split": "all", "image_path": rel,
                         "test": cat.parent.name, "concept": cat.name})
    if not rows:
        raise DatasetNotFoundError("ieat", folder, folder=folder,
                                   detail="no <test>/<category>/<image> files in it")
    return make_manifest(pd.DataFrame(rows), root=folder, name="ieat", metadata={"source": "ieat"})
