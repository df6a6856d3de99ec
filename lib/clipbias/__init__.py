"""clipbias: the library under the executable book "Social Bias in CLIP".

Layers (imports point down only): ``studies`` and ``viz`` use ``interventions`` and ``metrics``,
which use ``embed``, ``zoo`` and ``data``. The names below are the public entry points; each is
imported on first use, so ``import clipbias`` stays cheap (no torch until it is needed).

>>> import clipbias
>>> clipbias.load.__module__
'clipbias.zoo.load'
"""

from __future__ import annotations

import importlib
from typing import Any

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
    # zoo
    "catalog": "clipbias.zoo.catalog",
    "select": "clipbias.zoo.selections",
    "load": "clipbias.zoo.load",
    "LoadedModel": "clipbias.zoo.schema",
    # embed
    "embed_images": "clipbias.embed.engine",
    "embed_texts": "clipbias.embed.engine",
    "EmbeddingStore": "clipbias.embed.store",
    "run_zoo": "clipbias.embed.runner",
    # metrics
    "effect_size": "clipbias.metrics.eat",
    "permutation_test": "clipbias.metrics.eat",
    "run_eat_battery": "clipbias.metrics.eat_battery",
}
_SUBPACKAGES = ("data", "zoo", "embed", "metrics", "interventions", "viz", "studies")

__all__ = ["__version__", *_SUBPACKAGES, *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    """Import a public name or subpackage on first access (PEP 562)."""
    if name in _SUBPACKAGES:
        return importlib.import_module(f"clipbias.{name}")
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'clipbias' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
