"""The synthetic zoo profiles: which (architecture, dataset, seed) models a zoo holds."""

from __future__ import annotations

from dataclasses import dataclass

from clipbias.data.synthetic import PRETRAINING_DATASETS, pretraining_dataset
from clipbias.zoo.synthetic.architectures import TINY_CONFIGS
from clipbias.zoo.synthetic.checkpoints import checkpoint_key, data_key
from clipbias.zoo.train_config import ZOO_TRAIN

__all__ = ["ZOOS", "ZooEntry", "zoo_entries"]


@dataclass(frozen=True)
class ZooEntry:
    """One model of a synthetic zoo."""

    arch: str      # registered architecture name
    dataset: str   # named pretraining dataset
    seed: int      # training seed (the world seed too)

    @property
    def model_id(self) -> str:
        """``"ARCH/DATASET_sSEED"``."""
        return f"{self.arch}/{self.dataset}_s{self.seed}"

    def key(self) -> str:
        """Checkpoint key of this model under :data:`~clipbias.zoo.train_config.ZOO_TRAIN`."""
        config = pretraining_dataset(self.dataset).config
        return checkpoint_key(self.arch, [(data_key(config, world_seed=self.seed), 0.0)],
                              ZOO_TRAIN, seed=self.seed)


#: Zoo profiles: ``default`` (24 models: 6 datasets x 4 architectures), ``ci`` (8 models).
ZOOS: dict[str, tuple[ZooEntry, ...]] = {
    "default": tuple(ZooEntry(a, d, 0) for d in PRETRAINING_DATASETS for a in TINY_CONFIGS),
    "ci": tuple(ZooEntry(a, d, 0) for d in ("fair-s", "fair-l", "skew-s", "skew-l")
                for a in ("synthetic-vit-s", "synthetic-rn-s")),
}


def zoo_entries(zoo: str = "default") -> tuple[ZooEntry, ...]:
    """The models of a zoo profile; ``ValueError`` naming the known profiles otherwise."""
    if zoo not in ZOOS:
        raise ValueError(f"unknown synthetic zoo {zoo!r}; known: {sorted(ZOOS)}")
    return ZOOS[zoo]
