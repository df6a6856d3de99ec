"""Showing the synthetic world: sample scenes as an image grid, and the table of its knobs.

:func:`sample_gallery` turns the first scenes of a world into a tidy table (one row per scene, the
image as a PNG data URL); :func:`scene_gallery_chart` draws that table as a grid of images with
their captions on hover; :func:`knobs_table` lists the knobs of
:class:`~clipbias.data.synthetic.WorldConfig` with the description each field carries in its
metadata (``field(metadata={"doc": ...})``).
"""

from __future__ import annotations

import base64
import dataclasses
import io
from collections.abc import Sequence

import altair as alt
import numpy as np
import pandas as pd
from PIL import Image

from clipbias.data.synthetic.config import WorldConfig
from clipbias.data.synthetic.world import World
from clipbias.viz._tables import require_columns

__all__ = ["SCENE_COLUMNS", "knobs_table", "sample_gallery", "scene_gallery_chart"]

#: Columns of a :func:`sample_gallery` table that describe a scene (the grid's tooltip).
SCENE_COLUMNS: tuple[str, ...] = ("caption", "group", "concept", "context")


def _data_url(image: np.ndarray, scale: int) -> str:
    """PNG data URL of an RGB uint8 image, upscaled ``scale`` times (nearest neighbour)."""
    big = Image.fromarray(image).resize((image.shape[1] * scale, image.shape[0] * scale),
                                        Image.NEAREST)
    buf = io.BytesIO()
    big.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def sample_gallery(world: World, *, n: int = 12, columns: int = 4, scale: int = 3) -> pd.DataFrame:
    """The first ``n`` scenes of ``world`` as a table for an image grid.

    One row per scene ``i`` (``0 <= i < n``) with ``row = i // columns``, ``col = i % columns``,
    ``url`` (the image as a PNG data URL, ``scale`` times larger than ``world.images[i]``) and the
    scene's ``caption``, ``group``, ``concept`` and ``context``.
    """
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= len(world):
        raise ValueError(f"n must be an integer in [1, {len(world)}] (the world's size), got {n!r}")
    for name, value in (("columns", columns), ("scale", scale)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    table = world.table().head(n)
    return pd.DataFrame({
        "row": np.arange(n) // columns, "col": np.arange(n) % columns,
        "url": [_data_url(world.images[i], scale) for i in range(n)],
        **{column: table[column].to_numpy() for column in SCENE_COLUMNS},
    })


def scene_gallery_chart(
    gallery: pd.DataFrame,
    *,
    row: str = "row",
    col: str = "col",
    url: str = "url",
    tooltip: Sequence[str] = SCENE_COLUMNS,
    tile: int = 96,
    gap: int = 14,
    title: str = "",
) -> alt.Chart:
    """A grid of images, one per row of ``gallery`` (for example a :func:`sample_gallery` table).

    The image whose URL is in column ``url`` sits at grid position (``row``, ``col``) (integers
    ``>= 0``, each position used once), drawn ``tile`` pixels square in a cell of ``tile + gap``
    pixels; hovering it shows the columns named in ``tooltip``.
    """
    tooltip = list(tooltip)
    require_columns(gallery, [row, col, url, *tooltip], what="gallery")
    for name, value, low in (("tile", tile, 1), ("gap", gap, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    for column in (row, col):
        values = gallery[column]
        if not pd.api.types.is_integer_dtype(values) or (values < 0).any():
            raise ValueError(f"gallery column {column!r} must hold integers >= 0 (grid positions)")
    if gallery.duplicated([row, col]).any():
        raise ValueError(f"two images share a grid position ({row!r}, {col!r}); give each its own")
    if not gallery[url].map(lambda u: isinstance(u, str) and bool(u)).all():
        raise ValueError(f"gallery column {url!r} must hold image URLs (non-empty strings)")
    step = alt.Step(tile + gap)
    return alt.Chart(gallery).mark_image(width=tile, height=tile).encode(
        x=alt.X(f"{col}:O", axis=None),
        y=alt.Y(f"{row}:O", axis=None),
        url=alt.Url(f"{url}:N"),
        tooltip=[alt.Tooltip(f"{column}:N") for column in tooltip],
    ).properties(width=step, height=step, title=title)


def knobs_table(config: WorldConfig | None = None) -> pd.DataFrame:
    """The knobs of :class:`~clipbias.data.synthetic.WorldConfig`, one row per field.

    Columns ``knob`` (the field name), ``value`` (its value in ``config``; default: the defaults)
    and ``meaning`` (the field's ``metadata["doc"]``).
    """
    config = WorldConfig() if config is None else config
    if not isinstance(config, WorldConfig):
        raise ValueError(f"config must be a WorldConfig (got {type(config).__name__})")
    fields = dataclasses.fields(config)
    for f in fields:
        if "doc" not in f.metadata:
            raise ValueError(f"WorldConfig.{f.name} has no description: declare it with "
                             "field(default=..., metadata={'doc': '<one line>'})")
    return pd.DataFrame({
        "knob": [f.name for f in fields],
        # object dtype: each value keeps its own type (8000 stays an int, None stays None)
        "value": pd.Series([getattr(config, f.name) for f in fields], dtype=object),
        "meaning": [f.metadata["doc"] for f in fields],
    })
