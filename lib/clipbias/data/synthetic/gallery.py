"""Book helpers: sample images as data-URL PNGs with their captions, and the table of knobs."""

from __future__ import annotations

import base64
import dataclasses
import inspect
import io
import re

import numpy as np
import pandas as pd
from PIL import Image

from clipbias.data.synthetic.config import WorldConfig
from clipbias.data.synthetic.world import World

__all__ = ["knobs_table", "sample_gallery"]


def _data_url(image: np.ndarray, scale: int) -> str:
    """PNG data URL of an RGB uint8 image, upscaled ``scale`` times (nearest neighbour)."""
    big = Image.fromarray(image).resize((image.shape[1] * scale, image.shape[0] * scale),
                                        Image.NEAREST)
    buf = io.BytesIO()
    big.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def sample_gallery(world: World, *, n: int = 12, columns: int = 4, scale: int = 3) -> pd.DataFrame:
    """The first ``n`` items of ``world`` as a table for an image grid: ``row``, ``col``,
    ``url`` (data-URL PNG, ``scale`` times larger), ``caption``, ``group``, ``concept``,
    ``context``."""
    if not 1 <= n <= len(world):
        raise ValueError(f"n must be in [1, {len(world)}], got {n}")
    if columns < 1 or scale < 1:
        raise ValueError("columns and scale must be >= 1")
    table = world.table().head(n)
    return pd.DataFrame({
        "row": np.arange(n) // columns, "col": np.arange(n) % columns,
        "url": [_data_url(world.images[i], scale) for i in range(n)],
        "caption": table["caption"], "group": table["group"], "concept": table["concept"],
        "context": table["context"],
    })


_FIELD = re.compile(r"^\s+(\w+): [^=]+=\s*[^#]+#\s*(.+)$")


def knobs_table(config: WorldConfig | None = None) -> pd.DataFrame:
    """The knobs of :class:`WorldConfig`: ``knob``, ``value`` (of ``config``, default the
    defaults) and ``meaning`` (the field's one-line comment in the source)."""
    config = config or WorldConfig()
    comments = {m[1]: m[2].strip() for line in inspect.getsource(WorldConfig).splitlines()
                if (m := _FIELD.match(line))}
    return pd.DataFrame([{"knob": f.name, "value": getattr(config, f.name),
                          "meaning": comments.get(f.name, "")}
                         for f in dataclasses.fields(config)])
