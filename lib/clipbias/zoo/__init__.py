"""Model catalog (upstream factors) and model loading.

>>> from clipbias.zoo import catalog, select, load
>>> "ViT-B-32/openai" in select("all_unique")
True
"""

from clipbias.loaded_model import LoadedModel
from clipbias.zoo.catalog import catalog, catalog_summary, dataset_sizes
from clipbias.zoo.families import arch_family, dataset_family, dataset_of_tag
from clipbias.zoo.load import (
    PRECISIONS,
    CheckpointError,
    ModelUnavailableError,
    WeightsUnavailableError,
    load,
)
from clipbias.zoo.params import param_counts
from clipbias.zoo.scaling_laws import scaling_law_checkpoints
from clipbias.zoo.schema import CATALOG_COLUMNS
from clipbias.zoo.selections import (
    PAPER_MODEL_COUNT,
    SELECTIONS,
    UnknownModelError,
    paper_131_family_counts,
    paper_131_report,
    select,
    selection_table,
)

__all__ = [
    "CATALOG_COLUMNS",
    "PAPER_MODEL_COUNT",
    "PRECISIONS",
    "SELECTIONS",
    "CheckpointError",
    "LoadedModel",
    "ModelUnavailableError",
    "UnknownModelError",
    "WeightsUnavailableError",
    "arch_family",
    "catalog",
    "catalog_summary",
    "dataset_family",
    "dataset_of_tag",
    "dataset_sizes",
    "load",
    "paper_131_family_counts",
    "paper_131_report",
    "param_counts",
    "scaling_law_checkpoints",
    "select",
    "selection_table",
]
