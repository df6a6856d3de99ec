"""Publish the built book: push ``book/_build/html`` to a ``gh-pages`` branch with ghp-import.

``make publish`` builds the book and then runs ``python -m clipbias.publish.pages``, which commits
the HTML folder as the whole content of the ``gh-pages`` branch (plus ``.nojekyll``, so GitHub
Pages serves the ``_static/`` folders) and pushes that branch to the remote. Nothing else of the
repository changes: ghp-import writes the commit with ``git fast-import``, without touching the
work tree or the index.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

__all__ = ["PublishError", "main", "publish_html"]


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
