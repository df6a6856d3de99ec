"""The model catalog: one row per model with its upstream factors (:data:`CATALOG_COLUMNS`).

Rows come from three sources, in this order:

1. ``open_clip``: every ``open_clip.list_pretrained()`` pair of the installed open_clip;
2. ``scaling_laws``: the 29 checkpoints of Cherti et al. (2023) (:mod:`.scaling_laws`);
3. ``synthetic``: the tiny models trained on the synthetic world (``clipbias.zoo.synthetic``).

``alias_of`` marks the same weights listed under another name (quickgelu twins such as
``ViT-B-32-quickgelu/openai`` and ``ViT-B-32/openai``, ``ViT-SO400M-14-SigLIP-378/webli`` and
``-384``, and open_clip copies of scaling-law checkpoints); rows are marked, never dropped. Within
a group of open_clip ids with the same published weight file and the same activation as loaded
by :func:`clipbias.zoo.load`, the canonical id is the one whose config name appears in the
weight file's address, else one without ``-quickgelu``, else the first listed.
"""

from __future__ import annotations

import re
from importlib import resources

import numpy as np
import open_clip
import pandas as pd

from clipbias.zoo.families import arch_family, dataset_family, dataset_of_tag
from clipbias.zoo.params import param_counts
from clipbias.zoo.scaling_laws import scaling_law_checkpoints
from clipbias.zoo.schema import CATALOG_COLUMNS
from clipbias.zoo.synthetic.catalog import synthetic_catalog

__all__ = [
    "catalog",
    "catalog_summary",
    "dataset_sizes",
    "tag_training_stats",
    "weight_source",
    "with_param_counts",
]

_PARAM_COLUMNS = ("params_total", "params_image", "params_text")
_UNKNOWN_SIZE = "unknown: no public figure recorded in clipbias"


def dataset_sizes() -> pd.DataFrame:
    """Return the table of pretraining dataset sizes (index ``pretraining_dataset``).

    Columns ``dataset_size`` (image-text pairs) and ``dataset_size_source`` (provenance: the
    figure Ghate et al.'s code used, or the public figure from the dataset's paper or card).
    """
    with resources.files("clipbias.zoo").joinpath("resources/dataset_sizes.csv").open() as fh:
        table = pd.read_csv(fh, index_col="pretraining_dataset")
    return table.rename(columns={"source": "dataset_size_source"})


def tag_training_stats(tag: str) -> tuple[float, float]:
    """Return ``(samples_seen, batch_size)`` encoded in an open_clip tag, NaN where absent.

    ``s34b`` means 34 billion samples seen and ``b79k`` a global batch of about 79,000.

    >>> tag_training_stats("laion2b_s34b_b79k")
    (34000000000.0, 79000.0)
    >>> tag_training_stats("openai")
    (nan, nan)
    """
    units = {"k": 1e3, "m": 1e6, "b": 1e9}
    samples = re.search(r"(?:^|_)s(\d+)([mb])(?:_|$)", tag)
    batch = re.search(r"(?:^|_)b(\d+)k(?:_|$)", tag)
    seen = float(samples.group(1)) * units[samples.group(2)] if samples else float("nan")
    size = float(batch.group(1)) * units["k"] if batch else float("nan")
    return seen, size


def weight_source(arch: str, tag: str) -> str:
    """Return where open_clip fetches the weights of ``arch``/``tag`` (Hub path, else URL)."""
    cfg = open_clip.get_pretrained_cfg(arch, tag)
    if not cfg:
        raise ValueError(f"open_clip has no pretrained tag {tag!r} for {arch!r}")
    return cfg.get("hf_hub") or cfg.get("url") or cfg.get("file", "")


def _effective_quick_gelu(arch: str, tag: str) -> bool:
    """The activation :func:`clipbias.zoo.load` builds: QuickGELU if the config or tag says so."""
    config = open_clip.get_model_config(arch) or {}
    return bool(config.get("quick_gelu", False) or
                open_clip.get_pretrained_cfg(arch, tag).get("quick_gelu", False))


def _open_clip_aliases(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """Map each non-canonical open_clip id to the canonical id holding the same weights."""
    groups: dict[tuple[str, bool], list[tuple[int, str, str]]] = {}
    for index, (arch, tag) in enumerate(pairs):
        key = (weight_source(arch, tag), _effective_quick_gelu(arch, tag))
        groups.setdefault(key, []).append((index, arch, tag))
    aliases = {}
    for (source, _), members in groups.items():
        ranked = sorted(members, key=lambda m: (m[1] not in source,
                                                m[1].endswith("-quickgelu"), m[0]))
        canonical = f"{ranked[0][1]}/{ranked[0][2]}"
        aliases.update({f"{arch}/{tag}": canonical for _, arch, tag in ranked[1:]})
    return aliases


def _config_facts(arch: str) -> tuple[float, float]:
    """Return ``(image_size, embed_dim)`` from the open_clip config of ``arch``."""
    config = open_clip.get_model_config(arch) or {}
    size = config.get("vision_cfg", {}).get("image_size", np.nan)
    if isinstance(size, list | tuple):
        size = max(size)
    return float(size), float(config.get("embed_dim", np.nan))


def _open_clip_rows() -> pd.DataFrame:
    pairs = [(arch, tag) for arch, tag in open_clip.list_pretrained()]
    aliases = _open_clip_aliases(pairs)
    rows = []
    for arch, tag in pairs:
        samples, batch = tag_training_stats(tag)
        rows.append({"model_id": f"{arch}/{tag}", "arch": arch, "tag": tag,
                     "source": "open_clip", "pretraining_dataset": dataset_of_tag(arch, tag),
                     "samples_seen": samples, "batch_size": batch,
                     "alias_of": aliases.get(f"{arch}/{tag}"), "downstream_score": np.nan})
    return pd.DataFrame(rows)


def _scaling_law_rows() -> pd.DataFrame:
    table = scaling_law_checkpoints()
    confirmed = table["copy_evidence"].eq("confirmed").fillna(False)
    return pd.DataFrame({
        "model_id": table["model_id"], "arch": table["arch"], "tag": table["tag"],
        "source": "scaling_laws", "pretraining_dataset": table["pretraining_dataset"],
        "samples_seen": table["samples_seen"], "batch_size": table["batch_size"],
        "alias_of": table["openclip_copy"].where(confirmed),
        "downstream_score": table["vtab_plus"],
    })


def _synthetic_rows() -> pd.DataFrame:
    table = synthetic_catalog()
    missing = [c for c in CATALOG_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"synthetic_catalog() lacks the catalog columns {missing}")
    return table[list(CATALOG_COLUMNS)]


def _real_table(with_params: bool) -> pd.DataFrame:
    """The open_clip and scaling-law rows with every column, params NaN unless asked for."""
    table = pd.concat([_open_clip_rows(), _scaling_law_rows()], ignore_index=True)
    table["arch_family"] = table["arch"].map(arch_family)
    table["dataset_family"] = table["pretraining_dataset"].map(dataset_family)
    sizes = dataset_sizes()
    table["dataset_size"] = table["pretraining_dataset"].map(sizes["dataset_size"])
    table["dataset_size_source"] = (table["pretraining_dataset"]
                                    .map(sizes["dataset_size_source"]).fillna(_UNKNOWN_SIZE))
    facts = {arch: _config_facts(arch) for arch in table["arch"].unique()}
    table["image_size"] = table["arch"].map(lambda a: facts[a][0])
    table["embed_dim"] = table["arch"].map(lambda a: facts[a][1])
    for col in _PARAM_COLUMNS:
        table[col] = np.nan
    table = table[list(CATALOG_COLUMNS)]
    return with_param_counts(table) if with_params else table


def with_param_counts(table: pd.DataFrame) -> pd.DataFrame:
    """Return a copy of catalog rows with the parameter columns of real rows counted.

    Only the architectures present are counted (see :func:`clipbias.zoo.params.param_counts`);
    synthetic rows keep the counts their catalog gives.
    """
    table = table.copy()
    real = table["source"].ne("synthetic")
    counts = param_counts(table.loc[real, "arch"].unique())
    for col in _PARAM_COLUMNS:
        table.loc[real, col] = table.loc[real, "arch"].map(counts[col])
    return table


def _assemble(with_params: bool, include_synthetic: bool) -> pd.DataFrame:
    parts = [_real_table(with_params)]
    if include_synthetic:
        parts.append(_synthetic_rows())
    table = pd.concat(parts, ignore_index=True)
    duplicated = table["model_id"][table["model_id"].duplicated()].tolist()
    if duplicated:
        raise ValueError(f"model ids listed twice in the catalog: {duplicated}")
    for col in ("image_size", "embed_dim"):
        table[col] = table[col].astype("Int64")
    return table


def catalog(*, include_synthetic: bool = True, params: bool = True) -> pd.DataFrame:
    """Return the model catalog: one row per model, columns :data:`CATALOG_COLUMNS` in order.

    Parameter counts are computed from configs on first use (under a minute; cached, see
    :mod:`clipbias.zoo.params`); ``params=False`` leaves them NaN, for fast id lookups.
    ``include_synthetic=False`` leaves out the synthetic models (listed by
    ``clipbias.zoo.synthetic``).
    """
    return _assemble(with_params=params, include_synthetic=include_synthetic)


def catalog_summary(table: pd.DataFrame) -> dict[str, int]:
    """Count the rows of a catalog table by source and uniqueness.

    Keys: ``open_clip`` (pairs the installed open_clip lists), ``open_clip_unique`` (of those,
    not an alias of another row), ``scaling_laws``, ``synthetic``, ``aliases`` (rows with
    ``alias_of``), ``unique`` (all rows without ``alias_of``), ``archs`` (distinct configs) and
    ``params_missing`` (rows whose parameters could not be counted).
    """
    unique = table["alias_of"].isna()
    from_open_clip = table["source"].eq("open_clip")
    return {
        "open_clip": int(from_open_clip.sum()),
        "open_clip_unique": int((from_open_clip & unique).sum()),
        "scaling_laws": int(table["source"].eq("scaling_laws").sum()),
        "synthetic": int(table["source"].eq("synthetic").sum()),
        "aliases": int((~unique).sum()),
        "unique": int(unique.sum()),
        "archs": int(table["arch"].nunique()),
        "params_missing": int(table["params_total"].isna().sum()),
    }
