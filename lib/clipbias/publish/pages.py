"""The book's pages beyond the chapters: the landing page's chapter table, and publishing.

- :func:`chapter_rows` and :func:`chapter_table_markdown` describe the study chapters that
  ``_toc.yml`` lists, from the files that define them (the notebooks' "Data source" lines, the
  parameter profiles, ``notebooks/budgets.yaml``), so the landing page and the teaching page cannot
  drift from the book (the Sphinx directive ``chapter-table`` of :mod:`clipbias.publish.sphinx`
  renders it).
- ``make publish`` builds the book and then runs ``python -m clipbias.publish.pages``, which
  commits the HTML folder as the whole content of the ``gh-pages`` branch (plus ``.nojekyll``, so
  GitHub Pages serves the ``_static/`` folders) and pushes that branch to the remote. Nothing else
  of the repository changes: ghp-import writes the commit with ``git fast-import``, without
  touching the work tree or the index.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from clipbias.publish.budgets import BUDGETS_FILE, load_budgets
from clipbias.publish.profiles import PROFILES, load_profile, profile_path
from clipbias.publish.toc import NOTEBOOK_DIR, toc_notebooks

__all__ = [
    "ChapterRow",
    "PublishError",
    "chapter_rows",
    "chapter_table_markdown",
    "main",
    "publish_html",
]

_DATA_SOURCE_RE = re.compile(r"\*\*Data source:?\s*(.+?)\*\*", re.DOTALL)


@dataclass(frozen=True)
class ChapterRow:
    """One study chapter of the book, as the landing page lists it."""

    docname: str  # the toc entry, e.g. "book/executed/synthetic_world"
    stem: str  # the notebook's file stem (its section in each profile)
    data_source: str  # the chapter's own "Data source" line (bold part, without the label)
    budgets: dict[str, float]  # profile -> seconds allowed on 2 CPU cores (notebooks/budgets.yaml)
    full_device: str | None  # the `device` the full profile sets (None: the chapter has none)


def _data_source(source: Path) -> str:
    match = _DATA_SOURCE_RE.search(source.read_text(encoding="utf-8"))
    if match is None:
        raise ValueError(f"{source} has no '**Data source: ...**' line; every study chapter "
                         "states its data source near the top (CONTRIBUTING.md)")
    return " ".join(match.group(1).split()).rstrip(".")


def chapter_rows(root: str | os.PathLike[str] = ".") -> list[ChapterRow]:
    """The study chapters that ``<root>/_toc.yml`` lists, in order, described from their files.

    Raises ``ValueError`` when a chapter's notebook has no "Data source" line.
    """
    root = Path(root)
    budgets = load_budgets(root / BUDGETS_FILE).chapters
    full = load_profile(profile_path("full", profiles_dir=root / NOTEBOOK_DIR / "profiles"))
    rows = []
    for notebook in toc_notebooks(root):
        device = full.get(notebook.stem, {}).get("device")
        rows.append(ChapterRow(
            docname=f"book/executed/{notebook.name}", stem=notebook.stem,
            data_source=_data_source(notebook.source),
            budgets=dict(budgets.get(notebook.stem, {})),
            full_device=None if device is None else str(device),
        ))
    return rows


def _minutes(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    return f"{seconds / 60:.1f} min" if seconds < 600 else f"{seconds / 60:.0f} min"


def chapter_table_markdown(root: str | os.PathLike[str] = ".") -> str:
    """A MyST table of :func:`chapter_rows`: chapter, data source, time budget per CPU profile,
    and the device of the ``full`` profile."""
    cpu_profiles = [p for p in PROFILES if p != "full"]
    head = ["chapter", "data source (`ci`, `embedded`)",
            *[f"`{p}` time budget (2 CPU cores)" for p in cpu_profiles], "`full` profile device"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in chapter_rows(root):
        device = ("CPU only" if row.full_device is None
                  else f"`{row.full_device}` (a GPU when one is found)" if row.full_device == "auto"
                  else f"`{row.full_device}`")
        cells = [f"{{doc}}`/{row.docname}`", row.data_source.replace("|", "\\|"),
                 *[_minutes(row.budgets.get(p)) for p in cpu_profiles], device]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


class PublishError(RuntimeError):
    """The book could not be published; the message says what to do."""


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=False
    )


def publish_html(
    html: str | os.PathLike[str],
    *,
    repo: str | os.PathLike[str] = ".",
    remote: str = "origin",
    branch: str = "gh-pages",
    message: str = "Publish the book",
) -> str:
    """Commit the folder ``html`` as branch ``branch`` of the git repository ``repo`` and push it
    (forced: the branch holds generated files only) to ``remote``; return the commit's hash.

    ``remote`` is a remote's name or any URL or path ``git push`` accepts. Raises
    :class:`PublishError` when ``html`` has no ``index.html`` (build the book first), when ``repo``
    is not a git repository, or when the commit or the push fails (git's message included).
    """
    html, repo = Path(html), Path(repo)
    if not (html / "index.html").is_file():
        raise PublishError(f"{html} has no index.html: build the book first (make book)")
    if _git(repo, "rev-parse", "--git-dir").returncode != 0:
        raise PublishError(f"{repo} is not a git repository: run the publish from the checkout")
    before = _git(repo, "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}").stdout.strip()
    command = [
        sys.executable, "-m", "ghp_import", "--no-jekyll", "--push", "--force",
        "--remote", remote, "--branch", branch, "--message", message, str(html.resolve()),
    ]
    done = subprocess.run(command, cwd=repo, capture_output=True, text=True, check=False)
    after = _git(repo, "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}").stdout.strip()
    # ghp-import reports a failed commit on stdout but still exits 0, so check the branch moved.
    if done.returncode != 0 or not after or after == before:
        raise PublishError(
            f"publishing {html} to {remote} {branch} failed (exit {done.returncode}):\n"
            f"{done.stdout}{done.stderr}".rstrip()
        )
    return after


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m clipbias.publish.pages",
        description="Push the built book (HTML) to a gh-pages branch with ghp-import.",
    )
    parser.add_argument(
        "--html", default="book/_build/html", help="built book (default: book/_build/html)"
    )
    parser.add_argument("--remote", default="origin", help="remote name or URL (default: origin)")
    parser.add_argument("--branch", default="gh-pages", help="branch to write (default: gh-pages)")
    parser.add_argument("--repo", default=".", help="git repository to commit in (default: .)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Command line of the publish step; 0 when pushed, 1 when not (the reason is printed)."""
    args = _parser().parse_args(argv)
    try:
        commit = publish_html(args.html, repo=args.repo, remote=args.remote, branch=args.branch)
    except PublishError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"published {args.html} to {args.remote} {args.branch} (commit {commit[:12]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
