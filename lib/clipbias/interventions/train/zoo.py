"""Train the synthetic zoo: every model of a zoo profile that is not in the checkpoint cache."""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor, as_completed

import pandas as pd
import torch

from clipbias.data.synthetic import pretraining_dataset
from clipbias.interventions.train.loop import TrainedRun, TrainingData, train_tiny_clip
from clipbias.progress import progress as progress_bar
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


def _train_in_worker(entry: ZooEntry, threads: int | None) -> str:
    """Worker-process body: train one entry with ``threads`` torch threads; return its id."""
    if threads is not None:
        torch.set_num_threads(threads)
    train_zoo_model(entry)
    return entry.model_id


def _train_here(entries: list[ZooEntry], threads: int | None, bar) -> None:
    """Train ``entries`` one after another in this process with ``threads`` torch threads."""
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        for entry in entries:
            train_zoo_model(entry)
            bar.update()
    finally:
        torch.set_num_threads(before)


def _train_in_processes(entries: list[ZooEntry], threads: int | None, workers: int, bar) -> None:
    """Train ``entries`` in ``workers`` spawned processes; the first failure cancels the rest."""
    # spawn, not fork: the parent may hold torch's thread pools (and a notebook kernel's).
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = [pool.submit(_train_in_worker, entry, threads) for entry in entries]
        try:
            for future in as_completed(futures):
                future.result()
                bar.update()
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise


def train_synthetic_zoo(zoo: str = "default", *, progress: bool = True, threads: int | None = 1,
                        workers: int | None = None) -> pd.DataFrame:
    """Train the models of zoo profile ``zoo`` (``"default"``: 24, ``"ci"``: 8) that are missing
    and return their catalog rows (:data:`clipbias.zoo.schema.CATALOG_COLUMNS`).

    Models train in ``workers`` processes at once (default: one per CPU core, at most one per
    missing model), each with ``threads`` torch threads (``None`` keeps torch's default). One
    thread per process is deliberate: tiny models gain little from intra-op threads and lose
    several-fold when processes share cores (measured on a 2-core machine), while whole models in
    parallel scale with the cores; and a fixed thread count keeps every checkpoint bit-for-bit
    the same as a sequential run's. Cached models cost only a metadata read.
    """
    missing = missing_zoo_models(zoo)
    if workers is None:
        workers = os.cpu_count() or 1
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    workers = min(workers, len(missing))
    bar = progress_bar(total=len(missing), desc=f"synthetic zoo {zoo!r}", unit="model",
                       disable=not progress)
    try:
        if workers == 1:
            _train_here(missing, threads, bar)
        elif workers > 1:
            _train_in_processes(missing, threads, workers, bar)
    finally:
        bar.close()
    return synthetic_catalog(zoo)
