"""Command line: ``python -m clipbias <command> ...``.

Commands (each lives beside the code it drives and exposes ``main(argv) -> int``):

- ``book``   execute the study notebooks with a parameter profile and build the Jupyter Book
- ``cache``  inspect the embedding store: ``ls``, ``verify``, ``prune``
- ``data``   obtain datasets: ``fetch NAME``, ``list``
- ``publish`` push the built book to the ``gh-pages`` branch (ghp-import)
"""

from __future__ import annotations

import importlib
import sys

COMMANDS = {
    "book": "clipbias.publish",
    "cache": "clipbias.embed.cli",
    "data": "clipbias.data.fetch",
    "publish": "clipbias.publish.pages",
}


def main(argv: list[str] | None = None) -> int:
    """Dispatch to the command's module; print usage for an unknown command."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        print(__doc__.strip(), file=sys.stderr)
        return 0 if argv[:1] in ([], ["-h"], ["--help"]) else 2
    module = importlib.import_module(COMMANDS[argv[0]])
    return int(module.main(argv[1:]) or 0)


if __name__ == "__main__":
    sys.exit(main())
