"""Tiny-CLIP training on the synthetic world: single runs, the synthetic zoo, the validation sweep.

``train_tiny_clip`` trains (or fetches from the checkpoint cache) one model, optionally with
reweighted/subsampled data, a switch of data mid-training, or from a trained checkpoint;
``train_synthetic_zoo`` trains a zoo profile; ``planted_bias_sweep`` trains models over planted
levels and measures EAT effect sizes, retrieval skew and zero-shot accuracy.
"""

from clipbias.interventions.train.loop import (
    TrainedRun,
    TrainingData,
    load_state,
    train_tiny_clip,
    zero_shot_accuracy,
)
from clipbias.interventions.train.validation import (
    SweepConfig,
    planted_bias_sweep,
    sweep_summary,
)
from clipbias.interventions.train.zoo import (
    missing_zoo_models,
    train_synthetic_zoo,
    train_zoo_model,
)
from clipbias.zoo.tiny import ZOO_TRAIN, TrainConfig

__all__ = [
    "ZOO_TRAIN",
    "SweepConfig",
    "TrainConfig",
    "TrainedRun",
    "TrainingData",
    "load_state",
    "missing_zoo_models",
    "planted_bias_sweep",
    "sweep_summary",
    "train_synthetic_zoo",
    "train_tiny_clip",
    "train_zoo_model",
    "zero_shot_accuracy",
]
