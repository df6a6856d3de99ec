"""The downstream-bias table: how users with real downstream models bring their own numbers.

One row per (model, task, metric, attribute) with the measured downstream bias ``value``:

=========  ==========================================================================
model_id   the pretrained model the downstream model was adapted from (catalog id)
task       a downstream task name, e.g. ``"vqa"``, ``"captioning"``
metric     the downstream bias metric, e.g. ``"lic"``, ``"error_gap"``
attribute  the protected attribute, e.g. ``"gender"``, ``"race"``
value      the measured bias (a finite number; larger = more biased)
=========  ==========================================================================

The bias-transfer chapter correlates these values with the pretraining bias of the same models
(``downstream_table`` parameter: a CSV path). :func:`read_downstream_table` checks the columns.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["DOWNSTREAM_COLUMNS", "check_downstream_table", "read_downstream_table"]

#: Required columns of a downstream-bias table.
DOWNSTREAM_COLUMNS: tuple[str, ...] = ("model_id", "task", "metric", "attribute", "value")


def check_downstream_table(table: pd.DataFrame) -> pd.DataFrame:
    """The table with the columns of :data:`DOWNSTREAM_COLUMNS` (value as float), validated.

    Raises ``ValueError`` naming missing columns, non-finite values or duplicated
    (model_id, task, metric, attribute) rows.
    """
    if not isinstance(table, pd.DataFrame):
        raise ValueError(f"a downstream-bias table must be a pandas DataFrame, got "
                         f"{type(table).__name__}")
    missing = [c for c in DOWNSTREAM_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"the downstream-bias table lacks columns {missing}; it needs "
                         f"{list(DOWNSTREAM_COLUMNS)} (one row per model, task, metric and "
                         "attribute)")
    out = table[list(DOWNSTREAM_COLUMNS)].copy()
    if out.empty:
        raise ValueError("the downstream-bias table has no rows")
    for c in DOWNSTREAM_COLUMNS[:-1]:
        out[c] = out[c].astype(str)
    out["value"] = pd.to_numeric(out["value"], errors="coerce").astype(np.float64)
    if not np.isfinite(out["value"]).all():
        raise ValueError("the downstream-bias table has missing or non-numeric values in column "
                         "'value'; fill or drop those rows")
    dup = out.duplicated(list(DOWNSTREAM_COLUMNS[:-1]))
    if dup.any():
        raise ValueError(f"the downstream-bias table repeats {int(dup.sum())} (model_id, task, "
                         "metric, attribute) rows; average them first")
    return out.reset_index(drop=True)


def read_downstream_table(path: str | Path) -> pd.DataFrame:
    """Read and check a downstream-bias CSV (columns :data:`DOWNSTREAM_COLUMNS`)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"downstream-bias table {path} does not exist; write a CSV with "
                                f"columns {list(DOWNSTREAM_COLUMNS)}")
    return check_downstream_table(pd.read_csv(path))
