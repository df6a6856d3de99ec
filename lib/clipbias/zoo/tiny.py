"""Tiny CLIP configs for the synthetic world, the synthetic zoo, and its checkpoint store.

This module owns what the catalog and the loader need: the architectures (registered with
open_clip's model-config registry), the training knobs (:class:`TrainConfig`), the checkpoint key
(a hash of model config, data, training config and seed), where checkpoints live, the zoo
specs, and reading checkpoints. :mod:`clipbias.interventions.train` writes the checkpoints.

Model ids look like real ones, ``"ARCH/TAG"``: ``"synthetic-vit-s/skew-l_s0"`` is the
``synthetic-vit-s`` architecture trained on the named dataset ``skew-l`` with seed 0;
``"synthetic-vit-s/run-<16 hex>"`` is any other trained run, named by its checkpoint key.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import open_clip
import pandas as pd
import torch
from safetensors.torch import load_file

from clipbias.atomic import atomic_write_json
from clipbias.data.synthetic import (
    GENERATOR_VERSION,
    PRETRAINING_DATASETS,
    WorldConfig,
    pretraining_dataset,
)
from clipbias.paths import cache_dir
from clipbias.zoo.schema import CATALOG_COLUMNS, LoadedModel

__all__ = [
    "DEFAULT_ARCH",
    "TINY_CONFIGS",
    "ZOOS",
    "ZOO_TRAIN",
    "TrainConfig",
    "UntrainedModelError",
    "ZooEntry",
    "checkpoint_dir",
    "checkpoint_key",
    "create_tiny_model",
    "data_key",
    "is_synthetic",
    "load_synthetic",
    "read_metadata",
    "register_tiny_configs",
    "synthetic_catalog",
    "zoo_entries",
]

_TEXT = {"context_length": 16, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2}

#: open_clip model configs of the tiny architectures (name -> config dict).
TINY_CONFIGS: dict[str, dict] = {
    "synthetic-vit-s": {"embed_dim": 64, "text_cfg": _TEXT, "vision_cfg": {
        "image_size": 32, "layers": 2, "width": 64, "head_width": 32, "patch_size": 8}},
    "synthetic-vit-m": {"embed_dim": 64, "text_cfg": _TEXT, "vision_cfg": {
        "image_size": 32, "layers": 3, "width": 96, "head_width": 32, "patch_size": 8}},
    "synthetic-rn-s": {"embed_dim": 64, "text_cfg": _TEXT, "vision_cfg": {
        "image_size": 32, "layers": [1, 1, 1, 1], "width": 16, "head_width": 32}},
    "synthetic-rn-m": {"embed_dim": 64, "text_cfg": _TEXT, "vision_cfg": {
        "image_size": 32, "layers": [1, 1, 2, 1], "width": 24, "head_width": 32}},
}
_FAMILY = {"vit": "ViT", "rn": "ResNet"}


def register_tiny_configs() -> None:
    """Register :data:`TINY_CONFIGS` with open_clip (JSON files in the cache, added through
    ``open_clip.add_model_config``); idempotent."""
    if all(name in open_clip.list_models() for name in TINY_CONFIGS):
        return
    folder = cache_dir("synthetic", "model_configs")
    for name, cfg in TINY_CONFIGS.items():
        path = folder / f"{name}.json"
        text = json.dumps(cfg, indent=2, sort_keys=True, default=str) + "\n"  # as written below
        if not path.is_file() or path.read_text() != text:
            atomic_write_json(path, cfg)
    open_clip.add_model_config(folder)


@dataclass(frozen=True)
class TrainConfig:
    """Knobs of tiny-CLIP training (AdamW, linear warm-up then cosine decay, open_clip ClipLoss)."""

    steps: int = 300               # optimisation steps
    batch_size: int = 64           # image-caption pairs per step
    lr: float = 2e-3               # peak learning rate
    warmup: int = 20               # linear warm-up steps
    weight_decay: float = 0.1      # AdamW weight decay on matrices (not on gains, biases)
    eval_size: int = 1200          # held-out benchmark images for zero-shot accuracy

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "eval_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"TrainConfig: {name} must be >= 1, got {getattr(self, name)}")
        if not 0 <= self.warmup <= self.steps:
            raise ValueError(f"TrainConfig: warmup must be in [0, steps], got {self.warmup}")
        if self.lr <= 0 or self.weight_decay < 0:
            raise ValueError("TrainConfig: lr must be > 0 and weight_decay >= 0")

    def to_dict(self) -> dict:
        """The knobs as a plain dict."""
        return dataclasses.asdict(self)


#: Training knobs of every zoo model.
ZOO_TRAIN = TrainConfig()
#: The architecture of "the default tiny model" (fastest to reach high zero-shot accuracy).
DEFAULT_ARCH = "synthetic-rn-s"


def _sha(obj: object) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


def data_key(world: WorldConfig, *, world_seed: int, weights_digest: str | None = None) -> str:
    """Hash of one training data source: knobs, world seed, sampling weights, generator version."""
    return _sha({"world": world.to_dict(), "world_seed": world_seed,
                 "weights": weights_digest, "generator": GENERATOR_VERSION})


def checkpoint_key(arch: str, data: list[tuple[str, float]], train: TrainConfig, *, seed: int,
                   init: str | None = None) -> str:
    """Checkpoint key: sha256 over the architecture's config, the data phases
    ``[(data_key, start_fraction), ...]``, the training knobs, the seed and the key of the
    checkpoint training starts from (``None`` for a fresh model)."""
    if arch not in TINY_CONFIGS:
        raise ValueError(f"unknown synthetic architecture {arch!r}; known: {sorted(TINY_CONFIGS)}")
    return _sha({"arch": arch, "config": TINY_CONFIGS[arch], "data": data,
                 "train": train.to_dict(), "seed": seed, "init": init})


def checkpoint_dir(key: str) -> Path:
    """Folder of a checkpoint: ``<cache>/synthetic/models/<key[:32]>`` (not created)."""
    return cache_dir("synthetic", "models") / key[:32]


def read_metadata(key: str) -> dict | None:
    """The JSON sidecar of a trained checkpoint, or ``None`` when it is not trained."""
    path = checkpoint_dir(key) / "meta.json"
    return json.loads(path.read_text()) if path.is_file() else None


@dataclass(frozen=True)
class ZooEntry:
    """One model of a synthetic zoo."""

    arch: str      # registered architecture name
    dataset: str   # named pretraining dataset
    seed: int      # training seed (the world seed too)

    @property
    def model_id(self) -> str:
        """``"ARCH/DATASET_sSEED"``."""
        return f"{self.arch}/{self.dataset}_s{self.seed}"

    def key(self) -> str:
        """Checkpoint key of this model under :data:`ZOO_TRAIN`."""
        config = pretraining_dataset(self.dataset).config
        return checkpoint_key(self.arch, [(data_key(config, world_seed=self.seed), 0.0)],
                              ZOO_TRAIN, seed=self.seed)


#: Zoo profiles: ``default`` (24 models: 6 datasets x 4 architectures), ``ci`` (8 models).
ZOOS: dict[str, tuple[ZooEntry, ...]] = {
    "default": tuple(ZooEntry(a, d, 0) for d in PRETRAINING_DATASETS for a in TINY_CONFIGS),
    "ci": tuple(ZooEntry(a, d, 0) for d in ("fair-s", "fair-l", "skew-s", "skew-l")
                for a in ("synthetic-vit-s", "synthetic-rn-s")),
}


def zoo_entries(zoo: str = "default") -> tuple[ZooEntry, ...]:
    """The models of a zoo profile; ``ValueError`` naming the known profiles otherwise."""
    if zoo not in ZOOS:
        raise ValueError(f"unknown synthetic zoo {zoo!r}; known: {sorted(ZOOS)}")
    return ZOOS[zoo]


_ZOO_TAG = re.compile(r"^(?P<dataset>[a-z0-9-]+)_s(?P<seed>\d+)$")
_RUN_TAG = re.compile(r"^run-(?P<key>[0-9a-f]{16})$")


def _parse(model_id: str) -> tuple[str, str, re.Match | None, re.Match | None]:
    arch, _, tag = model_id.partition("/")
    return arch, tag, _ZOO_TAG.match(tag), _RUN_TAG.match(tag)


def is_synthetic(model_id: str) -> bool:
    """Whether ``model_id`` names a synthetic model (``"synthetic-*/dataset_sN"`` or
    ``"synthetic-*/run-<16 hex>"``)."""
    arch, _, zoo_tag, run_tag = _parse(model_id)
    if arch not in TINY_CONFIGS:
        return False
    return bool(run_tag) or bool(zoo_tag and zoo_tag["dataset"] in PRETRAINING_DATASETS)


class UntrainedModelError(FileNotFoundError):
    """A synthetic model whose checkpoint has not been trained yet."""


def _resolve_key(model_id: str) -> str:
    """Checkpoint key (or 16-hex prefix for run ids) of a synthetic model id."""
    arch, _, zoo_tag, run_tag = _parse(model_id)
    if not is_synthetic(model_id):
        raise ValueError(f"{model_id!r} is not a synthetic model id (\"synthetic-ARCH/DATASET_sN\" "
                         f"with ARCH in {sorted(TINY_CONFIGS)} and DATASET in "
                         f"{sorted(PRETRAINING_DATASETS)}, or \"synthetic-ARCH/run-<16 hex>\")")
    if run_tag:
        return run_tag["key"]
    return ZooEntry(arch, zoo_tag["dataset"], int(zoo_tag["seed"])).key()


def _checkpoint_folder(model_id: str) -> Path:
    prefix = _resolve_key(model_id)
    root = cache_dir("synthetic", "models")
    hits = sorted(p for p in root.glob(f"{prefix[:16]}*") if (p / "meta.json").is_file())
    if not hits:
        raise UntrainedModelError(
            f"synthetic model {model_id!r} is not trained yet (no checkpoint under {root}); "
            "train it with clipbias.interventions.train.train_synthetic_zoo(zoo=...) or, for a "
            "single run, clipbias.interventions.train.train_tiny_clip(...)")
    return hits[0]


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def load_synthetic(model_id: str, *, device: str = "cpu", precision: str = "fp32") -> LoadedModel:
    """Load a trained synthetic model as a :class:`LoadedModel` (eval mode).

    Raises :class:`UntrainedModelError` (a ``FileNotFoundError``) naming the training function
    when the checkpoint does not exist yet, ``ValueError`` for ids that are not synthetic.
    """
    folder = _checkpoint_folder(model_id)
    meta = json.loads((folder / "meta.json").read_text())
    register_tiny_configs()
    with _quiet_random_init():
        model, _, preprocess = open_clip.create_model_and_transforms(
            meta["arch"], precision=precision, device=device)
    model.load_state_dict(load_file(folder / "model.safetensors", device=str(device)))
    model.eval()
    tokenizer = open_clip.get_tokenizer(meta["arch"])
    return LoadedModel(model=model, preprocess=preprocess, tokenizer=tokenizer, model_id=model_id,
                       weights_digest=meta["weights_sha256"], precision=precision,
                       device=str(device))


class _RandomInitFilter(logging.Filter):
    """Drops open_clip's "No pretrained weights loaded" warning (random init is intended)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "No pretrained weights loaded" not in record.getMessage()


@contextlib.contextmanager
def _quiet_random_init() -> Iterator[None]:
    flt = _RandomInitFilter()
    logging.getLogger().addFilter(flt)
    try:
        yield
    finally:
        logging.getLogger().removeFilter(flt)


def create_tiny_model(arch: str) -> torch.nn.Module:
    """A freshly initialised tiny CLIP (seed torch first for reproducible weights)."""
    if arch not in TINY_CONFIGS:
        raise ValueError(f"unknown synthetic architecture {arch!r}; known: {sorted(TINY_CONFIGS)}")
    register_tiny_configs()
    with _quiet_random_init():
        return open_clip.create_model(arch)


def _model_counts(arch: str) -> tuple[int, int, int]:
    model = create_tiny_model(arch)
    return _count(model), _count(model.visual), _count(model) - _count(model.visual)


def synthetic_catalog(zoo: str = "default") -> pd.DataFrame:
    """Catalog rows of a synthetic zoo, columns :data:`CATALOG_COLUMNS`.

    ``downstream_score`` is the zero-shot concept accuracy on the held-out synthetic benchmark
    for trained models, NaN for models not trained yet.
    """
    counts = {arch: _model_counts(arch) for arch in TINY_CONFIGS}
    rows = []
    for entry in zoo_entries(zoo):
        data = pretraining_dataset(entry.dataset)
        meta = read_metadata(entry.key())
        total, image, text = counts[entry.arch]
        cfg = TINY_CONFIGS[entry.arch]
        rows.append({
            "model_id": entry.model_id, "arch": entry.arch,
            "tag": entry.model_id.partition("/")[2], "source": "synthetic",
            "arch_family": _FAMILY[entry.arch.split("-")[1]],
            "pretraining_dataset": entry.dataset, "dataset_family": data.family,
            "dataset_size": float(data.config.size), "dataset_size_source": "synthetic config",
            "samples_seen": float(ZOO_TRAIN.steps * ZOO_TRAIN.batch_size),
            "batch_size": float(ZOO_TRAIN.batch_size),
            "params_total": float(total), "params_image": float(image),
            "params_text": float(text), "image_size": float(cfg["vision_cfg"]["image_size"]),
            "embed_dim": float(cfg["embed_dim"]), "alias_of": None,
            "downstream_score": float(meta["zero_shot_accuracy"]) if meta else math.nan,
        })
    return pd.DataFrame(rows, columns=list(CATALOG_COLUMNS))
