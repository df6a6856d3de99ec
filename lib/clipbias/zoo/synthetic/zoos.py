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


#: Architectures beside ``synthetic-vit-s`` in the ``ci`` zoo, each on one dataset of every family,
#: sizes alternating, so architecture is crossed with neither dataset family nor dataset size.
_CI_CELLS: dict[str, tuple[str, ...]] = {
    "synthetic-vit-m": ("fair-s", "web-l", "skew-s"),
    "synthetic-rn-s": ("fair-l", "web-s", "skew-l"),
}


def _ci_cells() -> tuple[tuple[str, str], ...]:
    """(architecture, dataset) cells of the ``ci`` zoo: ``synthetic-vit-s`` on every dataset,
    then :data:`_CI_CELLS`."""
    return (tuple(("synthetic-vit-s", d) for d in PRETRAINING_DATASETS)
            + tuple((a, d) for a, ds in _CI_CELLS.items() for d in ds))


#: Zoo profiles.
#:
#: - ``default`` (the embedded book's zoo, 36 models): every architecture on every dataset with
#:   training seed 0 (24 models), and a second seed (1) for the 12 cells of the ``ci`` zoo (half
#:   of the 24 architecture x dataset cells), so seed-to-seed spread is measured in every dataset
#:   family and size and in both architecture families.
#: - ``ci`` (12 models, seed 0): all three dataset families (fair, web, skew), each at both sizes
#:   (size is not confounded with family); two architecture sizes within the ViT family
#:   (``synthetic-vit-s``, ``synthetic-vit-m``) and a ResNet (``synthetic-rn-s``), balanced over
#:   families and sizes: the zoo regression ``d ~ log_params + arch_family + dataset_family +
#:   log_dataset_size`` has a full-rank design.
ZOOS: dict[str, tuple[ZooEntry, ...]] = {
    "default": (tuple(ZooEntry(a, d, 0) for d in PRETRAINING_DATASETS for a in TINY_CONFIGS)
                + tuple(ZooEntry(a, d, 1) for a, d in _ci_cells())),
    "ci": tuple(ZooEntry(a, d, 0) for a, d in _ci_cells()),
}


def zoo_entries(zoo: str = "default") -> tuple[ZooEntry, ...]:
    """The models of a zoo profile; ``ValueError`` naming the known profiles otherwise."""
    if zoo not in ZOOS:
        raise ValueError(f"unknown synthetic zoo {zoo!r}; known: {sorted(ZOOS)}")
    return ZOOS[zoo]
