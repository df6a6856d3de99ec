"""Shared shapes of the zoo layer: the catalog's columns and what loading a model returns."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

__all__ = ["CATALOG_COLUMNS", "LoadedModel"]

#: Columns of :func:`clipbias.zoo.catalog`, in order. Real and synthetic rows share them.
CATALOG_COLUMNS: tuple[str, ...] = (
    "model_id",             # "ARCH/TAG", unique
    "arch",                 # open_clip model config name
    "tag",                  # pretrained tag (or checkpoint / synthetic tag)
    "source",               # "open_clip", "scaling_laws" or "synthetic"
    "arch_family",          # family by Ghate et al.'s rules (CoCa, EVA, ViT, ...)
    "pretraining_dataset",  # dataset name as the tag states it (e.g. "laion2b")
    "dataset_family",       # family by keyword (laion, datacomp, ...)
    "dataset_size",         # number of image-text pairs (public figure), float, NaN if unknown
    "dataset_size_source",  # where dataset_size comes from
    "samples_seen",         # training samples seen, where the tag or source states it
    "batch_size",           # global batch size, where the tag or source states it
    "params_total",         # parameters of the whole model, counted from the config
    "params_image",         # parameters of the image tower
    "params_text",          # parameters of the text tower
    "image_size",           # input resolution (pixels, square)
    "embed_dim",            # joint embedding dimension
    "alias_of",             # model_id of the same weights under another name, else None
    "downstream_score",     # downstream performance figure where known (synthetic: zero-shot acc)
)


@dataclass
class LoadedModel:
    """A model ready for embedding: the network, its image transform and its tokenizer.

    ``weights_digest`` identifies the weights (sha256 of the checkpoint file or of the
    pretrained tag's published hash, or of the state dict) and keys the embedding store.
    Unpacks like open_clip's triple: ``model, preprocess, tokenizer = load(...)``.
    """

    model: torch.nn.Module
    preprocess: Callable[[Any], torch.Tensor]
    tokenizer: Callable[..., torch.Tensor]
    model_id: str
    weights_digest: str
    precision: str = "fp32"
    device: str = "cpu"

    def __iter__(self):
        return iter((self.model, self.preprocess, self.tokenizer))
