"""Load a catalog model: the network, its image transform and its tokenizer.

Where the weights come from:

- open_clip pretrained tags: through open_clip's own download and cache (the Hugging Face hub
  cache); offline with nothing cached, :class:`WeightsUnavailableError` says how to provide them;
- scaling-law checkpoints: a local file in :func:`clipbias.zoo.scaling_laws.checkpoint_folder`
  (they cannot be fetched by clipbias);
- ``checkpoint=``: any local state-dict file (``.pt``/``.bin`` read with
  ``torch.load(weights_only=True)``, or ``.safetensors``) for the id's architecture; the tag is
  then a free label (e.g. ``"ViT-B-32/my-finetune"``), and a known pretrained tag keeps its
  preprocessing and activation. An architecture of your own is an open_clip model-config JSON
  (``<ARCH>.json``): register it with ``open_clip.add_model_config(path)``, or name its file or
  folder in the environment variable ``CLIPBIAS_MODEL_CONFIGS`` (several joined by ``os.pathsep``),
  which reaches processes such as papermill kernels;
- synthetic ids: ``clipbias.zoo.synthetic.ids.load_synthetic``.

``weights_digest`` is ``"sha256:<hex>"`` of the weights file. For files in the Hugging Face cache
it is read from the cache itself (large files are stored under their sha256, so nothing is
re-read); other files are hashed once per load.

A pretrained tag whose weights were trained with QuickGELU is always built with QuickGELU, so
``ViT-B-32/openai`` and ``ViT-B-32-quickgelu/openai`` give the same network (the catalog marks
one as ``alias_of`` the other).
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Any

import open_clip
import torch

from clipbias.loaded_model import LoadedModel
from clipbias.zoo.catalog import catalog
from clipbias.zoo.scaling_laws import (
    SCALING_LAWS_REPO,
    checkpoint_folder,
    scaling_law_checkpoints,
)
from clipbias.zoo.selections import UnknownModelError, resolve_model_id
from clipbias.zoo.synthetic.ids import is_synthetic, load_synthetic

__all__ = [
    "PRECISIONS",
    "CheckpointError",
    "ModelUnavailableError",
    "WeightsUnavailableError",
    "file_digest",
    "load",
]

#: Precisions :func:`load` accepts (open_clip's pure-precision modes).
PRECISIONS: tuple[str, ...] = ("fp32", "fp16", "bf16")


class ModelUnavailableError(RuntimeError):
    """A model cannot be built here (a tokenizer or text-tower config that needs the network)."""


class WeightsUnavailableError(ModelUnavailableError):
    """The weights of a model are not on this machine; the message says how to provide them."""


class CheckpointError(ValueError):
    """A checkpoint file exists but cannot be read into the model's architecture."""


def file_digest(path: str | os.PathLike[str]) -> str:
    """Return ``"sha256:<hex>"`` of a file's content.

    A Hugging Face cache entry is a link to ``blobs/<sha256>``: that name is the digest.
    """
    resolved = Path(path).resolve()
    if resolved.parent.name == "blobs" and re.fullmatch(r"[0-9a-f]{64}", resolved.name):
        return f"sha256:{resolved.name}"
    digest = hashlib.sha256()
    with open(resolved, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 24), b""):
            digest.update(block)
    return f"sha256:{digest.hexdigest()}"


def _validate(precision: str, device: str) -> None:
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    try:
        torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"invalid device {device!r}: {exc}") from exc


_ENV_CONFIGS: set[Path] = set()


def _register_env_configs() -> None:
    """Register (once each) the model configs that ``CLIPBIAS_MODEL_CONFIGS`` names."""
    for entry in filter(None, os.environ.get("CLIPBIAS_MODEL_CONFIGS", "").split(os.pathsep)):
        path = Path(entry).resolve()
        if path in _ENV_CONFIGS:
            continue
        if not path.exists():
            raise FileNotFoundError(f"CLIPBIAS_MODEL_CONFIGS names {entry}, which does not exist; "
                                    "it lists open_clip model-config JSON files or folders")
        open_clip.add_model_config(path)
        _ENV_CONFIGS.add(path)


def _split(model_id: str) -> tuple[str, str]:
    arch, sep, tag = model_id.partition("/")
    if not sep or not arch or not tag:
        raise UnknownModelError(f"a model id is 'ARCH/TAG', got {model_id!r}")
    return arch, tag


def _fetch_pretrained(model_id: str, arch: str, tag: str) -> Path:
    """Return the local weights file of an open_clip tag, fetching it through open_clip."""
    cfg = open_clip.get_pretrained_cfg(arch, tag)
    try:
        return Path(open_clip.download_pretrained(cfg))
    except Exception as exc:  # any failure to fetch means: weights not here
        from huggingface_hub import constants

        source = cfg.get("hf_hub") or cfg.get("url")
        raise WeightsUnavailableError(
            f"the weights of {model_id} are not on this machine and could not be fetched from "
            f"{source} ({type(exc).__name__}: {exc}). Provide them in one of three ways: "
            f"(1) pass checkpoint='/path/to/weights' (a state dict for {arch}: .pt, .bin or "
            f".safetensors); (2) fill the Hugging Face cache ({constants.HF_HUB_CACHE}) on a "
            f"machine that is online, e.g. python -c \"import open_clip; "
            f"open_clip.create_model('{arch}', pretrained='{tag}')\", and copy it here; "
            f"(3) go online once (HF_HUB_OFFLINE is "
            f"{'set' if constants.HF_HUB_OFFLINE else 'not set'}) and load again."
        ) from exc


def _scaling_law_file(model_id: str, file_name: str) -> Path:
    path = checkpoint_folder() / file_name
    if not path.is_file():
        raise WeightsUnavailableError(
            f"{model_id} is a scaling-law checkpoint of Cherti et al. (2023), read from a local "
            f"file that is missing: put {file_name} (from {SCALING_LAWS_REPO}) in "
            f"{checkpoint_folder()}, or pass checkpoint='/path/to/{file_name}'.")
    return path


def _tokenizer(arch: str) -> Any:
    try:
        return open_clip.get_tokenizer(arch)
    except Exception as exc:  # HF tokenizers need transformers and, once, the network
        raise ModelUnavailableError(
            f"the tokenizer of {arch} cannot be built here ({type(exc).__name__}: {exc}); it "
            "needs the transformers package and its files in the Hugging Face cache") from exc


def _build(model_id: str, arch: str, tag: str, path: Path, *, device: str,
           precision: str) -> LoadedModel:
    tag_cfg = open_clip.get_pretrained_cfg(arch, tag)
    tokenizer = _tokenizer(arch)
    try:
        model, _, preprocess = open_clip.create_model_and_transforms(
            arch, pretrained=str(path), precision=precision, device=device,
            force_quick_gelu=bool(tag_cfg.get("quick_gelu", False)),
            image_mean=tag_cfg.get("mean"), image_std=tag_cfg.get("std"),
            image_interpolation=tag_cfg.get("interpolation"),
            image_resize_mode=tag_cfg.get("resize_mode"),
            pretrained_image=False, pretrained_text=False, weights_only=True)
    except Exception as exc:
        if "transformers" in str(exc) or "huggingface" in str(exc).lower():
            raise ModelUnavailableError(
                f"{arch} has a Hugging Face text tower that cannot be built here: {exc}") from exc
        raise CheckpointError(
            f"could not load {path} into {arch} ({type(exc).__name__}: {exc}); the file must be "
            f"a state dict of {arch} saved with torch.save or safetensors, readable with "
            "torch.load(weights_only=True)") from exc
    model.eval()
    return LoadedModel(model=model, preprocess=preprocess, tokenizer=tokenizer,
                       model_id=model_id, weights_digest=file_digest(path),
                       precision=precision, device=str(device))


def load(model_id: str, *, device: str = "cpu", precision: str = "fp32",
         checkpoint: str | os.PathLike[str] | None = None) -> LoadedModel:
    """Load ``model_id`` ("ARCH/TAG") in eval mode on ``device`` at ``precision``.

    Returns a :class:`~clipbias.loaded_model.LoadedModel`, which unpacks as
    ``model, preprocess, tokenizer``. Raises :class:`UnknownModelError` (a ``ValueError``
    listing the closest ids) for an id the catalog does not list, ``ValueError`` for a bad
    precision or device, ``FileNotFoundError`` for a missing ``checkpoint`` file,
    :class:`WeightsUnavailableError` (a ``RuntimeError``) when the weights are not on this
    machine, and :class:`CheckpointError` for a file that does not fit the architecture.
    """
    _validate(precision, device)
    if is_synthetic(model_id):
        if checkpoint is not None:
            raise ValueError(f"{model_id} is a synthetic model; checkpoint= is not supported "
                             "for synthetic ids (they load from the synthetic model store)")
        return load_synthetic(model_id, device=device, precision=precision)
    arch, tag = _split(model_id)
    if checkpoint is not None:
        path = Path(checkpoint)
        if not path.is_file():
            raise FileNotFoundError(f"checkpoint file not found: {path}")
        _register_env_configs()
        resolve_model_id(arch, known=open_clip.list_models(),
                         what="open_clip architecture (for your own, register its config JSON "
                              "with open_clip.add_model_config or CLIPBIAS_MODEL_CONFIGS)")
        return _build(model_id, arch, tag, path, device=device, precision=precision)
    table = catalog(include_synthetic=False, params=False).set_index("model_id")
    resolve_model_id(model_id, known=table.index.tolist())
    if table.at[model_id, "source"] == "scaling_laws":
        files = scaling_law_checkpoints().set_index("model_id")["file"]
        path = _scaling_law_file(model_id, files[model_id])
    else:
        path = _fetch_pretrained(model_id, arch, tag)
    return _build(model_id, arch, tag, path, device=device, precision=precision)

