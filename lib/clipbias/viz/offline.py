"""Offline rendering of altair charts: interactive HTML with no network, and static images.

How a chart reaches the HTML book without a CDN:

1. In a notebook, :func:`book_renderer` (enabled by ``import clipbias.viz``) emits the Vega-Lite
   spec under its mime type (``application/vnd.vegalite.v6+json``) beside altair's usual HTML,
   so Jupyter front ends keep rendering charts as before (online, as altair does).
2. When the book is published, :func:`offline_html` turns each spec into a ``<div>`` and a small
   script that calls ``window.vegaEmbed``; :func:`static_png` adds a PNG for non-HTML builders.
3. The Sphinx extension :mod:`clipbias.viz.sphinx` serves :func:`javascript_bundle` (vega,
   vega-lite and vega-embed, generated offline by ``vl-convert``) from the book's ``_static``
   folder and loads it on every page.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import altair as alt
import vl_convert as vlc

from clipbias.atomic import atomic_write_bytes, atomic_write_text
from clipbias.paths import cache_dir

__all__ = [
    "BUNDLE_NAME",
    "DEFAULT_EMBED_OPTIONS",
    "VEGALITE_MIME_RE",
    "book_renderer",
    "bundle_path",
    "javascript_bundle",
    "offline_html",
    "save_static",
    "spec_vl_version",
    "static_png",
]

#: File name of the vega + vega-lite + vega-embed bundle under the book's ``_static`` folder.
BUNDLE_NAME = "clipbias-vega.js"

#: Matches the mime types that carry Vega-Lite specs (``application/vnd.vegalite.v6+json``, and
#: altair 6's own ``application/vnd.vegalite.v6.json``).
VEGALITE_MIME_RE = re.compile(r"^application/vnd\.vegalite\.v\d+[.+]json$")

#: vega-embed options for the book: SVG output (crisp, and testable in a browser) and an action
#: menu without the links that need the network (the online Vega editor).
DEFAULT_EMBED_OPTIONS: dict[str, Any] = {
    "renderer": "svg",
    "actions": {"export": True, "source": True, "compiled": False, "editor": False},
}

_SCHEMA_RE = re.compile(r"/vega-lite/v(\d+)\.(\d+)(?:\.\d+)?\.json$")


def spec_vl_version(spec: Mapping[str, Any]) -> str:
    """Return the ``vl-convert`` Vega-Lite version (``"6.4"``) that matches a spec's ``$schema``.

    Raises ``ValueError`` when the spec has no Vega-Lite ``$schema`` or names a version that the
    installed ``vl-convert`` does not carry.
    """
    schema = spec.get("$schema")
    match = _SCHEMA_RE.search(schema) if isinstance(schema, str) else None
    if match is None:
        raise ValueError(f"spec has no Vega-Lite $schema URL (got {schema!r})")
    version = f"{match.group(1)}.{match.group(2)}"
    available = vlc.get_vegalite_versions()
    if version not in available:
        raise ValueError(
            f"Vega-Lite {version} (from $schema {schema!r}) is not bundled with vl-convert "
            f"{vlc.__version__}; available: {', '.join(available)}"
        )
    return version


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
    :mod:`clipbias.viz.sphinx` does). If the bundle is missing, the chart's box says so and the
    browser console gets an error, so a broken page never fails silently.
    ``element_id`` must be unique within the page (letters, digits, ``-`` and ``_``).
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
        f"  window.vegaEmbed(el, {_script_json(dict(spec))}, {_script_json(options)})\n"
        '    .catch(function (err) { el.textContent = "Chart error: " + err; console.error(err); });\n'
        "})();\n"
        "</script>\n"
    )


def static_png(spec: Mapping[str, Any], *, scale: float = 2.0) -> bytes:
    """Render a Vega-Lite spec to PNG bytes with vl-convert (offline; ``scale`` multiplies pixels)."""
    if scale <= 0:
        raise ValueError(f"scale must be positive (got {scale})")
    return vlc.vegalite_to_png(dict(spec), vl_version=spec_vl_version(spec), scale=scale)


def save_static(
    chart: alt.TopLevelMixin | Mapping[str, Any],
    path: str | os.PathLike[str],
    *,
    scale: float = 2.0,
) -> Path:
    """Save a chart (altair object or Vega-Lite dict) as a static ``.png`` or ``.svg``, atomically.

    The format follows the file suffix. Returns the written path.
    """
    path = Path(path)
    spec = chart.to_dict() if isinstance(chart, alt.TopLevelMixin) else dict(chart)
    suffix = path.suffix.lower()
    if suffix == ".png":
        return atomic_write_bytes(path, static_png(spec, scale=scale))
    if suffix == ".svg":
        svg = vlc.vegalite_to_svg(spec, vl_version=spec_vl_version(spec))
        return atomic_write_text(path, svg)
    raise ValueError(f"save_static writes .png or .svg files (got {path.name!r})")


def book_renderer(spec: dict[str, Any], **metadata: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """altair renderer: the Vega-Lite spec under its mime type plus altair's standard HTML.

    The spec is what :func:`clipbias.publish.execute_notebook` turns into offline HTML and PNG; the
    standard HTML keeps charts working in classic Jupyter front ends (which load vega online).
    """
    from altair.vegalite.v6.display import html_renderer

    major = spec_vl_version(spec).split(".")[0]
    # "+json" (not altair 6's ".json") so that nbformat stores the spec as a JSON object.
    bundle = {f"application/vnd.vegalite.v{major}+json": spec, **html_renderer(spec, **metadata)}
    bundle["text/plain"] = f"<altair chart: Vega-Lite {major}>"
    return bundle, {}
