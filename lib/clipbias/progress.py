"""One progress bar for every long loop in clipbias.

Set ``CLIPBIAS_PROGRESS=0`` to silence the bars (for example in logs of batch jobs).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any, TypeVar

from tqdm import tqdm  # text bars everywhere: notebook widgets would need ipywidgets

__all__ = ["progress"]

T = TypeVar("T")


def progress(iterable: Iterable[T] | None = None, *, desc: str, total: int | None = None,
             unit: str = "it", disable: bool = False, **kwargs: Any) -> tqdm:
    """Wrap ``iterable`` in a tqdm bar (items per second shown).

    The bar is hidden when ``disable`` is true or the environment sets ``CLIPBIAS_PROGRESS=0``.
    """
    disable = disable or os.environ.get("CLIPBIAS_PROGRESS", "1") == "0"
    return tqdm(iterable, desc=desc, total=total, unit=unit, disable=disable, dynamic_ncols=True,
                **kwargs)
