"""Execute one study notebook: MyST markdown -> jupytext -> papermill -> book-ready ``.ipynb``."""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Mapping
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import jupytext
import nbformat
import papermill
from nbclient.exceptions import CellTimeoutError, DeadKernelError

from clipbias.atomic import atomic_write_text
from clipbias.publish.engine import ENGINE_NAME, CellProgress, deadline_timeout
from clipbias.publish.offline import offline_html
from clipbias.publish.profiles import load_profile, parameter_names, profile_path
from clipbias.viz.render import VEGALITE_MIME_RE, static_png

__all__ = [
    "KERNEL_NAME",
    "RUN_METADATA",
    "NotebookExecutionError",
    "NotebookTimeoutError",
    "embed_charts",
    "execute_notebook",
    "fold_default_parameters",
    "run_record",
]

#: The Jupyter kernel every study runs in (the environment's own Python).
KERNEL_NAME = "python3"


class NotebookExecutionError(RuntimeError):
    """A cell of a study notebook raised; the message names the notebook, the cell and the error."""


class NotebookTimeoutError(NotebookExecutionError):
    """A study notebook ran past its time limit; the message names the notebook and the limit."""


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


#: Key of the executed notebook's metadata that records how it was made (profile, seconds).
RUN_METADATA = "clipbias"


def _profile_label(profile: str | os.PathLike[str] | None) -> str | None:
    """``"ci"`` for the profile ``"ci"`` and for ``.../ci.yaml``; ``None`` for the defaults."""
    if profile is None:
        return None
    text = os.fspath(profile)
    return Path(text).stem if text.endswith((".yaml", ".yml")) else text


def execute_notebook(
    path: str | os.PathLike[str],
    profile: str | os.PathLike[str] | None,
    *,
    output_dir: str | os.PathLike[str],
    parameters: Mapping[str, Any] | None = None,
    timeout_s: float | None = None,
    show_progress: bool = False,
) -> Path:
    """Execute a MyST study notebook with a parameter profile; return the executed ``.ipynb``.

    ``path`` is ``notebooks/<stem>.md``; ``profile`` is a profile name (``"ci"``, read from
    ``<notebook folder>/profiles/ci.yaml``), a path to a profile ``.yaml``, or ``None`` (the
    notebook's own defaults). ``parameters`` override the profile's values. The notebook runs in
    the ``python3`` kernel with the notebook's folder as working directory; chart outputs are made
    offline-renderable (:func:`embed_charts`), the defaults cell is folded
    (:func:`fold_default_parameters`), the run is recorded in the notebook's metadata
    (``metadata["clipbias"] = {"profile": ..., "seconds": ...}``, read back by
    :func:`run_record`) and the result is written atomically to ``<output_dir>/<stem>.ipynb``.

    ``timeout_s`` limits the whole notebook (kernel start included): each cell may run for the time
    left. ``show_progress`` draws a bar over the code cells with elapsed times
    (:class:`clipbias.publish.engine.CellProgress`). A failing cell raises
    :class:`NotebookExecutionError` (also when the kernel dies), an exhausted time limit
    :class:`NotebookTimeoutError`.
    """
    started = time.perf_counter()
    source = Path(path)
    if source.suffix != ".md" or not source.is_file():
        raise ValueError(f"expected an existing MyST markdown notebook (.md), got {source}")
    if timeout_s is not None and timeout_s <= 0:
        raise ValueError(f"timeout_s must be positive (got {timeout_s})")
    notebook = jupytext.read(source)
    params = _resolve_parameters(source, notebook, profile, parameters)
    engine_options: dict[str, Any] = {}
    if timeout_s is not None:
        engine_options["timeout_func"] = deadline_timeout(timeout_s)
    try:
        bar_context = CellProgress(desc=f"  {source.stem}") if show_progress else None
        with bar_context or nullcontext() as bar:
            executed = papermill.execute_notebook(
                notebook,
                None,
                parameters=params,
                engine_name=ENGINE_NAME,
                kernel_name=KERNEL_NAME,
                cwd=str(source.parent.resolve()),
                progress_bar=False,
                log_output=False,
                cell_progress=bar,
                **engine_options,
            )
    except papermill.PapermillExecutionError as exc:
        raise NotebookExecutionError(
            f"{source}: cell {exc.cell_index} (execution count {exc.exec_count}) raised "
            f"{exc.ename}: {exc.evalue}\n{''.join(exc.traceback)}"
        ) from exc
    except DeadKernelError as exc:
        raise NotebookExecutionError(
            f"{source}: the kernel died after {time.perf_counter() - started:.0f} s (a crash, "
            "running out of memory, or a signal); rerun it alone with --only to see its output"
        ) from exc
    except CellTimeoutError as exc:
        raise NotebookTimeoutError(
            f"{source}: did not finish within its time limit of {timeout_s:g} s "
            f"(stopped in a cell after {time.perf_counter() - started:.0f} s): {exc}"
        ) from exc
    embed_charts(executed, prefix=f"clipbias-chart-{source.stem}")
    fold_default_parameters(executed)
    seconds = time.perf_counter() - started
    executed.metadata[RUN_METADATA] = {
        "profile": _profile_label(profile),
        "seconds": round(seconds, 3),
    }
    destination = Path(output_dir) / f"{source.stem}.ipynb"
    atomic_write_text(destination, nbformat.writes(executed))
    return destination


def run_record(executed_ipynb: str | os.PathLike[str]) -> dict[str, Any]:
    """``{"profile": name or None, "seconds": float or None}`` of an executed notebook.

    Notebooks executed before this record existed give the duration papermill stored and an
    unknown (``None``) profile.
    """
    notebook = nbformat.read(os.fspath(executed_ipynb), as_version=4)
    record = dict(notebook.metadata.get(RUN_METADATA, {}))
    if "seconds" not in record:
        record["seconds"] = notebook.metadata.get("papermill", {}).get("duration")
    record.setdefault("profile", None)
    return {"profile": record["profile"], "seconds": record["seconds"]}
