"""Batched embedding engine and the content-addressed embedding store.

- :func:`embed_images`, :func:`embed_texts`: the engine (the one place a forward pass runs for
  measurement); outputs are :class:`EmbeddingResult` (float32, L2-normalised, input order).
- :class:`EmbeddingStore`, :class:`StoreKey`: embeddings on disk, in checked, atomic shards;
  :func:`cached_embed_images`, :func:`cached_embed_texts` embed through it.
- :func:`run_zoo`: many models x many inputs (:class:`TextSet` for texts), one load per model,
  ``local`` or ``ray`` executor; returns a :class:`ZooRun`.

The machinery (batch sizing, store keys, shards) lives in the submodules ``batching``,
``cached``, ``engine``, ``inputs``, ``result``, ``runner`` and ``store``.
"""

from clipbias.embed.cached import cached_embed_images, cached_embed_texts
from clipbias.embed.engine import embed_images, embed_texts
from clipbias.embed.result import EmbeddingResult
from clipbias.embed.runner import TextSet, ZooRun, run_zoo
from clipbias.embed.store import EmbeddingStore, StoreKey

__all__ = [
    "EmbeddingResult",
    "EmbeddingStore",
    "StoreKey",
    "TextSet",
    "ZooRun",
    "cached_embed_images",
    "cached_embed_texts",
    "embed_images",
    "embed_texts",
    "run_zoo",
]
