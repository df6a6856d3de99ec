"""Checkpoint keys, folders and metadata of trained synthetic models.

A key is a sha256 over the architecture's config, the data phases, the training settings, the
seed and the checkpoint training starts from; a checkpoint lives in
``<cache>/synthetic/models/<key[:32]>`` as ``model.safetensors`` plus a ``meta.json`` sidecar.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from clipbias.data.synthetic import GENERATOR_VERSION, WorldConfig
from clipbias.paths import cache_dir
from clipbias.zoo.synthetic.architectures import TINY_CONFIGS, check_arch
from clipbias.zoo.train_config import TrainConfig

__all__ = ["checkpoint_dir", "checkpoint_key", "checkpoints_root", "data_key", "read_metadata"]


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
    check_arch(arch)
    return _sha({"arch": arch, "config": TINY_CONFIGS[arch], "data": data,
                 "train": train.to_dict(), "seed": seed, "init": init})


def checkpoints_root() -> Path:
    """The folder holding every synthetic checkpoint: ``<cache>/synthetic/models``."""
    return cache_dir("synthetic", "models")


def checkpoint_dir(key: str) -> Path:
    """Folder of a checkpoint: ``<cache>/synthetic/models/<key[:32]>`` (not created)."""
    return checkpoints_root() / key[:32]


def read_metadata(key: str) -> dict | None:
    """The JSON sidecar of a trained checkpoint, or ``None`` when it is not trained."""
    path = checkpoint_dir(key) / "meta.json"
    return json.loads(path.read_text()) if path.is_file() else None
