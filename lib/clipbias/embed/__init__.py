"""Batched embedding engine and the content-addressed embedding store.

- :func:`embed_images`, :func:`embed_texts`: the engine (the one place a forward pass runs for
  measurement); outputs are :class:`EmbeddingResult` (float32, L2-normalised, input order).
- :class:`EmbeddingStore`, :class:`StoreKey`: embeddings on disk, in checked, atomic shards;
  :func:`cached_embed_images`, :func:`cached_embed_texts` embed through it.
- :func:`run_zoo`: many models x many inputs, one load per model, ``local`` or ``ray`` executor.
"""

from clipbias.embed.batching import AdaptiveBatcher, auto_batch_size, is_out_of_memory
from clipbias.embed.cached import cached_embed_images, cached_embed_texts, image_key, text_key
from clipbias.embed.engine import compute_precision, embed_images, embed_texts
from clipbias.embed.result import EmbeddingBatch, EmbeddingResult
from clipbias.embed.runner import TextSet, ZooRun, embed_model_inputs, run_zoo
from clipbias.embed.store import EmbeddingStore, ShardError, StoreKey

__all__ = [
    "AdaptiveBatcher",
    "EmbeddingBatch",
    "EmbeddingResult",
    "EmbeddingStore",
    "ShardError",
    "StoreKey",
    "TextSet",
    "ZooRun",
    "auto_batch_size",
    "cached_embed_images",
    "cached_embed_texts",
    "compute_precision",
    "embed_images",
    "embed_model_inputs",
    "embed_texts",
    "image_key",
    "is_out_of_memory",
    "run_zoo",
    "text_key",
]
