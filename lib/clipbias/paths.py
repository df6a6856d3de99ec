"""Where clipbias keeps its caches and where it looks for datasets.

Both roots can be moved with environment variables, so a cluster or a CI run can point them at
scratch space:

- ``CLIPBIAS_CACHE``: embeddings, trained synthetic models, converted notebooks
  (default ``$XDG_CACHE_HOME/clipbias`` or ``~/.cache/clipbias``).
- ``CLIPBIAS_DATA``: real datasets placed by the user or by ``python -m clipbias data fetch``
  (default ``<cache>/data``).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_dir", "data_root"]


def cache_dir(*parts: str) -> Path:
    """Return (and create) a folder under the clipbias cache root.

    >>> cache_dir("embeddings").name
    'embeddings'
    """
    env = os.environ.get("CLIPBIAS_CACHE")
    if env:
        root = Path(env)
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        root = (Path(xdg) if xdg else Path.home() / ".cache") / "clipbias"
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_root(*parts: str) -> Path:
    """Return the folder where datasets live (``CLIPBIAS_DATA`` or ``<cache>/data``), not created."""
    env = os.environ.get("CLIPBIAS_DATA")
    root = Path(env) if env else cache_dir("data")
    return root.joinpath(*parts)
