"""The manifest: one table format for every dataset, real or synthetic.

A manifest is a :class:`pandas.DataFrame` with one row per item:

========== ======================================================================
column     meaning
========== ======================================================================
item_id    unique string id of the item (required)
split      e.g. ``"train"``, ``"test"``, ``"all"`` (required)
image_path image file, relative to the manifest's ``root`` or absolute (image sets)
caption    text of the item (text sets, or captions of image sets)
...        annotation columns: group labels (``gender``, ``race``, ``age``), concept labels,
           ``boxes`` (JSON list of ``[x0, y0, x1, y1]`` person boxes), anything else
========== ======================================================================

At least one of ``image_path`` and ``caption`` is present. :meth:`Manifest.digest` hashes the
table's content (column names, dtypes' text form and every value, in row order); that digest
keys the embedding store, so two manifests with the same rows share embeddings.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from clipbias.atomic import atomic_write_json, atomic_write_text

__all__ = ["Manifest", "MissingFiles", "load_manifest", "make_manifest", "save_manifest"]

REQUIRED_COLUMNS = ("item_id", "split")
CONTENT_COLUMNS = ("image_path", "caption")


@dataclass(frozen=True)
class MissingFiles:
    """Image files a manifest names but the disk lacks."""

    count: int
    total: int
    examples: tuple[str, ...] = ()

    def __str__(self) -> str:
        shown = ", ".join(self.examples)
        return f"{self.count} of {self.total} image files missing" + (f" (e.g. {shown})" if shown else "")


@dataclass(frozen=True)
class Manifest:
    """A validated dataset table plus the folder its relative image paths start from.

    Build one with :func:`make_manifest` (which validates); do not mutate ``table``.
    """

    table: pd.DataFrame
    root: Path | None = None
    name: str = "manifest"
    metadata: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.table)

    @property
    def has_images(self) -> bool:
        """Whether the items are images (an ``image_path`` column exists)."""
        return "image_path" in self.table.columns

    def image_paths(self) -> list[Path]:
        """Absolute image paths in row order (relative paths are joined to ``root``)."""
        if not self.has_images:
            raise ValueError(f"manifest {self.name!r} has no image_path column")
        base = self.root or Path(".")
        return [p if p.is_absolute() else base / p for p in map(Path, self.table["image_path"])]

    def missing_files(self, max_examples: int = 5) -> MissingFiles:
        """Count image files that do not exist (an empty report for text manifests)."""
        if not self.has_images:
            return MissingFiles(0, len(self))
        missing = [str(p) for p in self.image_paths() if not p.is_file()]
        return MissingFiles(len(missing), len(self), tuple(missing[:max_examples]))

    def digest(self) -> str:
        """SHA-256 (hex) of the table content; the key under which embeddings are stored."""
        h = hashlib.sha256()
        h.update(json.dumps([list(map(str, self.table.columns)),
                             [str(t) for t in self.table.dtypes]]).encode())
        h.update(pd.util.hash_pandas_object(self.table, index=False).to_numpy().tobytes())
        return h.hexdigest()

    def subset(self, mask: pd.Series | list[bool]) -> Manifest:
        """A new manifest holding the rows where ``mask`` is true (same root and name)."""
        return Manifest(self.table[list(mask)].reset_index(drop=True), self.root, self.name,
                        dict(self.metadata))


def make_manifest(table: pd.DataFrame, *, root: str | Path | None = None, name: str = "manifest",
                  metadata: dict | None = None, require_files: bool = False) -> Manifest:
    """Validate ``table`` and wrap it as a :class:`Manifest`.

    Raises ``ValueError`` naming the problem when a required column is missing, neither
    ``image_path`` nor ``caption`` is present, ids are duplicated or empty, or (with
    ``require_files=True``) image files are missing.
    """
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"table must be a pandas DataFrame, got {type(table).__name__}")
    missing_cols = [c for c in REQUIRED_COLUMNS if c not in table.columns]
    if missing_cols:
        raise ValueError(f"manifest {name!r} lacks required column(s) {missing_cols}; "
                         f"it has {list(table.columns)}")
    if not any(c in table.columns for c in CONTENT_COLUMNS):
        raise ValueError(f"manifest {name!r} needs an 'image_path' or a 'caption' column")
    table = table.reset_index(drop=True).copy()
    table["item_id"] = table["item_id"].astype(str)
    if (table["item_id"].str.len() == 0).any():
        raise ValueError(f"manifest {name!r} has empty item ids")
    dup = table["item_id"][table["item_id"].duplicated()]
    if len(dup):
        raise ValueError(f"manifest {name!r} has {len(dup)} duplicate item id(s), "
                         f"e.g. {list(dup.unique()[:5])}")
    if "image_path" in table.columns:
        empty = table["image_path"].isna() | (table["image_path"].astype(str) == "")
        if empty.any():
            raise ValueError(f"manifest {name!r} has {int(empty.sum())} row(s) with an empty "
                             "image_path")
    manifest = Manifest(table, Path(root) if root is not None else None, name, dict(metadata or {}))
    if require_files:
        report = manifest.missing_files()
        if report.count:
            raise ValueError(f"manifest {name!r}: {report}")
    return manifest


def save_manifest(manifest: Manifest, path: str | Path) -> Path:
    """Write ``manifest`` as CSV at ``path`` plus a JSON sidecar (name, root, metadata, digest)."""
    path = Path(path)
    atomic_write_text(path, manifest.table.to_csv(index=False))
    atomic_write_json(path.with_suffix(".json"), {
        "name": manifest.name, "root": str(manifest.root) if manifest.root else None,
        "metadata": manifest.metadata, "digest": manifest.digest(),
        "dtypes": {c: str(t) for c, t in manifest.table.dtypes.items()},
    })
    return path


def load_manifest(path: str | Path) -> Manifest:
    """Read a manifest written by :func:`save_manifest` (validated again on load)."""
    path = Path(path)
    sidecar = json.loads(path.with_suffix(".json").read_text()) if path.with_suffix(".json").exists() else {}
    dtypes = sidecar.get("dtypes", {})
    table = pd.read_csv(path, dtype={c: t for c, t in dtypes.items() if t in ("object", "str", "string")},
                        keep_default_na=False, na_values=[""])
    for col, t in dtypes.items():
        if col in table.columns and t not in ("object", "str", "string"):
            table[col] = table[col].astype(t)
    return make_manifest(table, root=sidecar.get("root"), name=sidecar.get("name", path.stem),
                         metadata=sidecar.get("metadata"))
