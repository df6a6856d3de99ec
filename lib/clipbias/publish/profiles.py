"""Parameter profiles: ``notebooks/profiles/<name>.yaml`` maps a notebook stem to its parameters."""

from __future__ import annotations

import ast
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import nbformat
import yaml

__all__ = ["PROFILES", "load_profile", "parameter_names", "profile_path"]

#: The profiles every study notebook must have a section in.
PROFILES: tuple[str, ...] = ("ci", "embedded", "full")


def profile_path(profile: str | os.PathLike[str], *, profiles_dir: str | Path) -> Path:
    """Resolve a profile name (``"ci"``) to ``<profiles_dir>/ci.yaml``; a ``.yaml`` path is kept."""
    text = os.fspath(profile)
    if text.endswith((".yaml", ".yml")):
        return Path(text)
    if not text or "/" in text or os.sep in text:
        raise ValueError(f"a profile is a name such as 'ci' or a path to a .yaml file (got {text!r})")
    return Path(profiles_dir) / f"{text}.yaml"


def load_profile(path: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """Read a profile file: a mapping ``notebook stem -> {parameter: value}``.

    Raises ``ValueError`` for a missing file or a malformed mapping (naming the offending entry).
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"profile file {path} does not exist")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ValueError(f"{path}: a profile is a mapping of notebook stem -> parameters")
    profile: dict[str, dict[str, Any]] = {}
    for stem, params in data.items():
        if params is None:
            params = {}
        if not isinstance(params, Mapping) or not all(isinstance(k, str) for k in params):
            raise ValueError(f"{path}: entry {stem!r} must map parameter names to values")
        profile[str(stem)] = dict(params)
    return profile


def parameter_names(notebook: nbformat.NotebookNode) -> list[str]:
    """Names assigned in the notebook's one code cell tagged ``parameters``, in order.

    Raises ``ValueError`` when there is no such cell, or more than one.
    """
    cells = [
        cell
        for cell in notebook.cells
        if cell.cell_type == "code" and "parameters" in cell.get("metadata", {}).get("tags", [])
    ]
    if len(cells) != 1:
        raise ValueError(f"a study notebook needs exactly one cell tagged 'parameters' (found {len(cells)})")
    names: list[str] = []
    for node in ast.parse(cells[0].source).body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        if isinstance(node, ast.AnnAssign):
            targets = [node.target]
        names.extend(t.id for t in targets if isinstance(t, ast.Name))
    return names
