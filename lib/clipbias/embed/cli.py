"""``python -m clipbias cache ls|verify|prune``: inspect and tidy the embedding store.

- ``ls``      one line per entry: key, kind, model, precision, items, shards present/total, size,
              last use.
- ``verify``  re-check every shard's checksum; ``--delete`` removes bad shards (the next run
              recomputes them). Exit status 1 when a shard is bad or missing.
- ``prune``   remove temporary files of interrupted writes older than ``--temp-older-than-hours``
              (default 1), entries unused for ``--older-than-days``, then least recently used
              entries until the store is at most ``--max-size`` (e.g. ``20G``, ``500M``);
              ``--dry-run`` only lists.
"""

from __future__ import annotations

import argparse
import re
import sys

import pandas as pd

from clipbias.embed.store import EmbeddingStore

__all__ = ["main", "parse_size"]

_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_size(text: str) -> int:
    """Bytes from a size such as ``"512M"``, ``"20G"`` or ``"1048576"`` (binary units)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)i?B?\s*", text, flags=re.IGNORECASE)
    if not match:
        raise ValueError(f"cannot read size {text!r}; write e.g. 500M or 20G")
    return int(float(match.group(1)) * _UNITS[match.group(2).upper()])


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m clipbias cache", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", help="store folder (default: <cache>/embeddings)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("ls", help="list entries")
    verify = sub.add_parser("verify", help="check every shard")
    verify.add_argument("--delete", action="store_true", help="remove bad shards")
    prune = sub.add_parser("prune", help="remove old entries and leftovers")
    prune.add_argument("--older-than-days", type=float, help="remove entries unused this long")
    prune.add_argument("--max-size", type=parse_size, help="keep the store at most this big")
    prune.add_argument("--temp-older-than-hours", type=float, default=1.0,
                       help="age above which temporary files count as leftovers (default 1)")
    prune.add_argument("--dry-run", action="store_true", help="list, do not remove")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the ``cache`` command with ``argv`` (without the leading ``cache``); return the status."""
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    store = EmbeddingStore(args.root)
    with pd.option_context("display.width", 200, "display.max_columns", 20,
                           "display.max_colwidth", 40):
        if args.command == "ls":
            table = store.ls()
            if table.empty:
                print(f"no entries in {store.root}")
                return 0
            shown = table.assign(key=table["key"].str[:12], size=table["bytes"].map(_human),
                                 last_used=table["last_used"].dt.strftime("%Y-%m-%d %H:%M"))
            print(shown.drop(columns="bytes").to_string(index=False))
            print(f"{len(table)} entries, {_human(table['bytes'].sum())} in {store.root}")
            return 0
        if args.command == "verify":
            table = store.verify(delete=args.delete)
            bad = table[~table["ok"]]
            if len(bad):
                print(bad.assign(key=bad["key"].str[:12]).to_string(index=False))
            action = " (removed)" if args.delete and len(bad) else ""
            print(f"{len(table)} shards checked, {len(bad)} bad or missing{action}")
            return 1 if len(bad) else 0
        days = args.older_than_days
        table = store.prune(older_than_s=None if days is None else days * 86400,
                            max_bytes=args.max_size,
                            temp_older_than_s=args.temp_older_than_hours * 3600,
                            dry_run=args.dry_run)
        if len(table):
            print(table.to_string(index=False))
        verb = "would free" if args.dry_run else "freed"
        print(f"{len(table)} paths, {verb} {_human(table['bytes'].sum())}")
        return 0
