"""Execute one study notebook: MyST markdown -> jupytext -> papermill -> book-ready ``.ipynb``."""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jupytext
import nbformat
import papermill

from clipbias.atomic import atomic_write_text
from clipbias.publish.profiles import load_profile, parameter_names, profile_path
from clipbias.publish.offline import offline_html
from clipbias.viz.render import VEGALITE_MIME_RE, static_png

__all__ = [
    "KERNEL_NAME",
    "NotebookExecutionError",
    "embed_charts",
    "execute_notebook",
    "fold_default_parameters",
]

#: The Jupyter kernel every study runs in (the environment's own Python).
KERNEL_NAME = "python3"


class NotebookExecutionError(RuntimeError):
    """A cell of a study notebook raised; the message names the notebook, the cell and the error."""


def embed_charts(notebook: nbformat.NotebookNode, *, prefix: str) -> int:
    """Make every altair chart output of ``notebook`` render offline; return how many there were.

    For each output holding a Vega-Lite spec, the spec's mime entry is replaced by ``text/html``
    from :func:`clipbias.publish.offline.offline_html` (element ids ``<prefix>-1``, ``<prefix>-2``, ...)
    and a PNG from :func:`clipbias.viz.render.static_png` for non-HTML builders. An output
    that loads vega from a CDN without carrying its spec (altair's default renderer, when the
    notebook did not ``import clipbias.viz``) raises ``ValueError``.
    """
    count = 0
    for index, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            data = output.get("data", {})
            spec_keys = [key for key in data if VEGALITE_MIME_RE.match(key)]
            if not spec_keys:
                if "vegaEmbed" in str(data.get("text/html", "")):
                    raise ValueError(
                        f"cell {index} draws an altair chart that needs a CDN: the notebook must "
                        "`import clipbias.viz` before drawing charts"
                    )
                continue
            # The spec moves into the HTML: MyST-NB warns about (and so fails on) unknown mime types.
            spec = data.pop(spec_keys[0])
            for extra in spec_keys[1:]:
                data.pop(extra)
            count += 1
            data["text/html"] = offline_html(spec, element_id=f"{prefix}-{count}")
            data["image/png"] = base64.b64encode(static_png(spec)).decode("ascii")
    return count


def fold_default_parameters(notebook: nbformat.NotebookNode) -> bool:
    """Collapse the ``parameters`` cell (the documented defaults) behind a "show" toggle when
    papermill injected the values actually used; return whether it did.

    The injected cell (tag ``injected-parameters``) stays visible, so the page shows the
    parameters of the run first, and the defaults with their comments one click away.
    """
    if not any("injected-parameters" in cell.metadata.get("tags", []) for cell in notebook.cells):
        return False
    for cell in notebook.cells:
        tags = cell.metadata.setdefault("tags", [])
        if "parameters" in tags and "hide-input" not in tags:
            tags.append("hide-input")
    return True


def _resolve_parameters(
    source: Path,
    notebook: nbformat.NotebookNode,
    profile: str | os.PathLike[str] | None,
    overrides: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The profile's section for ``source`` updated by ``overrides``, checked against the notebook."""
    params: dict[str, Any] = {}
    if profile is not None:
        path = profile_path(profile, profiles_dir=source.parent / "profiles")
        sections = load_profile(path)
        if source.stem not in sections:
            raise ValueError(
                f"profile {path} has no section for notebook {source.stem!r}: add "
                f"'{source.stem}: {{}}' (or its parameters) to it"
            )
        params.update(sections[source.stem])
    params.update(overrides or {})
    known = parameter_names(notebook)
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise ValueError(
            f"{source}: unknown parameter(s) {unknown}; its parameters cell defines {known}"
        )
    return params


def execute_notebook(
    path: str | os.PathLike[str],
    profile: str | os.PathLike[str] | None,
    *,
    output_dir: str | os.PathLike[str],
    parameters: Mapping[str, Any] | None = None,
    timeout_s: int | None = None,
) -> Path:
    """Execute a MyST study notebook with a parameter profile; return the executed ``.ipynb``.

    ``path`` is ``notebooks/<stem>.md``; ``profile`` is a profile name (``"ci"``, read from
    ``<notebook folder>/profiles/ci.yaml``), a path to a profile ``.yaml``, or ``None`` (the
    notebook's own defaults). ``parameters`` override the profile's values. The notebook runs in
    the ``python3`` kernel with the notebook's folder as working directory; chart outputs are made
    offline-renderable (:func:`embed_charts`), the defaults cell is folded
    (:func:`fold_default_parameters`) and the result is written atomically to
    ``<output_dir>/<stem>.ipynb``. A failing cell raises :class:`NotebookExecutionError`.
    """
    source = Path(path)
    if source.suffix != ".md" or not source.is_file():
        raise ValueError(f"expected an existing MyST markdown notebook (.md), got {source}")
    if timeout_s is not None and timeout_s <= 0:
        raise ValueError(f"timeout_s must be positive (got {timeout_s})")
    notebook = jupytext.read(source)
    params = _resolve_parameters(source, notebook, profile, parameters)
    try:
        executed = papermill.execute_notebook(
            notebook,
            None,
            parameters=params,
            kernel_name=KERNEL_NAME,
            cwd=str(source.parent.resolve()),
            progress_bar=False,
            log_output=False,
            execution_timeout=timeout_s,
        )
    except papermill.PapermillExecutionError as exc:
        raise NotebookExecutionError(
            f"{source}: cell {exc.cell_index} (execution count {exc.exec_count}) raised "
            f"{exc.ename}: {exc.evalue}\n{''.join(exc.traceback)}"
        ) from exc
    embed_charts(executed, prefix=f"clipbias-chart-{source.stem}")
    fold_default_parameters(executed)
    destination = Path(output_dir) / f"{source.stem}.ipynb"
    atomic_write_text(destination, nbformat.writes(executed))
    return destination
