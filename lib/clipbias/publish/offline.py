"""Charts in the HTML book without a network: the vega bundle and offline chart HTML.

How a chart reaches the HTML book without a CDN:

1. In a notebook, :func:`clipbias.viz.render.book_renderer` (enabled by ``import clipbias.viz``)
   emits the Vega-Lite spec under its mime type beside altair's usual HTML.
2. When the book is published, :func:`offline_html` turns each spec into a ``<div>`` and a small
   script that calls ``window.vegaEmbed``; :func:`clipbias.viz.render.static_png` adds a PNG for
   non-HTML builders.
3. The Sphinx extension :mod:`clipbias.publish.sphinx` serves :func:`javascript_bundle` (vega,
   vega-lite and vega-embed, generated offline by ``vl-convert``) from the book's ``_static``
   folder and loads it on every page.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import altair as alt
import vl_convert as vlc

from clipbias.atomic import atomic_write_text
from clipbias.paths import cache_dir
from clipbias.viz.render import spec_vl_version

__all__ = [
    "BUNDLE_NAME",
    "DEFAULT_EMBED_OPTIONS",
    "bundle_path",
    "javascript_bundle",
    "offline_html",
]

#: File name of the vega + vega-lite + vega-embed bundle under the book's ``_static`` folder.
BUNDLE_NAME = "clipbias-vega.js"

#: vega-embed options for the book: SVG output (crisp, and testable in a browser) and an action
#: menu without the links that need the network (the online Vega editor).
DEFAULT_EMBED_OPTIONS: dict[str, Any] = {
    "renderer": "svg",
    "actions": {"export": True, "source": True, "compiled": False, "editor": False},
}

def _altair_vl_version() -> str:
    """The Vega-Lite version of the installed altair, in ``vl-convert`` form (``"6.4"``)."""
    return spec_vl_version({"$schema": alt.SCHEMA_URL})


def javascript_bundle(*, vl_version: str | None = None) -> str:
    """Return the self-contained vega + vega-lite + vega-embed script (a classic, non-module script).

    The bundle comes from ``vl_convert.javascript_bundle`` (no network) and defines
    ``window.vega``, ``window.vegaLite`` and ``window.vegaEmbed``. It is wrapped in a function
    so its minified top-level names cannot collide with the page's other scripts.
    ``vl_version`` defaults to altair's own Vega-Lite version.
    """
    version = vl_version or _altair_vl_version()
    body = vlc.javascript_bundle(vl_version=version)
    return (
        f"/* vega, vega-lite {version} and vega-embed, bundled offline by vl-convert "
        f"{vlc.__version__} */\n(function () {{\n{body}\n}})();\n"
    )


def bundle_path(*, vl_version: str | None = None) -> Path:
    """Write :func:`javascript_bundle` once into the clipbias cache and return the file's path.

    The file lives alone in a folder keyed by the vl-convert and Vega-Lite versions, so the folder
    can be handed to Sphinx as an ``html_static_path`` entry.
    """
    version = vl_version or _altair_vl_version()
    folder = cache_dir("vega-bundle", f"vlconvert-{vlc.__version__}-vl-{version}")
    path = folder / BUNDLE_NAME
    if not path.is_file():
        atomic_write_text(path, javascript_bundle(vl_version=version))
    return path


def _script_json(value: Any) -> str:
    """JSON for inlining in a ``<script>``: ``</`` is escaped so the data cannot end the tag."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True).replace("</", "<\\/")


def offline_html(
    spec: Mapping[str, Any],
    *,
    element_id: str,
    embed_options: Mapping[str, Any] | None = None,
) -> str:
    """Return an HTML snippet that draws ``spec`` with the page's ``window.vegaEmbed``.

    The snippet loads nothing: the page must include :data:`BUNDLE_NAME` (the Sphinx extension
    :mod:`clipbias.publish.sphinx` does). If the bundle is missing, the chart's box says so and the
    browser console gets an error, so a broken page never fails silently.
    ``element_id`` must be unique within the page (letters, digits, ``-`` and ``_``).

    When the drawn chart is wider than its box (a phone) and its panels can wrap (a facet or an
    ``hconcat``), the snippet draws it again with ``window.clipbiasWrap`` (the book's
    ``clipbias-book.js``): fewer panels per row. The book's CSS scales whatever is still too wide.
    """
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", element_id):
        raise ValueError(f"element_id must be letters, digits, '-' or '_' (got {element_id!r})")
    if not isinstance(spec, Mapping) or not spec:
        raise ValueError("spec must be a non-empty Vega-Lite mapping")
    options = dict(DEFAULT_EMBED_OPTIONS if embed_options is None else embed_options)
    return (
        f'<div class="clipbias-chart" id="{element_id}"></div>\n'
        '<script type="text/javascript">\n'
        "(function () {\n"
        f'  var el = document.getElementById("{element_id}");\n'
        '  if (typeof window.vegaEmbed !== "function") {\n'
        '    el.textContent = "This chart needs the vega bundle of the book (_static/'
        f'{BUNDLE_NAME}).";\n'
        f'    console.error("clipbias: window.vegaEmbed is missing; {BUNDLE_NAME} not loaded");\n'
        "    return;\n"
        "  }\n"
        f"  var spec = {_script_json(dict(spec))}, options = {_script_json(options)};\n"
        "  function wrap(result) {\n"
        "    var svg = el.querySelector('svg');\n"
        "    var natural = svg ? parseFloat(svg.getAttribute('width')) : 0;\n"
        "    var narrower = typeof window.clipbiasWrap === 'function'\n"
        "      ? window.clipbiasWrap(spec, natural, el.clientWidth) : null;\n"
        "    if (!narrower) { return result; }\n"
        "    result.finalize();\n"
        "    return window.vegaEmbed(el, narrower, options);\n"
        "  }\n"
        "  window.vegaEmbed(el, spec, options).then(wrap)\n"
        '    .catch(function (err) { el.textContent = "Chart error: " + err; console.error(err); });\n'
        "})();\n"
        "</script>\n"
    )


