"""Altair chart builders, the synthetic-world gallery, the book theme and offline chart rendering.

Importing this package registers and enables the book's altair theme (``"clipbias"``) and the
``"clipbias"`` renderer (:func:`clipbias.viz.render.book_renderer`), once per process. A study
notebook therefore starts with ``import clipbias.viz`` (or imports a builder from it).
"""

from __future__ import annotations

import altair as alt

from clipbias.viz.charts import coverage_heatmap, dot_chart, interval_chart, model_labels
from clipbias.viz.gallery import knobs_table, sample_gallery, scene_gallery_chart
from clipbias.viz.render import book_renderer, save_static, static_png
from clipbias.viz.tables import Table, format_table
from clipbias.viz.theme import THEME_NAME, enable_theme

__all__ = [
    "THEME_NAME",
    "Table",
    "book_renderer",
    "coverage_heatmap",
    "dot_chart",
    "enable_renderer",
    "enable_theme",
    "format_table",
    "interval_chart",
    "knobs_table",
    "model_labels",
    "sample_gallery",
    "save_static",
    "scene_gallery_chart",
    "static_png",
]

RENDERER_NAME = "clipbias"


def enable_renderer() -> str:
    """Register the ``"clipbias"`` altair renderer (once) and enable it; return its name."""
    if RENDERER_NAME not in alt.renderers.names():
        alt.renderers.register(RENDERER_NAME, book_renderer)
    alt.renderers.enable(RENDERER_NAME)
    return RENDERER_NAME


enable_theme()
enable_renderer()
