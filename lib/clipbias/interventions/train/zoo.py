"""Train the synthetic zoo: every model of a zoo profile that is not in the checkpoint cache."""

from __future__ import annotations

import pandas as pd

from clipbias.data.synthetic import pretraining_dataset
from clipbias.interventions.train.loop import TrainedRun, TrainingData, train_tiny_clip
from clipbias.interventions.train.pool import run_in_processes
from clipbias.zoo.synthetic.catalog import synthetic_catalog
from clipbias.zoo.synthetic.checkpoints import read_metadata
from clipbias.zoo.synthetic.zoos import ZooEntry, zoo_entries
from clipbias.zoo.train_config import ZOO_TRAIN

__all__ = ["missing_zoo_models", "train_synthetic_zoo", "train_zoo_model"]


def train_zoo_model(entry: ZooEntry, *, force: bool = False) -> TrainedRun:
    """Train (or fetch) one zoo model: its architecture on its named dataset (world seed = model
    seed) under :data:`clipbias.zoo.train_config.ZOO_TRAIN`."""
    data = TrainingData(pretraining_dataset(entry.dataset).config, world_seed=entry.seed)
    return train_tiny_clip(entry.arch, data, train=ZOO_TRAIN, seed=entry.seed, force=force)


def missing_zoo_models(zoo: str = "default") -> list[ZooEntry]:
    """The entries of zoo profile ``zoo`` whose checkpoints are not in the cache yet."""
    return [entry for entry in zoo_entries(zoo) if read_metadata(entry.key()) is None]


def _train_entry(entry: ZooEntry) -> str:
    """Worker body: train one entry; return its model id."""
    train_zoo_model(entry)
    return entry.model_id


def train_synthetic_zoo(zoo: str = "default", *, progress: bool = True, threads: int | None = 1,
                        workers: int | None = None) -> pd.DataFrame:
    """Train the models of zoo profile ``zoo`` (:func:`clipbias.zoo.synthetic.zoos.zoo_entries`)
    that are missing and return their catalog rows (:data:`clipbias.zoo.schema.CATALOG_COLUMNS`).

    Models train in ``workers`` processes at once (default: one per CPU core), each with
    ``threads`` torch threads (``None`` keeps torch's default); one thread per process is
    deliberate (:mod:`clipbias.interventions.train.pool`). Cached models cost only a metadata read.
    """
    missing = missing_zoo_models(zoo)
    run_in_processes(_train_entry, [(entry,) for entry in missing], workers=workers,
                     threads=threads, desc=f"synthetic zoo {zoo!r}", progress=progress)
    return synthetic_catalog(zoo)
