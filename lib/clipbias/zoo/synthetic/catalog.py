"""Catalog rows of a synthetic zoo profile (columns :data:`clipbias.zoo.schema.CATALOG_COLUMNS`)."""

from __future__ import annotations

import math

import pandas as pd

from clipbias.data.synthetic import pretraining_dataset
from clipbias.zoo.params import count_parameters
from clipbias.zoo.schema import CATALOG_COLUMNS
from clipbias.zoo.synthetic.architectures import (
    TINY_CONFIGS,
    register_tiny_configs,
    synthetic_arch_family,
)
from clipbias.zoo.synthetic.checkpoints import read_metadata
from clipbias.zoo.synthetic.zoos import zoo_entries
from clipbias.zoo.train_config import ZOO_TRAIN

__all__ = ["synthetic_catalog"]


def synthetic_catalog(zoo: str = "default") -> pd.DataFrame:
    """Catalog rows of a synthetic zoo, columns :data:`CATALOG_COLUMNS`.

    Parameter counts come from :func:`clipbias.zoo.params.count_parameters` (the same rule as
    the real models). ``downstream_score`` is the zero-shot concept accuracy on the held-out
    synthetic benchmark for trained models, NaN for models not trained yet.
    """
    register_tiny_configs()
    counts = {arch: count_parameters(arch) for arch in TINY_CONFIGS}
    rows = []
    for entry in zoo_entries(zoo):
        data = pretraining_dataset(entry.dataset)
        meta = read_metadata(entry.key())
        cfg = TINY_CONFIGS[entry.arch]
        rows.append({
            "model_id": entry.model_id, "arch": entry.arch,
            "tag": entry.model_id.partition("/")[2], "source": "synthetic",
            "arch_family": synthetic_arch_family(entry.arch),
            "pretraining_dataset": entry.dataset, "dataset_family": data.family,
            "dataset_size": float(data.config.size), "dataset_size_source": "synthetic config",
            "samples_seen": float(ZOO_TRAIN.steps * ZOO_TRAIN.batch_size),
            "batch_size": float(ZOO_TRAIN.batch_size),
            **{col: counts[entry.arch][col]
               for col in ("params_total", "params_image", "params_text")},
            "image_size": float(cfg["vision_cfg"]["image_size"]),
            "embed_dim": float(cfg["embed_dim"]), "alias_of": None,
            "downstream_score": float(meta["zero_shot_accuracy"]) if meta else math.nan,
        })
    return pd.DataFrame(rows, columns=list(CATALOG_COLUMNS))
