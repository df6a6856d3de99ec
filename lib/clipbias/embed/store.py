"""The content-addressed embedding store: shards of rows on disk, checked on every read.

Layout under the root (default ``cache_dir("embeddings")``)::

    <key[:2]>/<key>/entry.json               what the key stands for, n_items, shard_size
    <key[:2]>/<key>/shard-000000.safetensors rows [0, shard_size), then the next shard, ...

``key`` is the SHA-256 of a :class:`StoreKey` (model id, weights digest, preprocess description,
compute precision, input digest, kind). Each shard is one safetensors file (no pickle) holding
``embeddings`` float32 (m, d), ``norms`` float32 (m,) and ``valid`` uint8 (m,); its header
metadata carries the row range, the reasons of failed rows, and the SHA-256 of the three arrays'
bytes. Shards are written atomically (temporary file, fsync, rename), so a reader sees a whole
shard or none; a shard that fails to parse or whose checksum does not match is treated as
missing and recomputed. A killed run therefore resumes by computing only the missing shards.
``entry.json``'s modification time records the last use (for pruning least recently used).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save

from clipbias.atomic import atomic_path, atomic_write_json
from clipbias.embed.result import EmbeddingBatch, EmbeddingResult, assemble
from clipbias.paths import cache_dir

__all__ = ["DEFAULT_SHARD_SIZE", "EmbeddingStore", "ShardError", "StoreKey"]

FORMAT = "clipbias-embeddings-1"
DEFAULT_SHARD_SIZE = 4096
ENTRY_FILE = "entry.json"
_WRITE_CHUNK = 1 << 20

Compute = Callable[[np.ndarray], Iterable[EmbeddingBatch]]


class ShardError(ValueError):
    """A shard file that cannot be trusted (truncated, unparsable, wrong range or checksum)."""


@dataclass(frozen=True)
class StoreKey:
    """What a set of embeddings depends on; :meth:`digest` is its address in the store."""

    kind: str             # "image" or "text"
    model_id: str         # catalog id "ARCH/TAG"
    weights_digest: str   # identifies the weights
    preprocess: str       # image transform or tokenizer description (deterministic text)
    precision: str        # compute precision, e.g. "fp32" or "fp32+amp-bf16"
    inputs_digest: str    # manifest digest, or digest of texts (+ templates)

    def digest(self) -> str:
        """SHA-256 (hex) of the key's fields and the store format."""
        payload = json.dumps({"format": FORMAT, **asdict(self)}, sort_keys=True)
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _arrays_digest(embeddings: np.ndarray, norms: np.ndarray, valid: np.ndarray) -> str:
    h = hashlib.sha256()
    for arr in (embeddings, norms, valid):
        h.update(str(arr.shape).encode())
        h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()


def encode_shard(batch: EmbeddingBatch, start: int, stop: int) -> bytes:
    """Serialise rows ``[start, stop)`` (``batch`` holds exactly them, in order) to safetensors."""
    emb = np.ascontiguousarray(batch.embeddings, dtype=np.float32)
    norms = np.ascontiguousarray(batch.norms, dtype=np.float32)
    valid = np.ascontiguousarray(batch.valid, dtype=np.uint8)
    meta = {"format": FORMAT, "start": str(start), "stop": str(stop),
            "sha256": _arrays_digest(emb, norms, valid),
            "reasons": json.dumps({str(k): v for k, v in sorted(batch.reasons.items())})}
    return st_save({"embeddings": emb, "norms": norms, "valid": valid}, metadata=meta)


def decode_shard(data: bytes, start: int, stop: int) -> EmbeddingBatch:
    """Parse and check a shard holding rows ``[start, stop)``; raise :class:`ShardError` if bad."""
    try:
        (header_len,) = struct.unpack("<Q", data[:8])
        header = json.loads(data[8:8 + header_len])
        meta = header["__metadata__"]
        arrays = st_load(data)
        emb, norms = arrays["embeddings"], arrays["norms"]
        valid_u8 = arrays["valid"]
        reasons = {int(k): v for k, v in json.loads(meta["reasons"]).items()}
    except Exception as exc:  # any parse failure means the shard is not usable
        raise ShardError(f"unreadable shard: {type(exc).__name__}: {exc}") from exc
    if meta.get("format") != FORMAT:
        raise ShardError(f"unknown shard format {meta.get('format')!r}")
    if (int(meta["start"]), int(meta["stop"])) != (start, stop):
        raise ShardError(f"shard holds rows {meta['start']}..{meta['stop']}, expected "
                         f"{start}..{stop}")
    m = stop - start
    if emb.ndim != 2 or len(emb) != m or norms.shape != (m,) or valid_u8.shape != (m,):
        raise ShardError(f"shard arrays have shapes {emb.shape}, {norms.shape}, "
                         f"{valid_u8.shape}; expected {m} rows")
    if _arrays_digest(emb, norms, valid_u8) != meta["sha256"]:
        raise ShardError("checksum mismatch")
    return EmbeddingBatch(np.arange(start, stop, dtype=np.int64), emb, norms,
                          valid_u8.astype(bool), reasons)


def _write_all(fh, data: bytes) -> None:
    """Write ``data`` to ``fh`` in 1 MiB pieces."""
    for i in range(0, len(data), _WRITE_CHUNK):
        fh.write(data[i:i + _WRITE_CHUNK])


class _ShardBuffer:
    """Collects streamed rows per shard and writes each shard as soon as it is complete."""

    def __init__(self, store: EmbeddingStore, entry: Path, shards: Sequence[int], n: int,
                 shard_size: int) -> None:
        self.store, self.entry, self.n, self.size = store, entry, n, shard_size
        self.pending: dict[int, list[EmbeddingBatch]] = {s: [] for s in shards}
        self.filled: dict[int, int] = dict.fromkeys(shards, 0)
        self.done: dict[int, EmbeddingBatch] = {}

    def add(self, batch: EmbeddingBatch) -> None:
        shard_of = batch.positions // self.size
        for s in np.unique(shard_of):
            s = int(s)
            if s not in self.pending:
                raise ValueError(f"rows of shard {s} arrived but it was not asked for")
            rows = shard_of == s
            pos = batch.positions[rows]
            part = EmbeddingBatch(pos, batch.embeddings[rows], batch.norms[rows],
                                  batch.valid[rows],
                                  {int(p): batch.reasons[int(p)] for p in pos
                                   if int(p) in batch.reasons})
            self.pending[s].append(part)
            self.filled[s] += len(pos)
            start, stop = self.store.shard_range(s, self.n, self.size)
            if self.filled[s] == stop - start:
                self._flush(s, start, stop)

    def _flush(self, s: int, start: int, stop: int) -> None:
        parts = self.pending.pop(s)
        rows = EmbeddingBatch(
            np.concatenate([p.positions for p in parts]),
            np.concatenate([p.embeddings for p in parts]),
            np.concatenate([p.norms for p in parts]),
            np.concatenate([p.valid for p in parts]),
            {k: v for p in parts for k, v in p.reasons.items()})
        order = np.argsort(rows.positions, kind="stable")
        rows = EmbeddingBatch(rows.positions[order], rows.embeddings[order], rows.norms[order],
                              rows.valid[order], rows.reasons)
        if not np.array_equal(rows.positions, np.arange(start, stop)):
            raise ValueError(f"shard {s} received positions other than {start}..{stop - 1}")
        data = encode_shard(rows, start, stop)
        with atomic_path(self.store.shard_path(self.entry, s)) as tmp, open(tmp, "wb") as fh:
            _write_all(fh, data)
        self.done[s] = rows


class EmbeddingStore:
    """Embeddings on disk, addressed by :class:`StoreKey`, in atomically written shards.

    ``shard_size`` (rows per shard) applies to new entries; an existing entry keeps its own.
    """

    def __init__(self, root: str | os.PathLike[str] | None = None, *,
                 shard_size: int = DEFAULT_SHARD_SIZE) -> None:
        if shard_size < 1:
            raise ValueError(f"shard_size must be at least 1, got {shard_size}")
        self.root = Path(root) if root is not None else cache_dir("embeddings")
        self.shard_size = int(shard_size)

    def __repr__(self) -> str:
        return f"EmbeddingStore(root={str(self.root)!r}, shard_size={self.shard_size})"

    # layout -------------------------------------------------------------------------------------
    def entry_dir(self, key: StoreKey | str) -> Path:
        """Folder of the entry for ``key`` (a :class:`StoreKey` or its digest)."""
        digest = key.digest() if isinstance(key, StoreKey) else key
        return self.root / digest[:2] / digest

    @staticmethod
    def shard_path(entry: Path, index: int) -> Path:
        """Path of shard ``index`` inside ``entry``."""
        return entry / f"shard-{index:06d}.safetensors"

    @staticmethod
    def shard_range(index: int, n: int, shard_size: int) -> tuple[int, int]:
        """Rows ``[start, stop)`` held by shard ``index`` of an entry with ``n`` rows."""
        return index * shard_size, min((index + 1) * shard_size, n)

    @staticmethod
    def n_shards(n: int, shard_size: int) -> int:
        """Number of shards of an entry with ``n`` rows."""
        return -(-n // shard_size)

    # reading and writing ------------------------------------------------------------------------
    def _open_entry(self, key: StoreKey, n: int) -> tuple[Path, int]:
        entry = self.entry_dir(key)
        meta_path = entry / ENTRY_FILE
        if meta_path.is_file():
            meta = json.loads(meta_path.read_text())
            if meta["n_items"] != n:
                raise ValueError(f"store entry {entry.name} holds {meta['n_items']} items, "
                                 f"but {n} were given for the same key")
            shard_size = int(meta["shard_size"])
            os.utime(meta_path)
        else:
            shard_size = self.shard_size
            atomic_write_json(meta_path, {"format": FORMAT, "key": asdict(key),
                                          "n_items": n, "shard_size": shard_size,
                                          "created": time.time()})
        return entry, shard_size

    def _read_shard(self, entry: Path, index: int, n: int,
                    shard_size: int) -> EmbeddingBatch | None:
        path = self.shard_path(entry, index)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        start, stop = self.shard_range(index, n, shard_size)
        try:
            return decode_shard(data, start, stop)
        except ShardError:
            return None

    def missing(self, key: StoreKey, n: int) -> list[int]:
        """Indices of the shards of ``key`` (n rows) that are absent or fail their checks."""
        entry = self.entry_dir(key)
        if not (entry / ENTRY_FILE).is_file():
            return list(range(self.n_shards(n, self.shard_size)))
        entry, shard_size = self._open_entry(key, n)
        return [i for i in range(self.n_shards(n, shard_size))
                if self._read_shard(entry, i, n, shard_size) is None]

    def load(self, key: StoreKey, item_ids: Sequence[str]) -> EmbeddingResult | None:
        """The stored result for ``key`` if every shard is present and sound, else ``None``."""
        n = len(item_ids)
        if not (self.entry_dir(key) / ENTRY_FILE).is_file():
            return None
        entry, shard_size = self._open_entry(key, n)
        shards = [self._read_shard(entry, i, n, shard_size)
                  for i in range(self.n_shards(n, shard_size))]
        if any(s is None for s in shards):
            return None
        return assemble(shards, item_ids, meta=self._meta(key, entry, len(shards), 0))

    def get_or_compute(self, key: StoreKey, item_ids: Sequence[str], compute: Compute, *,
                       dim: int | None = None) -> EmbeddingResult:
        """Return the embeddings for ``key``, computing only the shards that are missing.

        ``compute(positions)`` receives the sorted row positions (int64, shape (m,)) of the
        missing shards and yields :class:`EmbeddingBatch` pieces covering them; each shard is
        written as soon as its rows are complete, so an interrupted run keeps what it finished.
        ``meta["computed_shards"]`` of the result counts the shards computed by this call.
        """
        n = len(item_ids)
        entry, shard_size = self._open_entry(key, n)
        shards: dict[int, EmbeddingBatch] = {}
        for i in range(self.n_shards(n, shard_size)):
            shard = self._read_shard(entry, i, n, shard_size)
            if shard is not None:
                shards[i] = shard
        missing = [i for i in range(self.n_shards(n, shard_size)) if i not in shards]
        if missing:
            positions = np.concatenate([np.arange(*self.shard_range(i, n, shard_size))
                                        for i in missing])
            buffer = _ShardBuffer(self, entry, missing, n, shard_size)
            for batch in compute(positions):
                buffer.add(batch)
            if buffer.pending:
                raise ValueError(f"compute left shards {sorted(buffer.pending)} incomplete")
            shards.update(buffer.done)
        ordered = [shards[i] for i in sorted(shards)]
        return assemble(ordered, item_ids, dim=dim,
                        meta=self._meta(key, entry, len(ordered), len(missing)))

    @staticmethod
    def _meta(key: StoreKey, entry: Path, n_shards: int, computed: int) -> dict:
        return {**asdict(key), "store_key": key.digest(), "entry": str(entry),
                "n_shards": n_shards, "computed_shards": computed}

    # maintenance --------------------------------------------------------------------------------
    def _entries(self) -> list[Path]:
        return sorted(p.parent for p in self.root.glob(f"*/*/{ENTRY_FILE}"))

    def ls(self) -> pd.DataFrame:
        """One row per entry: key, kind, model_id, precision, n_items, shards present/total,
        bytes on disk, last_used (UTC timestamp)."""
        rows = []
        for entry in self._entries():
            meta = json.loads((entry / ENTRY_FILE).read_text())
            key = meta.get("key", {})
            files = [f for f in entry.iterdir() if f.is_file()]
            rows.append({
                "key": entry.name, "kind": key.get("kind"), "model_id": key.get("model_id"),
                "precision": key.get("precision"), "n_items": meta["n_items"],
                "shards": sum(f.name.startswith("shard-") for f in files),
                "shards_total": self.n_shards(meta["n_items"], meta["shard_size"]),
                "bytes": sum(f.stat().st_size for f in files),
                "last_used": pd.Timestamp((entry / ENTRY_FILE).stat().st_mtime, unit="s",
                                          tz="UTC"),
            })
        columns = ["key", "kind", "model_id", "precision", "n_items", "shards", "shards_total",
                   "bytes", "last_used"]
        return pd.DataFrame(rows, columns=columns)

    def verify(self, *, delete: bool = False) -> pd.DataFrame:
        """Check every shard of every entry; one row per shard (key, shard, ok, problem).

        With ``delete=True`` bad shards are removed (the next run recomputes them).
        """
        rows = []
        for entry in self._entries():
            meta = json.loads((entry / ENTRY_FILE).read_text())
            n, size = meta["n_items"], meta["shard_size"]
            for i in range(self.n_shards(n, size)):
                path = self.shard_path(entry, i)
                problem = None
                if not path.exists():
                    problem = "missing"
                else:
                    try:
                        decode_shard(path.read_bytes(), *self.shard_range(i, n, size))
                    except ShardError as exc:
                        problem = str(exc)
                        if delete:
                            path.unlink()
                rows.append({"key": entry.name, "shard": i, "ok": problem is None,
                             "problem": problem})
        return pd.DataFrame(rows, columns=["key", "shard", "ok", "problem"])

    def prune(self, *, older_than_s: float | None = None, max_bytes: int | None = None,
              temp_older_than_s: float = 3600.0, dry_run: bool = False) -> pd.DataFrame:
        """Remove entries and leftovers; return what was (or, with ``dry_run``, would be) removed.

        - temporary files and folders of interrupted writes (``.*.tmp``, ``.*.old``) older than
          ``temp_older_than_s`` seconds (young ones may belong to a running writer);
        - entries not used for ``older_than_s`` seconds, if given;
        - then the least recently used entries until the store holds at most ``max_bytes``.

        Columns: ``path``, ``bytes``, ``reason``.
        """
        now = time.time()
        removed: list[dict] = []

        def remove(path: Path, size: int, reason: str) -> None:
            removed.append({"path": str(path), "bytes": size, "reason": reason})
            if not dry_run:
                if path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)

        for pattern in (".*.tmp", ".*.old"):
            for path in self.root.rglob(pattern):
                try:
                    age = now - path.stat().st_mtime
                except FileNotFoundError:  # a running writer renamed it into place meanwhile
                    continue
                if age > temp_older_than_s:
                    remove(path, _size(path), "temporary file of an interrupted write")
        table = self.ls().sort_values("last_used")
        keep = []
        for row in table.itertuples():
            entry = self.entry_dir(row.key)
            age = now - row.last_used.timestamp()
            if older_than_s is not None and age > older_than_s:
                remove(entry, row.bytes, f"unused for {age / 86400:.1f} days")
            else:
                keep.append((entry, row.bytes))
        if max_bytes is not None:
            total = sum(b for _, b in keep)
            for entry, size in keep:  # least recently used first
                if total <= max_bytes:
                    break
                remove(entry, size, f"store above {max_bytes} bytes")
                total -= size
        return pd.DataFrame(removed, columns=["path", "bytes", "reason"])


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return path.stat().st_size
