"""Sphinx extension for the book's HTML pages: offline vega and MathJax, the book's own styles,
launch buttons that open the source notebooks, the landing page's chapter table, and a clean
browser console.

Enable it in ``_config.yml`` with ``sphinx: extra_extensions: [clipbias.publish.sphinx]``.

- ``config-inited``: serves the vega bundle (:func:`clipbias.publish.offline.bundle_path`, written
  once into the clipbias cache) and loads it on every page; serves the book's CSS and script
  (``clipbias-book.css``: display math, code and charts never widen the page;
  ``clipbias-book.js``: chart panels wrap on narrow screens) from the package's ``static/``
  folder; serves MathJax 3 with SVG output (:func:`mathjax_folder`, from the PyPI package
  ``django-static-mathjax``): SVG output draws glyphs as paths, so no font file is loaded (a font
  load across origins is what fails on ``file://`` pages). Nothing is fetched from the network.
- ``config-inited``: the repository URL is one setting, ``repository.url`` in ``_config.yml``.
  When it is empty the launch buttons and the repository button are hidden.
- ``html-page-context``: a study page is the executed copy ``book/executed/<name>.ipynb`` (git
  ignored); its launch buttons are pointed at the source ``notebooks/<name>.md``, which Jupyter
  opens as a notebook through jupytext (:func:`source_launch_url`). Exact duplicate scripts are
  dropped (:func:`unique_scripts`; sphinx-thebe 0.3 registers its inline configuration twice
  under Sphinx 7, and the second copy re-declares a ``const``).
- The directive ``chapter-table`` renders :func:`clipbias.publish.pages.chapter_table_markdown`.
- The pybtex style ``author_year`` (``bibtex_default_style: author_year`` in ``_config.yml``):
  the plain style, sorted by author, year and title, with labels such as "Caliskan et al., 2017"
  (:class:`AuthorYearLabels`), so the reference list matches the author-year citations.
- ``config-inited``: the pydata header strip, which only repeats the sidebar's search box, is
  emptied (``navbar_persistent``) and hidden by the book's CSS.
"""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Iterator
from importlib.metadata import version
from importlib.resources import files
from pathlib import Path
from typing import Any

from docutils import nodes
from docutils.statemachine import StringList
from pybtex.plugin import register_plugin
from pybtex.richtext import Text
from pybtex.style.formatting.plain import Style as PlainStyle
from pybtex.style.labels import BaseLabelStyle
from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.util.docutils import SphinxDirective

from clipbias.atomic import atomic_dir
from clipbias.paths import cache_dir
from clipbias.publish.budgets import BUDGETS_FILE
from clipbias.publish.offline import BUNDLE_NAME, bundle_path
from clipbias.publish.pages import chapter_table_markdown
from clipbias.publish.toc import EXECUTED_DIR, NOTEBOOK_DIR

__all__ = [
    "AUTHOR_YEAR",
    "BOOK_CSS",
    "BOOK_JS",
    "MATHJAX_CONFIG",
    "MATHJAX_SCRIPT",
    "AuthorYearLabels",
    "AuthorYearStyle",
    "mathjax_folder",
    "setup",
    "source_launch_url",
    "unique_scripts",
]

#: The book's own stylesheet and script, in ``clipbias/publish/static/``.
BOOK_CSS = "clipbias-book.css"
BOOK_JS = "clipbias-book.js"

#: The MathJax 3 component the book loads: TeX input with every extension, SVG output.
MATHJAX_SCRIPT = "tex-svg-full.js"

#: MathJax 3 configuration. MyST marks pages ``tex2jax_ignore`` and Sphinx wraps formulas in
#: ``\(...\)`` / ``\[...\]`` inside elements of class ``math``, so only those are typeset. The menu
#: is off: its speech and exploration options would load more files.
MATHJAX_CONFIG: dict[str, Any] = {
    "tex": {"inlineMath": [["\\(", "\\)"]], "displayMath": [["\\[", "\\]"]],
            "processEscapes": True},
    "options": {"ignoreHtmlClass": "tex2jax_ignore|mathjax_ignore",
                "processHtmlClass": "tex2jax_process|mathjax_process|math|output_area",
                "enableMenu": False},
    "svg": {"fontCache": "global"},
}


def _add_static(app: Sphinx, config: Config) -> None:
    """Serve and load the vega bundle, the book's CSS and script."""
    static = Path(str(files("clipbias.publish") / "static"))
    config.html_static_path = [*config.html_static_path, str(bundle_path().parent), str(static)]
    app.add_js_file(BUNDLE_NAME)
    app.add_js_file(BOOK_JS)
    app.add_css_file(BOOK_CSS)


def mathjax_folder() -> Path:
    """Copy MathJax 3's :data:`MATHJAX_SCRIPT` once into the clipbias cache; return its parent.

    The component is self-contained (every TeX extension, the SVG glyph paths). The returned folder
    holds one entry, ``mathjax/``, so it can be handed to Sphinx as an ``html_static_path`` entry
    (Sphinx copies the folder's content into ``_static``).
    """
    source = Path(str(files("mathjax"))) / "static" / "mathjax" / "es5" / MATHJAX_SCRIPT
    if not source.is_file():
        raise RuntimeError(f"{source} is missing: install the package django-static-mathjax "
                           "(pip extra 'book')")
    parent = cache_dir("book-static", f"mathjax-{version('django-static-mathjax')}")
    if not (parent / "mathjax" / MATHJAX_SCRIPT).is_file():
        with atomic_dir(parent / "mathjax") as tmp:
            shutil.copy2(source, Path(tmp) / MATHJAX_SCRIPT)
    return parent


def _add_mathjax(app: Sphinx, config: Config) -> None:
    """Point Sphinx's MathJax at the offline MathJax 3 copy, with :data:`MATHJAX_CONFIG`."""
    config.html_static_path = [*config.html_static_path, str(mathjax_folder())]
    config.mathjax_path = f"mathjax/{MATHJAX_SCRIPT}"
    config.mathjax2_config = None
    config.mathjax3_config = MATHJAX_CONFIG
    config.myst_update_mathjax = False  # MATHJAX_CONFIG already names MyST's classes


#: Name of the pybtex formatting style (and of its label style) registered by this extension.
AUTHOR_YEAR = "author_year"


class AuthorYearLabels(BaseLabelStyle):
    """Bibliography labels "Name, year", "Name and Other, year" or "Name et al., year"; a label
    that two entries would share gets a letter ("Zhang et al., 2024a", "... 2024b")."""

    @staticmethod
    def _label(entry: Any) -> str:
        people = entry.persons.get("author") or entry.persons.get("editor") or []
        names = [Text.from_latex(" ".join(p.last_names)).render_as("text") for p in people]
        if not names:
            who = entry.key
        elif len(names) == 1:
            who = names[0]
        elif len(names) == 2:
            who = f"{names[0]} and {names[1]}"
        else:
            who = f"{names[0]} et al."
        return f"{who}, {entry.fields.get('year', 'n.d.')}"

    def format_labels(self, sorted_entries: Any) -> Iterator[str]:
        entries = list(sorted_entries)
        labels = [self._label(entry) for entry in entries]
        counts, seen = Counter(labels), Counter()
        for label in labels:
            if counts[label] > 1:
                seen[label] += 1
                yield f"{label}{chr(ord('a') + seen[label] - 1)}"
            else:
                yield label


class AuthorYearStyle(PlainStyle):
    """pybtex's plain style with :class:`AuthorYearLabels` (sorted by author, year, title)."""

    default_label_style = AUTHOR_YEAR


def _register_bibtex_style() -> None:
    """Register :data:`AUTHOR_YEAR` with pybtex (labels and formatting), once."""
    for group, plugin in (("pybtex.style.labels", AuthorYearLabels),
                          ("pybtex.style.formatting", AuthorYearStyle)):
        try:
            register_plugin(group, AUTHOR_YEAR, plugin)
        except Exception as exc:  # pybtex refuses a second registration of the same name
            if "already registered" not in str(exc):
                raise


def _repository_buttons(app: Sphinx, config: Config) -> None:
    """Show the repository and launch buttons only when ``repository.url`` is set; drop the
    header strip's duplicate search box."""
    options = config.html_theme_options
    options["navbar_persistent"] = []
    if str(options.get("repository_url") or "").strip():
        options["use_repository_button"] = True
    else:
        options.pop("launch_buttons", None)
        for button in ("use_repository_button", "use_issues_button", "use_edit_page_button"):
            options[button] = False


def source_launch_url(url: str, docname: str) -> str | None:
    """Rewrite a launch URL of the page ``docname`` to open the page's source notebook.

    For ``docname = "book/executed/<name>"`` the path ``book/executed/<name>.ipynb`` in ``url``
    becomes ``notebooks/<name>.md`` (Binder and JupyterHub open it as a notebook through
    jupytext). Returns None when ``url`` cannot open the source: a Colab URL (Colab opens only
    ``.ipynb`` files, and the executed copies are not in the repository). Other pages' URLs are
    returned unchanged.
    """
    prefix = EXECUTED_DIR + "/"
    if not docname.startswith(prefix):
        return url
    name = docname[len(prefix):]
    if "colab" in url:
        return None
    return url.replace(f"{EXECUTED_DIR}/{name}.ipynb", f"{NOTEBOOK_DIR}/{name}.md")


def _launch_sources(app: Sphinx, pagename: str, templatename: str, context: dict[str, Any],
                    doctree: Any) -> None:
    """``html-page-context`` handler (after the theme's): launch buttons open the sources."""
    def rewrite(buttons: list[Any]) -> list[Any]:
        kept = []
        for button in buttons:
            if isinstance(button, dict) and isinstance(button.get("buttons"), list):
                button = {**button, "buttons": rewrite(button["buttons"])}
                if not button["buttons"]:
                    continue
            elif isinstance(button, dict) and isinstance(button.get("url"), str):
                url = source_launch_url(button["url"], pagename)
                if url is None:
                    continue
                button = {**button, "url": url}
            kept.append(button)
        return kept

    if isinstance(context.get("header_buttons"), list):
        context["header_buttons"] = rewrite(context["header_buttons"])


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


class ChapterTable(SphinxDirective):
    """``chapter-table``: the study chapters of ``_toc.yml`` with their data source, time budgets
    and the ``full`` profile's device (:func:`clipbias.publish.pages.chapter_table_markdown`)."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        root = Path(self.env.srcdir)
        for path in ("_toc.yml", BUDGETS_FILE, f"{NOTEBOOK_DIR}/profiles/full.yaml"):
            self.env.note_dependency(str(root / path))
        text = chapter_table_markdown(root)
        holder = nodes.container()
        self.state.nested_parse(StringList(text.splitlines()), self.content_offset, holder)
        return list(holder.children)


def setup(app: Sphinx) -> dict[str, Any]:
    """Register the extension with Sphinx."""
    app.connect("config-inited", _add_static)
    app.connect("config-inited", _add_mathjax)
    app.connect("config-inited", _repository_buttons)
    app.connect("html-page-context", _launch_sources, priority=600)
    app.connect("html-page-context", _dedupe_page_scripts)
    app.add_directive("chapter-table", ChapterTable)
    _register_bibtex_style()
    return {"version": "2", "parallel_read_safe": True, "parallel_write_safe": True}
