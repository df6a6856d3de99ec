"""Named synthetic "pretraining datasets": the synthetic zoo's LAION, DataComp, ...

Each dataset is a :class:`WorldConfig` in a *family*. The family fixes the planted group-concept
association; datasets within a family differ in size and caption quality, which carry no planted
effect on bias. So the zoo study's regression ``d ~ dataset_family + log_dataset_size + ...``
has a known answer: family matters (``fair`` < ``web`` < ``skew``), size does not.
:func:`planted_truth` states it as a table. All datasets share one assignment (which concepts
are stereotyped for which group; ``assignment_seed`` None), so every zoo model shares one battery.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from clipbias.data.synthetic.config import WorldConfig

__all__ = ["PRETRAINING_DATASETS", "PretrainingDataset", "planted_truth", "pretraining_dataset"]


@dataclass(frozen=True)
class PretrainingDataset:
    """A named pretraining dataset of the synthetic world."""

    name: str             # dataset name, used in model tags (no "_" allowed)
    family: str           # dataset family (fixes the planted association)
    config: WorldConfig   # the world's knobs
    description: str      # one line for tables


def _dataset(name: str, family: str, association: float, size: int, noise: float,
             description: str) -> PretrainingDataset:
    config = WorldConfig(size=size, association=association, caption_noise=noise)
    return PretrainingDataset(name, family, config, description)


#: The named datasets, by name.
PRETRAINING_DATASETS: dict[str, PretrainingDataset] = {d.name: d for d in (
    _dataset("fair-s", "fair", 0.0, 4000, 0.00, "no planted association, small, clean captions"),
    _dataset("fair-l", "fair", 0.0, 12000, 0.10, "no planted association, large, noisy captions"),
    _dataset("web-s", "web", 0.5, 4000, 0.10, "moderate association, small, noisy captions"),
    _dataset("web-l", "web", 0.5, 12000, 0.00, "moderate association, large, clean captions"),
    _dataset("skew-s", "skew", 0.9, 4000, 0.00, "strong association, small, clean captions"),
    _dataset("skew-l", "skew", 0.9, 12000, 0.10, "strong association, large, noisy captions"),
)}


def pretraining_dataset(name: str) -> PretrainingDataset:
    """The named dataset; ``ValueError`` listing the known names otherwise."""
    try:
        return PRETRAINING_DATASETS[name]
    except KeyError:
        raise ValueError(f"unknown synthetic pretraining dataset {name!r}; "
                         f"known: {sorted(PRETRAINING_DATASETS)}") from None


def _stereotypes(config: WorldConfig) -> str:
    """``"orange: chef, farmer, ...; teal: ..."``: the concepts stereotyped for each group."""
    return "; ".join(f"{g.name}: " + ", ".join(config.concepts[c].name
                                               for c in config.stereotyped_concepts(i))
                     for i, g in enumerate(config.groups))


def planted_truth() -> pd.DataFrame:
    """One row per named dataset: name, family, planted association, the stereotyped concepts
    of each group (the assignment), group imbalance, context correlation, size, caption noise,
    group mention rate and description."""
    return pd.DataFrame([{
        "dataset": d.name, "family": d.family,
        "planted_association": d.config.association,
        "stereotypes": _stereotypes(d.config),
        "group_imbalance": d.config.group_imbalance,
        "context_correlation": d.config.context_correlation,
        "size": d.config.size, "caption_noise": d.config.caption_noise,
        "group_mention": d.config.group_mention, "description": d.description,
    } for d in PRETRAINING_DATASETS.values()])
