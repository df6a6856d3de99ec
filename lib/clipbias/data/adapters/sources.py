"""The dataset registry: where each dataset comes from, what it holds, its licence and layout.

Read from ``resources/datasets.yaml``. The adapters use it to say what to download when data is
absent; :mod:`clipbias.data.fetch` uses it to download (``kind: download``) or to print the
instructions (``kind: manual``, for datasets behind a licence click-through or a registration).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from clipbias.data.word_lists import load_resource
from clipbias.paths import data_root

__all__ = ["ARCHIVE_TYPES", "DatasetSource", "get_source", "source_names"]

#: Archive formats a fetch can unpack (``file`` is a single file kept as is).
ARCHIVE_TYPES = ("tar.gz", "tar", "zip", "file")


@dataclass(frozen=True)
class DatasetSource:
    """One registry entry (see ``resources/datasets.yaml`` for the meaning of each field)."""

    name: str
    title: str
    kind: str                # "download" or "manual"
    url: str
    revision: str
    sha256: str | None       # None: not known offline; a fetch then needs --sha256 or --trust-unverified
    archive: str
    filename: str | None
    strip_top: bool
    subdir: str | None
    dest: str                # folder under the data root
    layout: str
    contains: str
    licence: str
    homepage: str
    instructions: str = ""
    note: str = ""

    def __post_init__(self) -> None:
        if self.kind not in ("download", "manual"):
            raise ValueError(f"dataset {self.name!r}: kind must be 'download' or 'manual'")
        if self.archive not in ARCHIVE_TYPES:
            raise ValueError(f"dataset {self.name!r}: archive must be one of {ARCHIVE_TYPES}")
        if self.sha256 is not None and (len(self.sha256) != 64
                                        or any(c not in "0123456789abcdef" for c in self.sha256)):
            raise ValueError(f"dataset {self.name!r}: sha256 must be 64 lower-case hex digits")
        if self.kind == "download" and not self.filename:
            raise ValueError(f"dataset {self.name!r}: a downloadable item needs a filename")

    def folder(self, root: str | Path | None = None) -> Path:
        """Where the dataset lives: ``<root or data_root()>/<dest>``."""
        return (Path(root) if root is not None else data_root()) / self.dest

    def how_to_get(self, folder: str | Path | None = None) -> str:
        """A human-readable paragraph: what to download, from where, and where to put it.

        ``folder`` is where the caller looked for the dataset (default :meth:`folder`).
        """
        where = Path(folder) if folder is not None else self.folder()
        lines = [f"{self.title}: {self.contains}", f"Licence: {self.licence}"]
        if self.kind == "download":
            lines.append(f"Get it with:  python -m clipbias data fetch {self.name}")
            lines.append(f"(or download {self.url} and unpack it yourself)")
        else:
            lines.append(f"It cannot be downloaded automatically. {self.instructions}")
            lines.append(f"Download from: {self.url}")
        lines.append(f"Put it at {where} with this layout: {self.layout}")
        if self.note:
            lines.append(f"Note: {self.note}")
        lines.append("(the data root is set by the environment variable CLIPBIAS_DATA)")
        return "\n".join(lines)


def source_names() -> list[str]:
    """Names of the registered datasets, sorted."""
    return sorted(load_resource("datasets.yaml")["datasets"])


def get_source(name: str) -> DatasetSource:
    """The registry entry ``name``; a ``ValueError`` lists the known names if it is unknown."""
    entries = load_resource("datasets.yaml")["datasets"]
    if name not in entries:
        raise ValueError(f"unknown dataset {name!r}; known datasets: {sorted(entries)}")
    return DatasetSource(name=name, **entries[name])
