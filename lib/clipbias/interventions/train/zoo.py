"""Train the synthetic zoo: every model of a zoo profile that is not in the checkpoint cache."""

from __future__ import annotations

import pandas as pd
import torch

from clipbias.data.synthetic import pretraining_dataset
from clipbias.interventions.train.loop import TrainedRun, TrainingData, train_tiny_clip
from clipbias.progress import progress as progress_bar
from clipbias.zoo.tiny import ZOO_TRAIN, ZooEntry, synthetic_catalog, zoo_entries

__all__ = ["train_synthetic_zoo", "train_zoo_model"]


def train_zoo_model(entry: ZooEntry, *, force: bool = False) -> TrainedRun:
    """Train (or fetch) one zoo model: its architecture on its named dataset (world seed = model
    seed) under :data:`clipbias.zoo.tiny.ZOO_TRAIN`."""
    data = TrainingData(pretraining_dataset(entry.dataset).config, world_seed=entry.seed)
    return train_tiny_clip(entry.arch, data, train=ZOO_TRAIN, seed=entry.seed, force=force)


def train_synthetic_zoo(zoo: str = "default", *, progress: bool = True,
                        threads: int | None = 1) -> pd.DataFrame:
    """Train the models of zoo profile ``zoo`` (``"default"``: 24, ``"ci"``: 8) that are missing
    and return their catalog rows (:data:`clipbias.zoo.schema.CATALOG_COLUMNS`).

    ``threads`` sets ``torch.set_num_threads`` for the duration (None keeps the current value).
    The default 1 is deliberate: tiny models gain little from intra-op threads on a quiet CPU
    and lose several-fold when other processes share it (measured on a 2-core machine), and a
    fixed thread count keeps training bit-for-bit reproducible. Cached models cost only a
    metadata read.
    """
    entries = zoo_entries(zoo)
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        bar = progress_bar(entries, desc=f"synthetic zoo {zoo!r}", unit="model") if progress \
            else entries
        for entry in bar:
            train_zoo_model(entry)
    finally:
        torch.set_num_threads(before)
    return synthetic_catalog(zoo)
