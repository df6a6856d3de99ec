"""The embedding engine: the one place where a model's forward pass runs for measurement.

On CUDA the forward runs under ``torch.inference_mode`` with autocast (bf16 where the GPU supports
it, else fp16), channels-last inputs, a pinned-memory DataLoader with worker processes and
non-blocking copies; the device-to-host copy of one batch overlaps the next batch's forward. On a
CPU the same code runs in the model's own precision (fp32 by default). Outputs are always float32.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from clipbias.data.manifest import Manifest
from clipbias.data.word_lists import PLACEHOLDER
from clipbias.embed.batching import AdaptiveBatcher, auto_batch_size
from clipbias.embed.inputs import (
    ImageDataset,
    ImageSource,
    collate_images,
    describe_transform,
    image_source,
)
from clipbias.embed.result import EmbeddingBatch, EmbeddingResult, assemble
from clipbias.loaded_model import LoadedModel
from clipbias.progress import progress as progress_bar

__all__ = ["check_templates", "compute_precision", "embed_dim", "embed_images", "embed_texts",
           "iter_image_embeddings", "iter_text_embeddings", "resolve_device", "text_source",
           "tokenizer_description"]


def resolve_device(model: LoadedModel, device: str | torch.device | None) -> torch.device:
    """The device to run on: ``device`` if given, else the model's; moves the network there
    (in place, as ``nn.Module.to`` does) and records it in ``model.device``. ``"cuda"`` without
    an index means the CUDA device the network is already on, if any."""
    dev = torch.device(device if device is not None else model.device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {str(dev)!r} requested but CUDA is not available")
    param = next(model.model.parameters(), None)
    if param is not None and dev.type == "cuda" and dev.index is None \
            and param.device.type == "cuda":
        dev = param.device
    if param is not None and param.device != dev:
        model.model.to(dev)
    model.device = str(dev)
    return dev


def _amp_dtype(device: torch.device) -> torch.dtype | None:
    if device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def compute_precision(model: LoadedModel, device: torch.device) -> str:
    """The precision the forward actually runs in: on CUDA the model's precision plus the autocast
    type (e.g. ``"fp32+amp-bf16"``), on a CPU the model's own (e.g. ``"fp32"``). It keys the
    store, because results differ across precisions."""
    amp = _amp_dtype(device)
    if amp is None:
        return model.precision
    return f"{model.precision}+amp-{'bf16' if amp == torch.bfloat16 else 'fp16'}"


def _autocast(device: torch.device) -> contextlib.AbstractContextManager:
    amp = _amp_dtype(device)
    if amp is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type="cuda", dtype=amp)


def _param_dtype(module: torch.nn.Module) -> torch.dtype:
    param = next(module.parameters(), None)
    return param.dtype if param is not None else torch.float32


def _normalise(raw: torch.Tensor, positions: np.ndarray) -> EmbeddingBatch:
    """Turn raw outputs (b, d) into a float32 batch: unit rows, norms kept, bad rows masked."""
    feats = raw.float().cpu().numpy()
    norms = np.linalg.norm(feats, axis=1).astype(np.float32)
    valid = np.isfinite(norms) & (norms > 0)
    emb = np.full_like(feats, np.nan)
    emb[valid] = feats[valid] / norms[valid, None]
    norms = np.where(valid, norms, np.float32(np.nan)).astype(np.float32)
    reasons = {int(p): "model output is not finite or has zero norm" for p in positions[~valid]}
    return EmbeddingBatch(positions, emb, norms, valid, reasons)


class _Pipeline:
    """Keeps one batch in flight on CUDA: its device-to-host copy overlaps the next forward.

    Batches come out in the order they went in; a batch whose every item failed (``out`` None)
    waits in the same queue so that order holds.
    """

    def __init__(self, device: torch.device, dim: int) -> None:
        self.device = device
        self.dim = dim
        self.pending: list[tuple[torch.Tensor | None, torch.cuda.Event | None, np.ndarray,
                                 np.ndarray, dict[int, str]]] = []

    def push(self, out: torch.Tensor | None, positions: np.ndarray, failed: np.ndarray,
             failed_reasons: dict[int, str]) -> Iterator[EmbeddingBatch]:
        """Queue ``out`` (rows at ``positions``) plus the ``failed`` positions; yield the previous
        batch once this one is queued."""
        event = None
        if out is not None and self.device.type == "cuda":
            out = out.float().to("cpu", non_blocking=True)
            event = torch.cuda.Event()
            event.record()
        self.pending.append((out, event, positions, failed, failed_reasons))
        if len(self.pending) > 1:
            yield self._pop()

    def flush(self) -> Iterator[EmbeddingBatch]:
        """Yield every queued batch, oldest first."""
        while self.pending:
            yield self._pop()

    def _pop(self) -> EmbeddingBatch:
        out, event, positions, failed, failed_reasons = self.pending.pop(0)
        if event is not None:
            event.synchronize()
        if out is None:
            good = EmbeddingBatch(np.zeros(0, np.int64), np.zeros((0, self.dim), np.float32),
                                  np.zeros(0, np.float32), np.zeros(0, bool))
        else:
            good = _normalise(out, positions)
        return _merge(good, failed, failed_reasons)


def _merge(good: EmbeddingBatch, failed: np.ndarray, reasons: dict[int, str]) -> EmbeddingBatch:
    """Add rows for ``failed`` positions (NaN, invalid) and sort all rows by position."""
    if len(failed) == 0:
        return good
    d = good.embeddings.shape[1]
    positions = np.concatenate([good.positions, failed])
    order = np.argsort(positions, kind="stable")
    emb = np.concatenate([good.embeddings, np.full((len(failed), d), np.nan, np.float32)])
    norms = np.concatenate([good.norms, np.full(len(failed), np.nan, np.float32)])
    valid = np.concatenate([good.valid, np.zeros(len(failed), bool)])
    return EmbeddingBatch(positions[order], emb[order], norms[order], valid[order],
                          {**good.reasons, **reasons})


def _image_side(model: LoadedModel) -> int | None:
    size = getattr(getattr(model.model, "visual", None), "image_size", None)
    if isinstance(size, (tuple, list)):
        return int(max(size))
    return int(size) if size else None


#: On a CPU, models whose input side is at most this many pixels (the synthetic zoo's tiny CLIPs,
#: 32 px) decode in the main process: their forward costs well under a millisecond per image, so
#: a worker's start-up and the hand-over of batches cost more than decoding in place
#: (benchmarks/tiny_embed_bench.py: about twice as fast in process, benchmarks/RESULTS.md).
TINY_INPUT_SIDE = 64


def default_workers(device: torch.device, n_items: int, batch_size: int,
                    image_side: int | None = None) -> int:
    """Decoding worker processes :func:`embed_images` starts when ``num_workers`` is None: none
    for a single batch or, on a CPU, for models with inputs of at most :data:`TINY_INPUT_SIDE`
    pixels; on CUDA one per spare core (up to 12); on a CPU otherwise half the cores (1 to 4)."""
    cpus = os.cpu_count() or 1
    if n_items <= batch_size:
        return 0  # one batch: starting workers costs more than it saves
    if device.type == "cuda":  # decoding is the bottleneck: one worker per spare core, up to 12
        return max(1, min(12, cpus - 1))
    if image_side is not None and image_side <= TINY_INPUT_SIDE:
        return 0
    # on a CPU too: decoding in the main process would leave the forward's threads spinning idle
    return max(1, min(4, cpus // 2))


def embed_dim(model: LoadedModel) -> int:
    """The joint embedding dimension d: from the image tower's ``output_dim`` when it has one,
    else from one forward of the empty text (both towers share the joint space)."""
    dim = getattr(getattr(model.model, "visual", None), "output_dim", None)
    if dim is not None:
        return int(dim)
    param = next(model.model.parameters(), None)
    with torch.inference_mode():
        tokens = model.tokenizer([""])
        if param is not None:
            tokens = tokens.to(param.device)
        return int(model.model.encode_text(tokens).shape[-1])


def iter_image_embeddings(model: LoadedModel, source: ImageSource, positions: np.ndarray, *,
                          batch_size: int | None = None, device: str | torch.device | None = None,
                          num_workers: int | None = None, compile: bool = False,
                          progress: bool = True) -> Iterator[EmbeddingBatch]:
    """Embed the images of ``source`` at ``positions`` (sorted int array, shape (m,)), streamed.

    Yields :class:`EmbeddingBatch` pieces covering ``positions`` once each, in increasing order
    (the store writes shards from them as they complete).
    """
    dev = resolve_device(model, device)
    positions = np.asarray(positions, dtype=np.int64)
    if len(positions) == 0:
        return
    net = model.model.eval()
    if dev.type == "cuda":
        net.to(memory_format=torch.channels_last)
    size = batch_size or auto_batch_size("image", dev, image_side=_image_side(model),
                                         n_items=len(positions))
    workers = (default_workers(dev, len(positions), size, _image_side(model)) if num_workers is None
               else num_workers)
    loader = torch.utils.data.DataLoader(
        ImageDataset(source.items, positions, model.preprocess), batch_size=size, shuffle=False,
        num_workers=workers, collate_fn=collate_images, pin_memory=dev.type == "cuda",
        prefetch_factor=2 if workers else None, persistent_workers=False)
    encode: Callable[[torch.Tensor], torch.Tensor] = net.encode_image
    if compile:
        encode = torch.compile(encode)
    batcher = AdaptiveBatcher(size, device=dev)
    dtype = _param_dtype(net)
    pipeline = _Pipeline(dev, embed_dim(model))
    bar = progress_bar(desc=f"images [{model.model_id}]", total=len(positions),
                       unit="img") if progress else None
    try:
        for batch in loader:
            failed = np.array([p for p, _ in batch.failures], dtype=np.int64)
            failed_reasons = {int(p): r for p, r in batch.failures}
            out = None
            if batch.pixels is not None:
                with torch.inference_mode(), _autocast(dev):
                    x = batch.pixels.to(dev, dtype=dtype if dev.type != "cuda" else None,
                                        non_blocking=True)
                    if dev.type == "cuda":
                        x = x.contiguous(memory_format=torch.channels_last)
                    out = batcher.run(encode, x)
            yield from pipeline.push(out, batch.positions.numpy(), failed, failed_reasons)
            if bar is not None:
                bar.update(len(batch.positions) + len(batch.failures))
        yield from pipeline.flush()
    finally:
        if bar is not None:
            bar.close()


def text_source(texts: Sequence[str] | Manifest) -> tuple[list[str], list[str]]:
    """Texts and their ids: a manifest's ``caption`` column with its item ids, or a sequence of
    strings with their positions as ids. Raises ``ValueError`` on a non-string entry."""
    if isinstance(texts, Manifest):
        if "caption" not in texts.table.columns:
            raise ValueError(f"manifest {texts.name!r} has no caption column")
        return list(texts.table["caption"].astype(str)), list(texts.table["item_id"].astype(str))
    if isinstance(texts, str):
        raise TypeError("texts must be a sequence of strings, not a single string")
    texts = list(texts)
    bad = [i for i, t in enumerate(texts) if not isinstance(t, str)]
    if bad:
        raise ValueError(f"texts must be strings; entries {bad[:5]} are not")
    return texts, [str(i) for i in range(len(texts))]


def check_templates(templates: Sequence[str] | None) -> list[str] | None:
    """Validate prompt templates (each a string with ``{}`` exactly once); return them as a list."""
    if templates is None:
        return None
    if isinstance(templates, str):
        raise TypeError("templates must be a sequence of strings, not a single string")
    templates = list(templates)
    if not templates:
        raise ValueError("templates is empty; pass None for no templates")
    bad = [t for t in templates if not isinstance(t, str) or t.count(PLACEHOLDER) != 1]
    if bad:
        raise ValueError(f"each template must contain '{{}}' exactly once; bad: {bad[:3]}")
    return templates


def tokenizer_description(model: LoadedModel) -> str:
    """A deterministic description of the tokenizer (class and context length) for store keys."""
    tok = model.tokenizer
    name = f"{type(tok).__module__}.{type(tok).__qualname__}"
    ctx = getattr(tok, "context_length", None)
    extra = getattr(tok, "tokenizer_name", None) or getattr(tok, "model_name", None)
    return f"{name}(context_length={ctx}, name={extra})"


def iter_text_embeddings(model: LoadedModel, texts: Sequence[str], positions: np.ndarray, *,
                         templates: Sequence[str] | None = None, batch_size: int | None = None,
                         device: str | torch.device | None = None,
                         progress: bool = True) -> Iterator[EmbeddingBatch]:
    """Embed ``texts`` at ``positions`` (sorted ints, shape (m,)), streamed in increasing order.

    With ``templates`` each text is a class name: its prompts ``t.replace("{}", name)`` are
    embedded, L2-normalised, averaged, and the mean is re-normalised (its norm is the one kept).
    """
    templates = check_templates(templates)
    dev = resolve_device(model, device)
    positions = np.asarray(positions, dtype=np.int64)
    if len(positions) == 0:
        return
    net = model.model.eval()
    k = len(templates) if templates else 1
    size = batch_size or auto_batch_size("text", dev, n_items=len(positions) * k)
    per_step = max(1, size // k)  # classes per step
    batcher = AdaptiveBatcher(size, device=dev)
    pipeline = _Pipeline(dev, embed_dim(model))
    bar = progress_bar(desc=f"texts [{model.model_id}]", total=len(positions),
                       unit="text") if progress else None
    try:
        for start in range(0, len(positions), per_step):
            chunk = positions[start:start + per_step]
            prompts = ([t.replace(PLACEHOLDER, texts[p]) for p in chunk for t in templates]
                       if templates else [texts[p] for p in chunk])
            tokens = model.tokenizer(prompts)
            with torch.inference_mode(), _autocast(dev):
                out = batcher.run(net.encode_text, tokens.to(dev, non_blocking=True)).float()
                if templates:
                    out = out.reshape(len(chunk), k, -1)
                    out = (out / out.norm(dim=-1, keepdim=True)).mean(dim=1)
            yield from pipeline.push(out, chunk, np.zeros(0, np.int64), {})
            if bar is not None:
                bar.update(len(chunk))
        yield from pipeline.flush()
    finally:
        if bar is not None:
            bar.close()


def embed_images(model: LoadedModel, images: Sequence[str | Path | Image.Image] | Manifest, *,
                 batch_size: int | None = None, device: str | None = None,
                 num_workers: int | None = None, compile: bool = False,
                 progress: bool = True) -> EmbeddingResult:
    """Embed images with ``model``'s image tower.

    Args:
        model: a loaded model (network, preprocess, tokenizer).
        images: n paths, n PIL images, or a manifest with an ``image_path`` column.
        batch_size: rows per forward; default chosen per device (halved on out-of-memory).
        device: where to run; default ``model.device`` (the network is moved there).
        num_workers: decoding processes; default :func:`default_workers` (device, cores, size).
        compile: wrap the image encoder in ``torch.compile``.
        progress: show a progress bar (items per second).

    Returns:
        :class:`EmbeddingResult` with ``embeddings`` float32 (n, d), L2-normalised, in input
        order; unreadable images are NaN rows with ``valid`` False and a reason in ``errors``.
    """
    source = image_source(images)
    dev = resolve_device(model, device)
    batches = iter_image_embeddings(model, source, np.arange(len(source.items)),
                                    batch_size=batch_size, device=dev, num_workers=num_workers,
                                    compile=compile, progress=progress)
    return assemble(batches, source.item_ids, dim=embed_dim(model),
                    meta=_meta(model, dev, "image", describe_transform(model.preprocess)))


def embed_texts(model: LoadedModel, texts: Sequence[str], *,
                templates: Sequence[str] | None = None, batch_size: int | None = None,
                device: str | None = None, progress: bool = True) -> EmbeddingResult:
    """Embed texts with ``model``'s text tower.

    Args:
        model: a loaded model.
        texts: n strings (or a manifest with a ``caption`` column). With ``templates``, each is a
            class name.
        templates: prompt templates, each containing ``{}`` once; each class's embedding is the
            re-normalised mean of its L2-normalised template embeddings.
        batch_size: prompts per forward; default chosen per device (halved on out-of-memory).
        device: where to run; default ``model.device``.
        progress: show a progress bar.

    Returns:
        :class:`EmbeddingResult` with ``embeddings`` float32 (n, d), L2-normalised, input order.
    """
    text_list, ids = text_source(texts)
    dev = resolve_device(model, device)
    batches = iter_text_embeddings(model, text_list, np.arange(len(text_list)),
                                   templates=templates, batch_size=batch_size, device=dev,
                                   progress=progress)
    return assemble(batches, ids, dim=embed_dim(model),
                    meta=_meta(model, dev, "text", tokenizer_description(model)))


def _meta(model: LoadedModel, dev: torch.device, kind: str, preprocess: str) -> dict:
    return {"model_id": model.model_id, "weights_digest": model.weights_digest, "kind": kind,
            "precision": compute_precision(model, dev), "device": str(dev),
            "preprocess": preprocess}
