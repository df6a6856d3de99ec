"""What every adapter shares: the "dataset not found" error and small file-system helpers."""

from __future__ import annotations

from pathlib import Path

from clipbias.data.adapters.sources import get_source

__all__ = ["IMAGE_EXTENSIONS", "DatasetNotFoundError", "list_images", "require", "resolve_root"]

#: File suffixes (lower case) counted as images when an adapter scans a folder.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif")


class DatasetNotFoundError(FileNotFoundError):
    """A dataset's files are absent; the message says what to download, from where, and where to
    put it (taken from the dataset registry unless ``how`` gives the instructions)."""

    def __init__(self, dataset: str, missing: str | Path, *, folder: str | Path | None = None,
                 detail: str = "", how: str | None = None) -> None:
        self.dataset = dataset
        self.missing = Path(missing)
        self.detail = detail
        self.how = how if how is not None else get_source(dataset).how_to_get(folder)
        extra = f" ({detail})" if detail else ""
        super().__init__(f"dataset {dataset!r} not found at {self.missing}{extra}.\n{self.how}")


def resolve_root(dataset: str, root: str | Path | None) -> Path:
    """The dataset folder: ``root`` if given, else the registry's folder under the data root."""
    return Path(root) if root is not None else get_source(dataset).folder()


def require(dataset: str, path: Path, *, folder: Path, detail: str = "") -> Path:
    """Return ``path`` if it exists, else raise :class:`DatasetNotFoundError` for ``dataset``
    (``folder`` is the dataset folder the caller looked in)."""
    if not path.exists():
        raise DatasetNotFoundError(dataset, path, folder=folder, detail=detail)
    return path


def list_images(folder: Path) -> list[Path]:
    """Image files directly in ``folder`` (by suffix, case-insensitive, hidden files skipped), sorted."""
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and not p.name.startswith(".")
                  and p.suffix.lower() in IMAGE_EXTENSIONS)
