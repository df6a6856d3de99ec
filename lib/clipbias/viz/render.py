"""How a chart leaves a notebook: the book's altair renderer and static images.

- :func:`book_renderer` (enabled by ``import clipbias.viz``) emits each chart's Vega-Lite spec
  under its mime type (``application/vnd.vegalite.v6+json``) beside altair's usual HTML, so
  Jupyter front ends keep rendering charts as before and the book build
  (:mod:`clipbias.publish.offline`) finds the spec to draw offline;
- :func:`static_png` and :func:`save_static` render a spec to PNG or SVG with ``vl-convert``
  (no network).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import altair as alt
import vl_convert as vlc

from clipbias.atomic import atomic_write_bytes, atomic_write_text

__all__ = [
    "VEGALITE_MIME_RE",
    "book_renderer",
    "save_static",
    "spec_vl_version",
    "static_png",
]

#: Matches the mime types that carry Vega-Lite specs (``application/vnd.vegalite.v6+json``, and
#: altair 6's own ``application/vnd.vegalite.v6.json``).
VEGALITE_MIME_RE = re.compile(r"^application/vnd\.vegalite\.v\d+[.+]json$")

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
