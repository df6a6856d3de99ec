"""The zoo runner: embed a set of inputs with a set of models, each model loaded once.

Two executors run the same per-model function :func:`embed_model_inputs`:

- ``"local"`` (default): the models one after another in this process.
- ``"ray"``: one Ray task per model (``num_gpus=1`` per task on CUDA), for users who outgrow one
  machine. Ray is the optional ``cluster`` extra. Tasks write to the store and return only keys,
  so the store root must be visible to every node (on one machine it is). If Ray is not running,
  the runner starts it with ``ray_init`` keyword arguments and shuts it down afterwards.

Everything goes through the :class:`~clipbias.embed.store.EmbeddingStore`, so a killed run,
rerun with the same arguments, computes only the shards that are missing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import torch

from clipbias.data.manifest import Manifest
from clipbias.embed.cached import cached_embed_images, cached_embed_texts
from clipbias.embed.engine import check_templates, text_source
from clipbias.embed.result import EmbeddingResult
from clipbias.embed.store import EmbeddingStore, StoreKey
from clipbias.loaded_model import LoadedModel
from clipbias.zoo.load import load

__all__ = ["EXECUTORS", "TextSet", "ZooRun", "embed_model_inputs", "run_zoo"]

EXECUTORS = ("local", "ray")

Loader = Callable[..., LoadedModel]


@dataclass(frozen=True)
class TextSet:
    """Texts to embed; with ``templates`` each text is a class name averaged over the templates."""

    texts: tuple[str, ...]
    templates: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        text_source(list(self.texts))
        check_templates(self.templates)


ZooInput = Manifest | TextSet | Sequence[str]


def _as_input(name: str, value: Any) -> Manifest | TextSet:
    if isinstance(value, (Manifest, TextSet)):
        return value
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ValueError(f"input {name!r} must be a Manifest, a TextSet or a sequence of strings, "
                         f"got {type(value).__name__}")
    return TextSet(tuple(value))


def _item_ids(value: Manifest | TextSet) -> list[str]:
    if isinstance(value, Manifest):
        return list(value.table["item_id"].astype(str))
    return [str(i) for i in range(len(value.texts))]


@dataclass
class ZooRun:
    """What a zoo run produced: one row per (model, input) in ``tasks``, embeddings in ``store``.

    ``tasks`` columns: model_id, input, kind, store_key, n_items, n_valid, computed_shards,
    seconds. ``run[model_id, input]`` reads that result back from the store.
    """

    store: EmbeddingStore
    tasks: pd.DataFrame
    inputs: dict[str, Manifest | TextSet] = field(repr=False)
    keys: dict[tuple[str, str], StoreKey] = field(repr=False)

    def __getitem__(self, item: tuple[str, str]) -> EmbeddingResult:
        """The :class:`EmbeddingResult` of input ``item[1]`` under model ``item[0]``."""
        if item not in self.keys:
            raise KeyError(f"no result for model/input {item}; have {sorted(self.keys)[:5]}...")
        result = self.store.load(self.keys[item], _item_ids(self.inputs[item[1]]))
        if result is None:
            raise KeyError(f"store entry of {item} is incomplete or was removed; rerun run_zoo")
        return result


def embed_model_inputs(model_id: str, inputs: Mapping[str, Manifest | TextSet], *,
                       loader: Loader, store_root: str, shard_size: int, device: str = "cpu",
                       precision: str = "fp32", batch_size: int | None = None,
                       num_workers: int | None = None, progress: bool = True) -> list[dict]:
    """Load ``model_id`` once and embed every input through the store; one record per input.

    Records hold model_id, input, kind, store_key (a :class:`StoreKey`), n_items, n_valid,
    computed_shards and seconds. This is the unit of work of both executors.
    """
    model = loader(model_id, device=device, precision=precision)
    store = EmbeddingStore(store_root, shard_size=shard_size)
    records = []
    for name, value in inputs.items():
        start = time.perf_counter()
        if isinstance(value, Manifest):
            kind = "image" if value.has_images else "text"
            if kind == "image":
                result = cached_embed_images(model, value, store=store, batch_size=batch_size,
                                             device=device, num_workers=num_workers,
                                             progress=progress)
            else:
                result = cached_embed_texts(model, value, store=store, batch_size=batch_size,
                                            device=device, progress=progress)
        else:
            kind = "text"
            result = cached_embed_texts(model, list(value.texts), templates=value.templates,
                                        store=store, batch_size=batch_size, device=device,
                                        progress=progress)
        meta = result.meta
        key = StoreKey(**{f: meta[f] for f in StoreKey.__dataclass_fields__})
        records.append({"model_id": model_id, "input": name, "kind": kind, "store_key": key,
                        "n_items": len(result), "n_valid": int(result.valid.sum()),
                        "computed_shards": meta["computed_shards"],
                        "seconds": time.perf_counter() - start})
    del model
    if torch.device(device).type == "cuda":
        torch.cuda.empty_cache()
    return records


def run_zoo(model_ids: Sequence[str], inputs: Mapping[str, ZooInput], *,
            executor: str = "local", device: str = "cpu", precision: str = "fp32",
            store: EmbeddingStore | None = None, loader: Loader | None = None,
            batch_size: int | None = None, num_workers: int | None = None,
            progress: bool = True, ray_init: Mapping[str, Any] | None = None) -> ZooRun:
    """Embed every input with every model; each model is loaded once for all of its inputs.

    Args:
        model_ids: catalog ids ("ARCH/TAG"), unique.
        inputs: name -> image manifest, text manifest (``caption`` column), :class:`TextSet`, or
            a sequence of strings.
        executor: ``"local"`` or ``"ray"`` (one task per model; ``num_gpus=1`` on CUDA).
        device: ``"cpu"`` or ``"cuda"``; precision: passed to the loader.
        store: where embeddings go (default the cache's store).
        loader: ``loader(model_id, device=..., precision=...) -> LoadedModel``; default
            :func:`clipbias.zoo.load`. With Ray it must be picklable (importable).
        batch_size, num_workers, progress: passed to the engine (no bars inside Ray tasks).
        ray_init: keyword arguments for ``ray.init`` when Ray is not already running.

    Returns:
        :class:`ZooRun`: a task table and ``run[model_id, input]`` -> EmbeddingResult (n, d).
    """
    if executor not in EXECUTORS:
        raise ValueError(f"executor must be one of {EXECUTORS}, got {executor!r}")
    model_ids = list(model_ids)
    if len(set(model_ids)) != len(model_ids):
        raise ValueError("model_ids contains duplicates")
    if not inputs:
        raise ValueError("inputs is empty")
    prepared = {str(name): _as_input(str(name), value) for name, value in inputs.items()}
    store = store if store is not None else EmbeddingStore()
    loader = loader if loader is not None else load
    options = {"loader": loader, "store_root": str(store.root), "shard_size": store.shard_size,
               "device": device, "precision": precision, "batch_size": batch_size,
               "num_workers": num_workers}
    if executor == "local":
        records = [r for mid in model_ids
                   for r in embed_model_inputs(mid, prepared, progress=progress, **options)]
    else:
        records = _run_ray(model_ids, prepared, options, dict(ray_init or {}))
    keys = {(r["model_id"], r["input"]): r["store_key"] for r in records}
    tasks = pd.DataFrame([{**r, "store_key": r["store_key"].digest()} for r in records],
                         columns=["model_id", "input", "kind", "store_key", "n_items", "n_valid",
                                  "computed_shards", "seconds"])
    return ZooRun(store, tasks, prepared, keys)


def _run_ray(model_ids: list[str], inputs: dict[str, Manifest | TextSet], options: dict,
             ray_init: dict) -> list[dict]:
    try:
        import ray
    except ImportError as exc:
        raise ImportError("executor='ray' needs Ray; install the cluster extra: "
                          "pip install 'clipbias[cluster]'") from exc
    started = not ray.is_initialized()
    if started:
        ray.init(**ray_init)
    try:
        on_gpu = torch.device(options["device"]).type == "cuda"
        task = ray.remote(num_gpus=1 if on_gpu else 0, num_cpus=1)(embed_model_inputs)
        if on_gpu:  # Ray exposes the task's GPU as the only visible one
            options = {**options, "device": "cuda"}
        inputs_ref = ray.put(inputs)
        refs = [task.remote(mid, inputs_ref, progress=False, **options) for mid in model_ids]
        return [r for records in ray.get(refs) for r in records]
    finally:
        if started:
            ray.shutdown()

