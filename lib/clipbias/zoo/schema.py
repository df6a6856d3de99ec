"""The catalog's columns, shared by the real and the synthetic catalog rows."""

from __future__ import annotations

__all__ = ["CATALOG_COLUMNS"]

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
