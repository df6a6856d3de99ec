"""The book pipeline: execute study notebooks with a parameter profile, then build the book.

``python -m clipbias book --profile {ci,embedded,full} [--only NOTEBOOK] [--skip-execute]
[--skip-build]`` runs :func:`main`. The steps are public so tests and scripts can run them one by
one: :func:`toc_notebooks` (what the book contains), :func:`execute_notebook` (jupytext + papermill
+ offline charts), :func:`read_glued` (the numbers a notebook printed) and :func:`build_book`.
:func:`load_budgets` reads each chapter's time budget (``notebooks/budgets.yaml``) that the run's
summary compares against. ``python -m clipbias.publish.pages`` (``make publish``) pushes the built
HTML to a ``gh-pages`` branch (:mod:`clipbias.publish.pages`, imported on demand).
"""

from clipbias.publish.budgets import (
    BUDGETS_FILE,
    ChapterTime,
    TimeBudgets,
    load_budgets,
    summary_table,
)
from clipbias.publish.build import build_book
from clipbias.publish.cli import main
from clipbias.publish.execute import (
    NotebookExecutionError,
    NotebookTimeoutError,
    embed_charts,
    execute_notebook,
    fold_default_parameters,
    run_record,
)
from clipbias.publish.glued import read_glued
from clipbias.publish.profiles import PROFILES, load_profile, parameter_names
from clipbias.publish.toc import EXECUTED_DIR, NOTEBOOK_DIR, TocNotebook, toc_notebooks

__all__ = [
    "BUDGETS_FILE",
    "EXECUTED_DIR",
    "NOTEBOOK_DIR",
    "PROFILES",
    "ChapterTime",
    "NotebookExecutionError",
    "NotebookTimeoutError",
    "TimeBudgets",
    "TocNotebook",
    "build_book",
    "embed_charts",
    "execute_notebook",
    "fold_default_parameters",
    "load_budgets",
    "load_profile",
    "main",
    "parameter_names",
    "read_glued",
    "run_record",
    "summary_table",
    "toc_notebooks",
]
