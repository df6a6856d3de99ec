"""Tiny-CLIP training on the synthetic world: single runs, the synthetic zoo, the validation sweep.

``train_tiny_clip`` trains (or fetches from the checkpoint cache) one model, optionally with
reweighted/subsampled data, a switch of data mid-training, or from a trained checkpoint;
``train_synthetic_zoo`` trains a zoo profile (the validation sweep that also measures the trained
models lives in :mod:`clipbias.studies.synthetic_validation`).
"""

from clipbias.interventions.train.loop import (
    TrainedRun,
    TrainingData,
    benchmark_accuracy,
    load_state,
    train_tiny_clip,
)
from clipbias.interventions.train.pool import run_in_processes
from clipbias.interventions.train.zoo import (
    missing_zoo_models,
    train_synthetic_zoo,
    train_zoo_model,
)
from clipbias.zoo.train_config import ZOO_TRAIN, TrainConfig

__all__ = [
    "ZOO_TRAIN",
    "TrainConfig",
    "TrainedRun",
    "TrainingData",
    "benchmark_accuracy",
    "load_state",
    "missing_zoo_models",
    "run_in_processes",
    "train_synthetic_zoo",
    "train_tiny_clip",
    "train_zoo_model",
]
