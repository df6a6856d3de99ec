"""Obtain datasets: ``python -m clipbias data fetch NAME`` and ``python -m clipbias data list``.

What can be fetched, from where, at which revision and with which sha256 is the registry
``resources/datasets.yaml`` (:mod:`clipbias.data.adapters.sources`). A fetch

1. does nothing when the dataset folder already exists (idempotent; ``--force`` fetches again);
2. refuses an item whose sha256 the registry does not know, unless the user passes ``--sha256 HEX``
   (a hash they trust, which also overrides the registry's) or ``--trust-unverified`` (the
   computed hash is then printed and recorded, so it can be pinned later);
3. streams the download with a progress bar into a temporary file inside the data root, hashing
   as it goes; a short read (fewer bytes than ``Content-Length``) or a wrong hash is refused and
   the temporary file removed, so a retry starts clean;
4. unpacks into a temporary folder renamed onto the dataset folder only when everything succeeded
   (:func:`clipbias.atomic.atomic_dir`), refusing archive entries with absolute paths, ``..``
   components, links or special files, and writes ``.clipbias-fetch.json`` (url, sha256, whether
   it was verified) beside the data.

Datasets behind a licence click-through or a registration (``kind: manual``) are never downloaded:
the command prints what to download, from where and where to put it, and exits with status 1.

The download location can be redirected, for a mirror or for tests: ``--url`` replaces one item's
URL; ``--mirror BASE`` or the environment variable ``CLIPBIAS_FETCH_MIRROR`` fetches
``BASE/<filename>`` for every item.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import os
import re
import shutil
import stat
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import IO

from clipbias.atomic import atomic_dir, atomic_write_json
from clipbias.data.adapters.sources import DatasetSource, get_source, source_names
from clipbias.paths import data_root as default_data_root
from clipbias.progress import progress

__all__ = [
    "MARKER",
    "MIRROR_ENV",
    "ChecksumError",
    "FetchError",
    "IncompleteDownloadError",
    "ManualDownloadRequired",
    "UnsafeArchiveError",
    "UnverifiedDownloadError",
    "download",
    "fetch",
    "main",
    "resolve_url",
    "unpack",
]

#: Environment variable naming a mirror: items are fetched from ``<mirror>/<filename>``.
MIRROR_ENV = "CLIPBIAS_FETCH_MIRROR"
#: File written into a fetched dataset folder: what was fetched, from where, with which hash.
MARKER = ".clipbias-fetch.json"
_CHUNK = 1 << 20


class FetchError(RuntimeError):
    """A fetch failed; nothing was left in the dataset folder."""


class ManualDownloadRequired(FetchError):
    """The dataset needs a licence click-through or a registration; the message says what to do."""


class UnverifiedDownloadError(FetchError):
    """No sha256 is known for the item and the user did not accept an unverified download."""


class ChecksumError(FetchError):
    """The downloaded bytes do not have the expected sha256."""


class IncompleteDownloadError(FetchError):
    """The connection ended before all announced bytes arrived."""


class UnsafeArchiveError(FetchError):
    """The archive holds an entry that could write outside the target folder."""


def resolve_url(source: DatasetSource, *, url: str | None = None,
                mirror: str | None = None) -> str:
    """The URL to fetch: ``url`` if given, else ``<mirror>/<filename>`` (``mirror`` or the
    ``CLIPBIAS_FETCH_MIRROR`` variable), else the registry's pinned URL."""
    if url:
        return url
    mirror = mirror or os.environ.get(MIRROR_ENV)
    if mirror:
        return f"{mirror.rstrip('/')}/{source.filename}"
    return source.url


def download(url: str, directory: Path, *, timeout: float = 60.0,
             desc: str = "download") -> tuple[Path, str]:
    """Stream ``url`` into a new temporary file in ``directory``; return its path and sha256 (hex).

    Raises :class:`IncompleteDownloadError` on a short read and :class:`FetchError` on an HTTP or
    network error; the temporary file is removed in both cases.
    """
    directory.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=".download-", suffix=".part", dir=directory)
    tmp = Path(name)
    digest, received = hashlib.sha256(), 0
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            length = resp.headers.get("Content-Length")
            total = int(length) if length is not None else None
            with progress(desc=desc, total=total, unit="B", unit_scale=True) as bar:
                while chunk := resp.read(_CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
        if total is not None and received != total:
            raise IncompleteDownloadError(f"download of {url} stopped after {received} of {total} "
                                          "bytes; run the fetch again")
    except (http.client.IncompleteRead, ConnectionError, TimeoutError) as err:
        tmp.unlink(missing_ok=True)
        raise IncompleteDownloadError(f"download of {url} was cut off after {received} bytes "
                                      f"({err.__class__.__name__}); run the fetch again") from err
    except urllib.error.URLError as err:
        tmp.unlink(missing_ok=True)
        raise FetchError(f"could not download {url}: {err}") from err
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp, digest.hexdigest()


def _safe_parts(name: str) -> tuple[str, ...]:
    """The path components of an archive entry, refusing absolute and parent-directory paths."""
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) or "\\" in name:
        raise UnsafeArchiveError(f"archive entry {name!r} has an absolute or non-POSIX path")
    parts = tuple(p for p in PurePosixPath(name).parts if p not in ("", "."))
    if ".." in parts:
        raise UnsafeArchiveError(f"archive entry {name!r} points outside the target folder")
    return parts


@contextmanager
def _entries(path: Path, archive: str) -> Iterator[list[tuple[tuple[str, ...], bool, object]]]:
    """Yield the archive's entries as (parts, is_dir, handle), after refusing unsafe ones."""
    if archive in ("tar.gz", "tar"):
        with tarfile.open(path, "r:gz" if archive == "tar.gz" else "r:") as tf:
            entries = []
            for m in tf.getmembers():
                if m.issym() or m.islnk():
                    raise UnsafeArchiveError(f"archive entry {m.name!r} is a link; links are refused")
                if not (m.isfile() or m.isdir()):
                    raise UnsafeArchiveError(f"archive entry {m.name!r} is not a file or folder")
                entries.append((_safe_parts(m.name), m.isdir(), (tf, m)))
            yield entries
    elif archive == "zip":
        with zipfile.ZipFile(path) as zf:
            entries = []
            for info in zf.infolist():
                if stat.S_ISLNK(info.external_attr >> 16):
                    raise UnsafeArchiveError(f"archive entry {info.filename!r} is a link; "
                                             "links are refused")
                entries.append((_safe_parts(info.filename), info.is_dir(), (zf, info)))
            yield entries
    else:
        raise ValueError(f"cannot unpack archive type {archive!r}")


def _open(handle: object) -> IO[bytes]:
    container, member = handle  # type: ignore[misc]
    if isinstance(container, tarfile.TarFile):
        stream = container.extractfile(member)
        if stream is None:
            raise UnsafeArchiveError(f"archive entry {member.name!r} cannot be read")
        return stream
    return container.open(member)


def unpack(path: Path, out: Path, *, archive: str, filename: str | None = None,
           strip_top: bool = False, subdir: str | None = None) -> int:
    """Unpack ``path`` into the existing folder ``out``; return the number of files written.

    ``archive="file"`` copies the file as ``out/filename``. Otherwise every entry is checked
    first (:class:`UnsafeArchiveError` for absolute paths, ``..``, links, special files), then
    ``__MACOSX/`` entries are skipped, the single top-level folder is dropped if ``strip_top``, and
    only ``subdir`` is kept if given.
    """
    if archive == "file":
        if not filename:
            raise ValueError("archive type 'file' needs a filename")
        shutil.copyfile(path, out / filename)
        return 1
    with _entries(path, archive) as entries:
        # macOS archivers add a resource-fork folder; it is never data
        entries = [e for e in entries if e[0] and e[0][0] != "__MACOSX"]
        if strip_top:
            tops = {parts[0] for parts, _, _ in entries}
            if len(tops) == 1 and any(len(parts) > 1 for parts, _, _ in entries):
                entries = [(parts[1:], d, h) for parts, d, h in entries if len(parts) > 1]
        if subdir:
            prefix = _safe_parts(subdir)
            entries = [(parts[len(prefix):], d, h) for parts, d, h in entries
                       if parts[:len(prefix)] == prefix and len(parts) > len(prefix)]
            if not entries:
                raise FetchError(f"the archive has no folder {subdir!r}")
        written = 0
        base = out.resolve()
        for parts, is_dir, handle in entries:
            target = out.joinpath(*parts)
            if base not in target.resolve().parents:
                raise UnsafeArchiveError(f"archive entry {'/'.join(parts)!r} escapes the target")
            if is_dir:
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with _open(handle) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst, _CHUNK)
            written += 1
    return written


def fetch(name: str, *, data_root: str | Path | None = None, url: str | None = None,
          mirror: str | None = None, sha256: str | None = None, trust_unverified: bool = False,
          force: bool = False, timeout: float = 60.0) -> Path:
    """Download, verify and unpack the registry item ``name``; return its folder.

    Does nothing when the folder exists (unless ``force``). ``sha256`` overrides the registry's
    hash; an item without any hash needs ``trust_unverified=True``. Raises
    :class:`ManualDownloadRequired` (with instructions) for click-through datasets and other
    :class:`FetchError` subclasses on a failed download, hash or archive; the dataset folder is
    then untouched and no temporary file remains.
    """
    source = get_source(name)
    root = Path(data_root) if data_root is not None else default_data_root()
    dest = source.folder(root)
    if source.kind == "manual":
        raise ManualDownloadRequired(source.how_to_get(dest))
    if dest.exists() and not force:
        return dest
    expected = sha256.lower() if sha256 else source.sha256
    if expected is not None and not re.fullmatch(r"[0-9a-f]{64}", expected):
        raise ValueError(f"sha256 must be 64 hex digits, got {sha256!r}")
    if expected is None and not trust_unverified:
        raise UnverifiedDownloadError(
            f"no sha256 is pinned for {name!r} ({source.url}, {source.revision}), so the download "
            "cannot be verified. Pass --sha256 HEX with a hash you trust, or --trust-unverified to "
            "download anyway (the computed hash is printed and recorded).")
    source_url = resolve_url(source, url=url, mirror=mirror)
    tmp, digest = download(source_url, root, timeout=timeout, desc=f"fetch {name}")
    try:
        if expected is not None and digest != expected:
            raise ChecksumError(f"{source_url} has sha256 {digest}, expected {expected}; "
                                "the download was discarded")
        with atomic_dir(dest) as out:
            files = unpack(tmp, out, archive=source.archive, filename=source.filename,
                           strip_top=source.strip_top, subdir=source.subdir)
            atomic_write_json(out / MARKER, {
                "name": name, "url": source_url, "revision": source.revision, "sha256": digest,
                "verified": expected is not None, "files": files, "licence": source.licence})
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def _list(root: Path) -> int:
    print(f"data root: {root}  (set CLIPBIAS_DATA to move it)")
    print(f"{'name':<24}{'kind':<10}{'sha256':<10}{'present':<9}title")
    for name in source_names():
        s = get_source(name)
        present = "yes" if s.folder(root).exists() else "no"
        pinned = "pinned" if s.sha256 else "unknown"
        print(f"{name:<24}{s.kind:<10}{pinned:<10}{present:<9}{s.title}")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m clipbias data",
                                     description="Obtain the datasets the studies use.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the registered datasets and whether they are present")
    info = sub.add_parser("info", help="say what a dataset is and how to obtain it")
    info.add_argument("name")
    f = sub.add_parser("fetch", help="download, verify and unpack a dataset")
    f.add_argument("name")
    f.add_argument("--sha256", help="expected sha256 (overrides the registry)")
    f.add_argument("--trust-unverified", action="store_true",
                   help="download an item with no known sha256 and record the computed one")
    f.add_argument("--url", help="download from this URL instead of the registry's")
    f.add_argument("--mirror", help=f"fetch <MIRROR>/<filename> (also via {MIRROR_ENV})")
    f.add_argument("--force", action="store_true", help="fetch again even if the data is present")
    f.add_argument("--data-root", type=Path, help="data root (default: CLIPBIAS_DATA or the cache)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Command line of ``python -m clipbias data``; returns the exit status (0 ok, 1 not fetched)."""
    args = _parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    root = getattr(args, "data_root", None) or default_data_root()
    try:
        if args.command == "list":
            return _list(root)
        source = get_source(args.name)
        if args.command == "info":
            print(source.how_to_get(source.folder(root)))
            return 0
        if source.folder(root).exists() and not args.force:
            print(f"{args.name}: already present at {source.folder(root)}; nothing to do")
            return 0
        dest = fetch(args.name, data_root=root, url=args.url, mirror=args.mirror,
                     sha256=args.sha256, trust_unverified=args.trust_unverified, force=args.force)
    except ManualDownloadRequired as err:
        print(f"{args.name} cannot be downloaded automatically.\n{err}")
        return 1
    except (FetchError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"{args.name}: fetched into {dest}")
    if not source.sha256 and not args.sha256:
        digest = json.loads((dest / MARKER).read_text(encoding="utf-8"))["sha256"]
        print(f"unverified download: sha256 {digest} (recorded in {dest / MARKER}); "
              f"pin it with --sha256 {digest}")
    return 0
