"""Named model selections and validation of explicit model lists.

Named selections (:data:`SELECTIONS`):

- ``all_unique`` (the default for new runs): every real model (open_clip and scaling-law rows)
  that is not an alias of another row;
- ``all``: every real model, aliases included;
- ``paper_131``: the models of Ghate et al. (NAACL 2025) as far as their selection rules can be
  reproduced (see :func:`paper_131_report`);
- ``scaling_laws``: the 29 checkpoints of Cherti et al. (2023);
- ``synthetic``: the tiny models of the synthetic world.

``paper_131`` applies the paper's rules to the open_clip pairs its selection started from
(``resources/paper_candidates.csv``: the open_clip pretrained list of about v2.24.0, the version
the paper's model list needs, as reconstructed in the project's research digest from the
paper's code): drop ``convnext_xxlarge`` (unsupported by the paper's timm), drop ``_e31`` tags
(near-duplicates of ``_e32``), drop ``-quickgelu`` ids whose weights are also listed under the
plain config name, drop the open_clip copies of scaling-law checkpoints (confirmed and possible),
then add the 29 scaling-law checkpoints.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from importlib import resources

import pandas as pd

from clipbias.zoo.catalog import catalog, weight_source, with_param_counts
from clipbias.zoo.scaling_laws import scaling_law_checkpoints
from clipbias.zoo.synthetic.catalog import synthetic_catalog
from clipbias.zoo.synthetic.ids import is_synthetic

__all__ = [
    "PAPER_MODEL_COUNT",
    "SELECTIONS",
    "UnknownModelError",
    "paper_131_family_counts",
    "paper_131_report",
    "resolve_model_id",
    "select",
    "selection_table",
]

#: Number of models in Ghate et al. (NAACL 2025).
PAPER_MODEL_COUNT = 131

#: Named selections and what each holds.
SELECTIONS: dict[str, str] = {
    "all_unique": "every real model (open_clip and scaling-law) that is not an alias of another",
    "all": "every real model, aliases included",
    "paper_131": "Ghate et al.'s 131 models, as far as their selection rules can be reproduced",
    "scaling_laws": "the 29 scaling-law checkpoints of Cherti et al. (2023)",
    "synthetic": "the tiny CLIP models trained on the synthetic world",
}


class UnknownModelError(ValueError):
    """A model id that is not in the catalog; the message lists the closest ids."""


def resolve_model_id(model_id: str, *, known: Sequence[str] | None = None,
                     what: str = "model id in clipbias.zoo.catalog()") -> str:
    """Return ``model_id`` if ``known`` lists it, else raise :class:`UnknownModelError`.

    ``known`` defaults to every catalog id (synthetic models included); ``what`` names the
    list in the message, which also gives the closest entries (difflib).
    """
    if not isinstance(model_id, str):
        raise TypeError(f"a model id is a string 'ARCH/TAG', got {type(model_id).__name__}")
    if known is None:
        known = catalog(params=False)["model_id"].tolist()
    if model_id not in known:
        close = difflib.get_close_matches(model_id, known, n=5, cutoff=0.5)
        hint = f" Closest: {', '.join(close)}." if close else ""
        raise UnknownModelError(f"unknown {model_id!r}: not a {what}.{hint}")
    return model_id


def _paper_candidates() -> pd.DataFrame:
    with resources.files("clipbias.zoo").joinpath("resources/paper_candidates.csv").open() as fh:
        table = pd.read_csv(fh)
    table["model_id"] = table["arch"] + "/" + table["tag"]
    return table


def paper_131_report() -> pd.DataFrame:
    """Return how ``paper_131`` is built: one row per candidate or added model.

    Columns: ``model_id``, ``included`` (bool), ``rule`` (why it is in or out) and
    ``uncertain`` (bool: the digest of the paper's code could not settle this row).
    """
    candidates = _paper_candidates()
    ids = set(candidates["model_id"])
    copies = scaling_law_checkpoints()
    with_copy = copies.dropna(subset=["openclip_copy"])
    copy_evidence = dict(zip(with_copy["openclip_copy"], with_copy["copy_evidence"],
                             strict=True))
    rows = []
    for arch, tag, model_id in candidates[["arch", "tag", "model_id"]].itertuples(index=False):
        plain = arch.removesuffix("-quickgelu")
        uncertain = False
        if arch.startswith("convnext_xxlarge"):
            rule = "dropped: convnext_xxlarge was unsupported by the paper's timm"
        elif tag.endswith("_e31"):
            rule = "dropped: _e31 is a near-duplicate of _e32"
        elif (plain != arch and f"{plain}/{tag}" in ids
              and weight_source(plain, tag) == weight_source(arch, tag)):
            rule = f"dropped: quickgelu duplicate of {plain}/{tag}"
        elif model_id in copy_evidence:
            evidence = copy_evidence[model_id]
            uncertain = evidence != "confirmed"
            rule = f"dropped: open_clip copy of a scaling-law checkpoint ({evidence})"
        else:
            rule = "kept"
            uncertain = tag.startswith("frozen_")
        rows.append((model_id, rule == "kept", rule, uncertain))
    for model_id in copies["model_id"]:
        rows.append((model_id, True, "added: scaling-law checkpoint", False))
    return pd.DataFrame(rows, columns=["model_id", "included", "rule", "uncertain"])


def paper_131_family_counts() -> pd.DataFrame:
    """Compare family counts of ``paper_131`` with those the paper reports.

    Columns: ``kind`` ("arch_family" or "dataset_family"), ``family``, ``paper`` (models in the
    paper: its row counts divided by 26 tests), ``ours`` and ``difference`` (paper - ours).
    """
    with resources.files("clipbias.zoo").joinpath(
            "resources/paper_131_family_counts.csv").open() as fh:
        paper = pd.read_csv(fh).rename(columns={"models": "paper"})
    table = catalog(include_synthetic=False, params=False).set_index("model_id")
    chosen = table.loc[select("paper_131")]
    ours = pd.concat([
        chosen["arch_family"].value_counts().rename_axis("family").reset_index()
        .assign(kind="arch_family"),
        chosen["dataset_family"].value_counts().rename_axis("family").reset_index()
        .assign(kind="dataset_family"),
    ]).rename(columns={"count": "ours"})
    merged = paper.merge(ours, on=["kind", "family"], how="outer")
    merged[["paper", "ours"]] = merged[["paper", "ours"]].fillna(0).astype(int)
    merged["difference"] = merged["paper"] - merged["ours"]
    return merged[["kind", "family", "paper", "ours", "difference"]].reset_index(drop=True)


def _named(selection: str) -> list[str]:
    if selection == "synthetic":
        return synthetic_catalog()["model_id"].tolist()
    table = catalog(include_synthetic=False, params=False)
    if selection == "all":
        return table["model_id"].tolist()
    if selection == "all_unique":
        return table.loc[table["alias_of"].isna(), "model_id"].tolist()
    if selection == "scaling_laws":
        return table.loc[table["source"].eq("scaling_laws"), "model_id"].tolist()
    report = paper_131_report()
    chosen = report.loc[report["included"], "model_id"].tolist()
    missing = sorted(set(chosen) - set(table["model_id"]))
    if missing:
        raise RuntimeError(f"the installed open_clip no longer lists {missing}, "
                           "which paper_131 needs")
    return chosen


def select(selection: str | Sequence[str]) -> list[str]:
    """Return the model ids of a named selection, or validate an explicit list of ids.

    A string is a name from :data:`SELECTIONS` or a single model id; a sequence holds model ids
    (``"ARCH/TAG"``), returned in the given order. Unknown ids raise
    :class:`UnknownModelError` naming the closest ids; repeated ids raise ``ValueError``.

    >>> select(["ViT-B-32/openai"])
    ['ViT-B-32/openai']
    """
    if isinstance(selection, str):
        if selection in SELECTIONS:
            return _named(selection)
        if "/" not in selection:
            raise ValueError(f"unknown selection {selection!r}: expected one of "
                             f"{sorted(SELECTIONS)} or model ids 'ARCH/TAG'")
        selection = [selection]
    ids = list(selection)
    repeated = sorted({m for m in ids if ids.count(m) > 1})
    if repeated:
        raise ValueError(f"model ids listed more than once: {repeated}")
    real = catalog(include_synthetic=False, params=False)["model_id"].tolist()
    for model_id in ids:
        if model_id not in real and not is_synthetic(model_id):
            resolve_model_id(model_id, known=real)
    return ids


def selection_table(selection: str | Sequence[str]) -> pd.DataFrame:
    """Return the catalog rows (with parameter counts) of a selection, in selection order.

    Synthetic rows are listed only when the selection holds synthetic ids.
    """
    ids = select(selection)
    synthetic = any(is_synthetic(model_id) for model_id in ids)
    table = catalog(include_synthetic=synthetic, params=False).set_index("model_id")
    return with_param_counts(table.loc[ids].reset_index())
