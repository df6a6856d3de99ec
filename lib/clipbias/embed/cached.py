"""Embedding through the store: build the content key, then compute only the missing shards."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PIL import Image

from clipbias.data.manifest import Manifest
from clipbias.embed.engine import (
    check_templates,
    compute_precision,
    embed_dim,
    iter_image_embeddings,
    iter_text_embeddings,
    resolve_device,
    text_source,
    tokenizer_description,
)
from clipbias.embed.inputs import ImageSource, describe_transform, image_source, texts_digest
from clipbias.embed.result import EmbeddingResult
from clipbias.embed.store import EmbeddingStore, StoreKey
from clipbias.loaded_model import LoadedModel

__all__ = ["cached_embed_images", "cached_embed_texts", "image_key", "text_key"]


def image_key(model: LoadedModel, images: Sequence[str | Path | Image.Image] | Manifest, *,
              device: str | None = None) -> StoreKey:
    """The store key of ``images`` embedded by ``model`` on ``device`` (default the model's)."""
    return _image_key(model, image_source(images), device)


def _image_key(model: LoadedModel, source: ImageSource, device: str | None) -> StoreKey:
    dev = resolve_device(model, device)
    return StoreKey("image", model.model_id, model.weights_digest,
                    describe_transform(model.preprocess), compute_precision(model, dev),
                    source.digest)


def text_key(model: LoadedModel, texts: Sequence[str] | Manifest, *,
             templates: Sequence[str] | None = None, device: str | None = None) -> StoreKey:
    """The store key of ``texts`` (with ``templates``) embedded by ``model`` on ``device``."""
    return _text_key(model, text_source(texts)[0], templates, device)


def _text_key(model: LoadedModel, text_list: list[str], templates: Sequence[str] | None,
              device: str | None) -> StoreKey:
    dev = resolve_device(model, device)
    return StoreKey("text", model.model_id, model.weights_digest, tokenizer_description(model),
                    compute_precision(model, dev), texts_digest(text_list, check_templates(templates)))


def cached_embed_images(model: LoadedModel,
                        images: Sequence[str | Path | Image.Image] | Manifest, *,
                        store: EmbeddingStore | None = None, batch_size: int | None = None,
                        device: str | None = None, num_workers: int | None = None,
                        compile: bool = False, progress: bool = True) -> EmbeddingResult:
    """:func:`~clipbias.embed.embed_images` through ``store`` (default: the cache's store).

    Returns the same (n, d) result; only shards missing from the store are computed, and
    ``meta["computed_shards"]`` says how many.
    """
    store = store if store is not None else EmbeddingStore()
    source = image_source(images)  # read once: the key and the computation share it
    key = _image_key(model, source, device)

    def compute(positions):
        return iter_image_embeddings(model, source, positions, batch_size=batch_size,
                                     device=device, num_workers=num_workers, compile=compile,
                                     progress=progress)

    return store.get_or_compute(key, source.item_ids, compute, dim=embed_dim(model))


def cached_embed_texts(model: LoadedModel, texts: Sequence[str] | Manifest, *,
                       templates: Sequence[str] | None = None,
                       store: EmbeddingStore | None = None, batch_size: int | None = None,
                       device: str | None = None, progress: bool = True) -> EmbeddingResult:
    """:func:`~clipbias.embed.embed_texts` through ``store``; output (n, d) as there."""
    store = store if store is not None else EmbeddingStore()
    text_list, ids = text_source(texts)  # read once: the key and the computation share it
    key = _text_key(model, text_list, templates, device)

    def compute(positions):
        return iter_text_embeddings(model, text_list, positions, templates=templates,
                                    batch_size=batch_size, device=device, progress=progress)

    return store.get_or_compute(key, ids, compute, dim=embed_dim(model))
