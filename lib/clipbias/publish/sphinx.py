"""Sphinx extension for the book's HTML pages: offline vega, and a clean browser console.

Enable it in ``_config.yml`` with ``sphinx: extra_extensions: [clipbias.publish.sphinx]``.

- At ``config-inited`` it writes the vega bundle (:func:`clipbias.publish.offline.bundle_path`) into
  the clipbias cache (once per vl-convert and Vega-Lite version), adds that folder to
  ``html_static_path`` and loads the bundle on every page. Nothing is written into the source tree
  and nothing is fetched from the network.
- At ``config-inited`` it also serves MathJax 2.7 from the ``jupyter-server-mathjax`` package
  (copied once into the clipbias cache, under ``_static/mathjax/``), so formulas render offline
  instead of loading MathJax from a CDN.
- At ``html-page-context`` it drops exact duplicates from the page's script list. sphinx-thebe
  0.3 (loaded by Jupyter Book 1) registers its inline configuration script after the HTML builder
  has started, and under Sphinx 7 that script ends up twice in every page; the second copy
  re-declares a ``const`` and the browser reports a JavaScript error.
"""

from __future__ import annotations

import shutil
from importlib.metadata import version
from importlib.resources import files
from pathlib import Path
from typing import Any

from sphinx.application import Sphinx
from sphinx.config import Config

from clipbias.atomic import atomic_dir
from clipbias.paths import cache_dir
from clipbias.publish.offline import BUNDLE_NAME, bundle_path

__all__ = ["MATHJAX_CONFIG", "mathjax_folder", "setup", "unique_scripts"]

#: MathJax 2 configuration. The package ships the combined TeX + HTML-CSS configuration; MathJax
#: draws with the reader's installed fonts, because its web-font loader trips a CORS error in
#: current browsers (on file:// and http:// pages alike). MyST marks pages ``tex2jax_ignore`` and
#: Sphinx marks formulas ``math``, so only those are typeset.
MATHJAX_CONFIG: dict[str, Any] = {
    "tex2jax": {"ignoreClass": "tex2jax_ignore|mathjax_ignore",
                "processClass": "math|tex2jax_process|mathjax_process|output_area"},
    "HTML-CSS": {"availableFonts": [], "preferredFont": None, "webFont": None, "imageFont": None},
    "showMathMenu": False,
}


def _add_bundle(app: Sphinx, config: Config) -> None:
    """Put the bundle's folder on ``html_static_path`` and load the bundle in every page's head."""
    folder = str(bundle_path().parent)
    config.html_static_path = [*config.html_static_path, folder]
    app.add_js_file(BUNDLE_NAME)


def mathjax_folder() -> Path:
    """Copy the packaged MathJax 2.7 tree once into the clipbias cache; return its parent folder.

    The returned folder holds one entry, ``mathjax/``, so it can be handed to Sphinx as an
    ``html_static_path`` entry (Sphinx copies the folder's content into ``_static``).
    """
    source = Path(str(files("jupyter_server_mathjax"))) / "static"
    parent = cache_dir("book-static", f"mathjax-{version('jupyter-server-mathjax')}")
    if not (parent / "mathjax" / "MathJax.js").is_file():
        with atomic_dir(parent / "mathjax") as tmp:
            shutil.copytree(source, tmp, dirs_exist_ok=True)
    return parent


def _add_mathjax(app: Sphinx, config: Config) -> None:
    """Point Sphinx's MathJax at the offline copy, with :data:`MATHJAX_CONFIG`."""
    config.html_static_path = [*config.html_static_path, str(mathjax_folder())]
    config.mathjax_path = "mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full"
    config.mathjax2_config = MATHJAX_CONFIG
    config.mathjax3_config = None
    config.myst_update_mathjax = False  # MyST's override is written for MathJax 3


def unique_scripts(scripts: list[Any]) -> list[Any]:
    """Return ``scripts`` without repeats (same file name and same attributes, body included).

    Entries are Sphinx's ``_JavaScript`` objects (``filename``, ``attributes``); an inline script
    has no file name, spelled ``None`` or ``""`` depending on how it was added, so both count as
    the same. The first occurrence of each script is kept, in order.
    """
    seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
    kept = []
    for script in scripts:
        attributes = getattr(script, "attributes", {}) or {}
        name = getattr(script, "filename", script) or ""
        key = (str(name), tuple(sorted((k, str(v)) for k, v in attributes.items())))
        if key not in seen:
            seen.add(key)
            kept.append(script)
    return kept


def _dedupe_page_scripts(
    app: Sphinx, pagename: str, templatename: str, context: dict[str, Any], doctree: Any
) -> None:
    """``html-page-context`` handler: replace the page's script list by :func:`unique_scripts`."""
    if context.get("script_files"):
        context["script_files"] = unique_scripts(list(context["script_files"]))


def setup(app: Sphinx) -> dict[str, Any]:
    """Register the extension with Sphinx."""
    app.connect("config-inited", _add_bundle)
    app.connect("config-inited", _add_mathjax)
    app.connect("html-page-context", _dedupe_page_scripts)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
