"""The book pipeline: execute study notebooks with a parameter profile, then build the book.

``python -m clipbias book --profile {ci,embedded,full} [--only NOTEBOOK] [--skip-build]`` runs
:func:`main`. The steps are public so tests and scripts can run them one by one:
:func:`toc_notebooks` (what the book contains), :func:`execute_notebook` (jupytext + papermill +
offline charts), :func:`read_glued` (the numbers a notebook printed) and :func:`build_book`.
"""

from clipbias.publish.build import build_book
from clipbias.publish.cli import main
from clipbias.publish.execute import (
    NotebookExecutionError,
    embed_charts,
    execute_notebook,
    fold_default_parameters,
)
from clipbias.publish.glued import read_glued
from clipbias.publish.profiles import PROFILES, load_profile, parameter_names
from clipbias.publish.toc import EXECUTED_DIR, NOTEBOOK_DIR, TocNotebook, toc_notebooks

__all__ = [
    "EXECUTED_DIR",
    "NOTEBOOK_DIR",
    "PROFILES",
    "NotebookExecutionError",
    "TocNotebook",
    "build_book",
    "embed_charts",
    "execute_notebook",
    "fold_default_parameters",
    "load_profile",
    "main",
    "parameter_names",
    "read_glued",
    "toc_notebooks",
]
