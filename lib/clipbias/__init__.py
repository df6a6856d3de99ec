"""clipbias: the library under the executable book "Social Bias in CLIP".

Layers (imports point down only; the table is in CONTRIBUTING.md): ``studies`` and ``viz`` use
``interventions``, which uses ``metrics``, ``embed``, ``zoo`` and ``data``. The names below are
the public entry points: the synthetic world, tiny-CLIP training, the model catalog and loader,
the embedding engine and store, the EAT kernels and battery, and every study module by its name
(``clipbias.pipeline_check``). Each is imported on first use, so ``import clipbias`` stays cheap
(no torch until it is needed).

>>> import clipbias
>>> clipbias.load.__module__
'clipbias.zoo.load'
"""

from __future__ import annotations

import importlib
from typing import Any

from clipbias.studies import study_names

__version__ = "0.1.0"

#: Public name -> the module it lives in.
_EXPORTS: dict[str, str] = {
    # data
    "Manifest": "clipbias.data.manifest",
    "make_manifest": "clipbias.data.manifest",
    "load_manifest": "clipbias.data.manifest",
    "StimulusSet": "clipbias.data.stimulus",
    "EATSpec": "clipbias.data.stimulus",
    "battery": "clipbias.data.battery",
    "text_set": "clipbias.data.word_lists",
    # the synthetic world
    "WorldConfig": "clipbias.data.synthetic.config",
    "World": "clipbias.data.synthetic.world",
    "generate_world": "clipbias.data.synthetic.world",
    "benchmark_world": "clipbias.data.synthetic.benchmark",
    "pretraining_dataset": "clipbias.data.synthetic.datasets",
    "eat_specs": "clipbias.data.synthetic.stimuli",
    # zoo
    "catalog": "clipbias.zoo.catalog",
    "select": "clipbias.zoo.selections",
    "load": "clipbias.zoo.load",
    "LoadedModel": "clipbias.loaded_model",
    "TrainConfig": "clipbias.zoo.train_config",
    # embed
    "embed_images": "clipbias.embed.engine",
    "embed_texts": "clipbias.embed.engine",
    "cached_embed_images": "clipbias.embed.cached",
    "cached_embed_texts": "clipbias.embed.cached",
    "EmbeddingStore": "clipbias.embed.store",
    "run_zoo": "clipbias.embed.runner",
    # metrics
    "effect_size": "clipbias.metrics.eat",
    "permutation_test": "clipbias.metrics.eat",
    "run_eat_battery": "clipbias.metrics.eat_battery",
    # interventions: tiny-CLIP training
    "TrainingData": "clipbias.interventions.train.loop",
    "train_tiny_clip": "clipbias.interventions.train.loop",
    "train_synthetic_zoo": "clipbias.interventions.train.zoo",
    "m4": "clipbias.interventions.balance.solver",
    "M4Result": "clipbias.interventions.balance.solver",
    "draw_subset": "clipbias.interventions.balance.sampler",
    # metrics: bias of a whole set and of its subsets
    "global_bias": "clipbias.metrics.subsets",
    "subset_bias": "clipbias.metrics.subsets",
}
_SUBPACKAGES = ("data", "zoo", "embed", "metrics", "interventions", "viz", "studies")
#: The study modules (``clipbias.studies.<name>``), exported by name.
_STUDIES: tuple[str, ...] = study_names()

__all__ = ["__version__", *_SUBPACKAGES, *_STUDIES, *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    """Import a public name or subpackage on first access (PEP 562)."""
    if name in _SUBPACKAGES:
        return importlib.import_module(f"clipbias.{name}")
    if name in _STUDIES:
        return importlib.import_module(f"clipbias.studies.{name}")
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'clipbias' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
