"""The 29 scaling-law checkpoints of Cherti et al. (2023), as data.

Source of the table (``resources/scaling_laws.csv``): the checkpoint files published on the
Hugging Face repository ``laion/scaling-laws-openclip`` and LAION's zero-shot results
(``LAION-AI/scaling-laws-openclip``, ``zeroshot_results.csv``: ImageNet-1k, VTAB and VTAB+
top-1 accuracy), as transcribed in the project's research digest (Appendix A). Five
architectures (ViT-B/32, B/16, L/14, H/14, g/14) trained on LAION-80M, -400M and -2B with 3, 13
or 34 billion samples seen.

The column ``openclip_copy`` names the open_clip pretrained tag that Ghate et al. found to hold
the same weights (identical association-test results): ``copy_evidence`` is "confirmed" for the
six they dropped as copies and "possible" for the two they listed as possible repeats. Which
scaling-law file each copy matches is our inference from architecture, data and samples seen.

The files cannot be downloaded by clipbias; a user places them in :func:`checkpoint_folder`.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import pandas as pd

from clipbias.paths import data_root

__all__ = [
    "SCALING_LAWS_REPO",
    "checkpoint_folder",
    "scaling_law_checkpoints",
    "scaling_law_tag",
]

#: Where the checkpoint files are published.
SCALING_LAWS_REPO = "https://huggingface.co/laion/scaling-laws-openclip"

_DATASETS = {"80M": "laion80m", "400M": "laion400m", "2B": "laion2b"}


def _count(text: str) -> float:
    """Parse "3B", "13B", "80M", "86k" into a number."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([kMB])", text)
    if match is None:
        raise ValueError(f"cannot parse the count {text!r}")
    return float(match.group(1)) * {"k": 1e3, "M": 1e6, "B": 1e9}[match.group(2)]


def scaling_law_tag(data: str, samples: str) -> str:
    """Return the catalog tag of a scaling-law checkpoint, e.g. ``scaling_laws_laion2b_s34b``.

    >>> scaling_law_tag("400M", "13B")
    'scaling_laws_laion400m_s13b'
    """
    return f"scaling_laws_{_DATASETS[data]}_s{samples.lower()}"


def checkpoint_folder() -> Path:
    """Return the folder where scaling-law checkpoint files are looked for (not created)."""
    return data_root("scaling_laws")


def scaling_law_checkpoints() -> pd.DataFrame:
    """Return the 29 checkpoints, one row each.

    Columns: ``model_id``, ``arch``, ``tag``, ``pretraining_dataset``, ``samples_seen``,
    ``batch_size`` (from the file name's ``bs-``), ``file``, ``imagenet1k``, ``vtab``,
    ``vtab_plus``, ``openclip_copy`` (model id or missing) and ``copy_evidence``.
    """
    with resources.files("clipbias.zoo").joinpath("resources/scaling_laws.csv").open() as fh:
        table = pd.read_csv(fh, dtype={"openclip_copy": "string", "copy_evidence": "string"})
    table["tag"] = [scaling_law_tag(d, s) for d, s in zip(table["data"], table["samples"], strict=True)]
    table["model_id"] = table["arch"] + "/" + table["tag"]
    table["pretraining_dataset"] = table["data"].map(_DATASETS)
    table["samples_seen"] = table["samples"].map(_count)
    table["batch_size"] = table["file"].str.extract(r"_bs-(\d+k)\.pt$")[0].map(_count)
    columns = ["model_id", "arch", "tag", "pretraining_dataset", "samples_seen", "batch_size",
               "file", "imagenet1k", "vtab", "vtab_plus", "openclip_copy", "copy_evidence"]
    return table[columns]
