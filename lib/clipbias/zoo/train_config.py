"""The training settings that define a synthetic checkpoint (plain data; enters its key).

The training loop itself lives in :mod:`clipbias.interventions.train`; the zoo only needs these
settings to name and find checkpoints, so they live here and the zoo never imports upward.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

__all__ = ["ZOO_TRAIN", "TrainConfig"]


@dataclass(frozen=True)
class TrainConfig:
    """Knobs of tiny-CLIP training (AdamW, linear warm-up then cosine decay, open_clip ClipLoss)."""

    steps: int = 300               # optimisation steps
    batch_size: int = 64           # image-caption pairs per step
    lr: float = 2e-3               # peak learning rate
    warmup: int = 20               # linear warm-up steps
    weight_decay: float = 0.1      # AdamW weight decay on matrices (not on gains, biases)
    eval_size: int = 1200          # held-out benchmark images for zero-shot accuracy

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "eval_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"TrainConfig: {name} must be >= 1, got {getattr(self, name)}")
        if not 0 <= self.warmup <= self.steps:
            raise ValueError(f"TrainConfig: warmup must be in [0, steps], got {self.warmup}")
        if self.lr <= 0 or self.weight_decay < 0:
            raise ValueError("TrainConfig: lr must be > 0 and weight_decay >= 0")

    def to_dict(self) -> dict:
        """The knobs as a plain dict."""
        return dataclasses.asdict(self)


#: Training knobs of every zoo model.
ZOO_TRAIN = TrainConfig()
