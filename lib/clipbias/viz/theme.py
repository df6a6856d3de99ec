"""The book's altair theme: one look for every chart in every chapter.

Importing :mod:`clipbias.viz` registers the theme under the name ``"clipbias"`` and enables it, so
a notebook only needs ``import clipbias.viz`` (or any ``from clipbias.viz import ...``).
"""

from __future__ import annotations

import altair as alt

__all__ = ["CATEGORY_COLORS", "THEME_NAME", "enable_theme", "theme_config"]

THEME_NAME = "clipbias"

# Okabe-Ito colours: distinguishable under the common forms of colour-vision deficiency.
CATEGORY_COLORS: tuple[str, ...] = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#CC79A7",
    "#56B4E9",
    "#D55E00",
    "#F0E442",
    "#000000",
)

_FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"


def theme_config() -> alt.theme.ThemeConfig:
    """Return the theme as a Vega-Lite ``config`` mapping (fonts, sizes, colour ranges, axes)."""
    return {
        "config": {
            "font": _FONT,
            "view": {"continuousWidth": 420, "continuousHeight": 260, "stroke": None},
            "range": {"category": list(CATEGORY_COLORS)},
            "axis": {
                "labelFontSize": 12,
                "titleFontSize": 13,
                "titleFontWeight": "normal",
                "gridColor": "#e6e6e6",
                "domainColor": "#888888",
                "tickColor": "#888888",
                # tick labels never touch ("0.00.1"): drop every other one until 6 px apart
                "labelOverlap": "greedy",
                "labelSeparation": 6,
                "labelLimit": 200,
            },
            # below the plot: a legend at the right takes width a phone does not have
            "legend": {"labelFontSize": 12, "titleFontSize": 13, "titleFontWeight": "normal",
                       "orient": "bottom", "columns": 3, "labelLimit": 180},
            "title": {"fontSize": 15, "fontWeight": "normal", "anchor": "start", "offset": 10},
            "header": {"labelFontSize": 12, "titleFontSize": 13},
            "point": {"size": 60, "filled": True},
            "bar": {"color": CATEGORY_COLORS[0]},
            "line": {"strokeWidth": 2},
        }
    }


def enable_theme() -> str:
    """Register the ``"clipbias"`` theme with altair (once) and enable it; return its name."""
    if THEME_NAME not in alt.theme.names():
        alt.theme.register(THEME_NAME, enable=False)(theme_config)
    alt.theme.enable(THEME_NAME)
    return THEME_NAME
