"""Stimuli, dataset adapters and manifests, fetchers, and the synthetic world.

- :mod:`~clipbias.data.manifest`: the one table format of every dataset;
- :mod:`~clipbias.data.stimulus`: :class:`StimulusSet` and :class:`EATSpec`, shared by the real
  and the synthetic battery;
- :mod:`~clipbias.data.word_lists`, :mod:`~clipbias.data.battery`, :mod:`~clipbias.data.prompts`:
  shipped word lists, the 26-test battery, retrieval prompt sets;
- :mod:`~clipbias.data.adapters`: manifests from the layouts real datasets are distributed in;
- :mod:`~clipbias.data.fetch`: sha256-verified downloads for users who are online;
- :mod:`~clipbias.data.synthetic`: the synthetic world (imported on demand).
"""

from clipbias.data.adapters import (
    DatasetNotFoundError,
    load_class_folders,
    load_coco_captions,
    load_fairface,
    load_folder_csv,
    load_ieat,
    load_oasis,
    load_utkface,
)
from clipbias.data.battery import battery, battery_table
from clipbias.data.fetch import fetch
from clipbias.data.manifest import Manifest, load_manifest, make_manifest, save_manifest
from clipbias.data.prompts import attribute_prompts, berg_prompts, occupation_pairs, occupations
from clipbias.data.stimulus import ORDERS, EATSpec, StimulusSet
from clipbias.data.word_lists import text_set

__all__ = [
    "ORDERS",
    "DatasetNotFoundError",
    "EATSpec",
    "Manifest",
    "StimulusSet",
    "attribute_prompts",
    "battery",
    "battery_table",
    "berg_prompts",
    "fetch",
    "load_class_folders",
    "load_coco_captions",
    "load_fairface",
    "load_folder_csv",
    "load_ieat",
    "load_manifest",
    "load_oasis",
    "load_utkface",
    "make_manifest",
    "occupation_pairs",
    "occupations",
    "save_manifest",
    "text_set",
]
