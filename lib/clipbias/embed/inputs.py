"""Image inputs: normalise what callers pass, decode in (worker) processes, never crash on bad files.

A bad item (missing path, truncated JPEG, a text file named ``.png``, a transform that fails)
becomes a failure record ``(position, reason)``; the batch carries only the good tensors and the
positions they belong to, so rows never shift.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from clipbias.data.manifest import Manifest

__all__ = ["ImageBatch", "ImageDataset", "ImageSource", "collate_images", "describe_transform",
           "image_source", "texts_digest"]

ImageLike = str | Path | Image.Image


@dataclass(frozen=True)
class ImageSource:
    """Images to embed, in order: each item a path or an in-memory PIL image, with its id.

    ``digest`` identifies the inputs for the store (see :func:`image_source`).
    """

    items: tuple[Path | Image.Image, ...]
    item_ids: tuple[str, ...]
    digest: str


def _file_stamp(path: Path) -> str:
    try:
        st = path.stat()
    except OSError:
        return f"{path}|missing"
    return f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"


def image_source(images: Sequence[ImageLike] | Manifest) -> ImageSource:
    """Normalise a manifest, a sequence of paths or a sequence of PIL images to an :class:`ImageSource`.

    Item ids: a manifest's ``item_id``; a path's string form; ``"image-<position>"`` for a PIL
    image. The digest hashes, in order, the manifest digest (if any) and, per item, the absolute
    path with the file's size and modification time (so two manifests with equal tables under
    different roots, or a regenerated image set, never share embeddings), or the pixels of a
    PIL image. Raises ``ValueError`` for a manifest without images, ``TypeError`` for other types.
    """
    h = hashlib.sha256()
    if isinstance(images, Manifest):
        h.update(f"manifest:{images.digest()}\n".encode())
        items: list[Path | Image.Image] = list(images.image_paths())
        ids = list(images.table["item_id"].astype(str))
    elif isinstance(images, (str, Path, Image.Image)):
        raise TypeError("images must be a sequence of images or a Manifest, not a single item")
    else:
        items, ids = [], []
        for i, item in enumerate(images):
            if isinstance(item, Image.Image):
                items.append(item)
                ids.append(f"image-{i}")
            elif isinstance(item, (str, Path)):
                items.append(Path(item))
                ids.append(str(item))
            else:
                raise TypeError(f"image {i} is a {type(item).__name__}; "
                                "expected a path or a PIL image")
    for item in items:
        if isinstance(item, Image.Image):
            h.update(f"pil:{item.mode}:{item.size}:".encode())
            h.update(hashlib.sha256(item.tobytes()).digest())
        else:
            h.update(f"file:{_file_stamp(item)}\n".encode())
    return ImageSource(tuple(items), tuple(ids), h.hexdigest())


_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def describe_transform(transform: Any) -> str:
    """A deterministic text description of a preprocess transform (its repr, addresses removed)."""
    return _ADDRESS.sub("", repr(transform))


def texts_digest(texts: Sequence[str], templates: Sequence[str] | None = None) -> str:
    """SHA-256 (hex) of the texts and, if given, the templates (order matters)."""
    h = hashlib.sha256()
    for part in ("texts", *texts, "templates", *(templates or ())):
        data = part.encode("utf-8")
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    h.update(b"with-templates" if templates is not None else b"plain")
    return h.hexdigest()


def _open_rgb(item: Path | Image.Image) -> Image.Image:
    if isinstance(item, Image.Image):
        return item.convert("RGB")
    with Image.open(item) as img:
        img.load()  # decode fully now: truncated files fail here, not later
        return img.convert("RGB")


class ImageDataset(torch.utils.data.Dataset):
    """Decodes and transforms the images at ``positions`` of ``items``.

    ``__getitem__(k)`` returns ``(position, tensor or None, reason or None)``; it never raises for
    a bad image.
    """

    def __init__(self, items: Sequence[Path | Image.Image], positions: np.ndarray,
                 transform: Callable[[Image.Image], torch.Tensor]) -> None:
        self.items = items
        self.positions = np.asarray(positions, dtype=np.int64)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.positions)

    def __getitem__(self, k: int) -> tuple[int, torch.Tensor | None, str | None]:
        pos = int(self.positions[k])
        try:
            tensor = self.transform(_open_rgb(self.items[pos]))
        except Exception as exc:  # any failure to read or transform is reported, not raised
            return pos, None, f"{type(exc).__name__}: {exc}"
        if not isinstance(tensor, torch.Tensor):
            return pos, None, f"transform returned {type(tensor).__name__}, not a tensor"
        return pos, tensor, None


@dataclass
class ImageBatch:
    """A collated batch: good tensors (b, C, H, W) at ``positions`` (b,), failures aside."""

    positions: torch.Tensor
    pixels: torch.Tensor | None
    failures: list[tuple[int, str]]

    def pin_memory(self) -> ImageBatch:
        """Pin the pixel tensor (called by the DataLoader when ``pin_memory=True``)."""
        if self.pixels is not None:
            self.pixels = self.pixels.pin_memory()
        return self


def collate_images(samples: list[tuple[int, torch.Tensor | None, str | None]]) -> ImageBatch:
    """Stack the good samples; keep ``(position, reason)`` for the bad ones.

    A tensor whose shape differs from the batch's first good tensor is reported as a failure.
    """
    good = [(p, t) for p, t, _ in samples if t is not None]
    failures = [(p, str(r)) for p, t, r in samples if t is None]
    if good:
        shape = good[0][1].shape
        failures += [(p, f"transform gave shape {tuple(t.shape)}, expected {tuple(shape)}")
                     for p, t in good if t.shape != shape]
        good = [(p, t) for p, t in good if t.shape == shape]
    positions = torch.tensor([p for p, _ in good], dtype=torch.int64)
    pixels = torch.stack([t for _, t in good]) if good else None
    return ImageBatch(positions, pixels, failures)
