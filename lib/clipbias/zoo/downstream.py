"""Downstream zero-shot performance of real models: open_clip's published results table.

One source of truth, shipped as package data (``resources/openclip_results.csv``, open_clip
commit ``ebe135b2``, the one Ghate et al. used; provenance in
``resources/openclip_results.provenance.yaml``). Two scores per model:

- ``vtab_plus``: the mean acc1 over the VTAB+ tasks the table has (:func:`vtab_plus_tasks`: 28 of
  the 35; the table lacks fer2013, diabetic retinopathy, dmlab and four dsprites/smallnorb tasks,
  which the paper ran itself, so the paper's VTAB+ cannot be reproduced exactly);
- ``average_38``: the table's own average over its 38 datasets.

Scaling-law checkpoints (Cherti et al. 2023) take their published VTAB+ from the catalog's
``downstream_score`` (``average_38`` stays NaN); synthetic models take their held-out zero-shot
accuracy for both. :func:`downstream_scores` lists every requested model, with NaN and a reason
where no figure exists, never dropping one.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from importlib import resources

import numpy as np
import pandas as pd

__all__ = ["DOWNSTREAM_COLUMNS", "downstream_scores", "openclip_results", "vtab_plus_tasks"]

#: Columns of :func:`downstream_scores`.
DOWNSTREAM_COLUMNS: tuple[str, ...] = ("model_id", "vtab_plus", "average_38", "n_vtab_tasks",
                                       "source", "matched_as", "missing_reason")

_AVERAGE = "Average perf. on 38 datasets"


def _read(name: str) -> pd.DataFrame:
    with resources.files("clipbias.zoo").joinpath(f"resources/{name}").open() as fh:
        return pd.read_csv(fh)


@functools.cache
def _results() -> pd.DataFrame:
    table = _read("openclip_results.csv")
    table.insert(0, "model_id", table["name"] + "/" + table["pretrained"])
    return table


def openclip_results() -> pd.DataFrame:
    """open_clip's results table as shipped: one row per model, ``model_id`` (``"ARCH/TAG"``)
    first, then the table's own columns (``name``, ``pretrained``, ``params (M)``, ``FLOPs (B)``,
    ``Average perf. on 38 datasets`` and one column per dataset)."""
    return _results().copy()


def vtab_plus_tasks() -> pd.DataFrame:
    """The 35 VTAB+ tasks: ``dataset`` (CLIP_benchmark name), ``type`` (natural, specialized,
    structured, from CLIP_benchmark's ``dataset_type.csv``), ``table_column`` (the column of
    :func:`openclip_results`, None where the table lacks the task) and ``in_table``."""
    tasks = _read("vtab_plus_tasks.csv")
    types = _read("clip_benchmark_dataset_type.csv").set_index("dataset")["type"]
    unknown = sorted(set(tasks["dataset"]) - set(types.index))
    if unknown:
        raise RuntimeError(f"vtab_plus_tasks.csv names datasets CLIP_benchmark does not type: "
                           f"{unknown}")
    if not (tasks["type"] == tasks["dataset"].map(types)).all():
        raise RuntimeError("vtab_plus_tasks.csv disagrees with dataset_type.csv on a task type")
    tasks["table_column"] = tasks["table_column"].astype(object).where(
        tasks["table_column"].notna(), None)
    columns = set(_results().columns)
    absent = [c for c in tasks["table_column"].dropna() if c not in columns]
    if absent:
        raise RuntimeError(f"vtab_plus_tasks.csv names columns the results table lacks: {absent}")
    tasks["in_table"] = tasks["table_column"].notna()
    return tasks


def _alias_groups(catalog: pd.DataFrame) -> dict[str, list[str]]:
    """model_id -> every id of its alias group (itself first)."""
    canon = catalog["alias_of"].where(catalog["alias_of"].notna(), catalog["model_id"])
    groups: dict[str, list[str]] = {}
    for mid, root in zip(catalog["model_id"], canon, strict=True):
        groups.setdefault(root, []).append(mid)
    out = {}
    for mid, root in zip(catalog["model_id"], canon, strict=True):
        out[mid] = [mid, *(m for m in groups[root] if m != mid)]
    return out


def downstream_scores(model_ids: Sequence[str], catalog: pd.DataFrame) -> pd.DataFrame:
    """The downstream scores of ``model_ids``, one row each in the given order.

    For open_clip rows: ``vtab_plus`` = the mean of the :func:`vtab_plus_tasks` columns the table
    has (``n_vtab_tasks`` of them, all non-missing), ``average_38`` = the table's average; a model
    not in the table is matched through its alias twins (``matched_as``). Scaling-law and
    synthetic rows: the catalog's ``downstream_score`` (``average_38`` = the same for synthetic
    models, NaN for scaling-law ones). A model with no figure keeps NaN and a
    ``missing_reason``.

    Args:
        model_ids: ids to score (unique).
        catalog: catalog rows covering them (columns ``model_id``, ``source``, ``alias_of``,
            ``downstream_score``; :func:`clipbias.zoo.catalog`), extra rows allowed.

    Returns:
        DataFrame with the columns :data:`DOWNSTREAM_COLUMNS`.
    """
    ids = list(model_ids)
    if len(set(ids)) != len(ids):
        raise ValueError("model_ids contains duplicates")
    needed = {"model_id", "source", "alias_of", "downstream_score"}
    lacking = sorted(needed - set(catalog.columns))
    if lacking:
        raise ValueError(f"catalog lacks the columns {lacking}; pass clipbias.zoo.catalog() rows")
    rows = catalog.drop_duplicates("model_id").set_index("model_id")
    unknown = [m for m in ids if m not in rows.index]
    if unknown:
        raise ValueError(f"model ids not in the catalog given: {unknown[:5]}; "
                         "pass catalog rows for every model")
    table = _results().set_index("model_id")
    columns = vtab_plus_tasks()["table_column"].dropna().tolist()
    groups = _alias_groups(catalog.drop_duplicates("model_id"))
    out = []
    for mid in ids:
        source = rows.at[mid, "source"]
        record = {"model_id": mid, "vtab_plus": np.nan, "average_38": np.nan, "n_vtab_tasks": 0,
                  "source": "", "matched_as": None, "missing_reason": ""}
        if source == "open_clip":
            hit = next((m for m in groups.get(mid, [mid]) if m in table.index), None)
            if hit is None:
                record["missing_reason"] = "not in open_clip's results table (ebe135b2)"
            else:
                values = table.loc[hit, columns].astype(float)
                record.update(vtab_plus=float(values.mean()), n_vtab_tasks=int(values.notna().sum()),
                              average_38=float(table.at[hit, _AVERAGE]),
                              source="openclip_results.csv", matched_as=hit)
        else:
            score = float(rows.at[mid, "downstream_score"])
            what = {"scaling_laws": "Cherti et al. VTAB+ (catalog)",
                    "synthetic": "held-out zero-shot accuracy (catalog)"}.get(
                        source, f"downstream_score given for source {source!r}")
            record.update(vtab_plus=score, source=what,
                          average_38=score if source == "synthetic" else np.nan)
            if np.isnan(score):
                record["missing_reason"] = "the catalog has no downstream score"
        out.append(record)
    return pd.DataFrame(out, columns=list(DOWNSTREAM_COLUMNS))
