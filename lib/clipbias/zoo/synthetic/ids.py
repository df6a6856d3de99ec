"""Synthetic model ids and loading a trained synthetic checkpoint.

Model ids look like real ones, ``"ARCH/TAG"``: ``"synthetic-vit-s/skew-l_s0"`` is the
``synthetic-vit-s`` architecture trained on the named dataset ``skew-l`` with seed 0;
``"synthetic-vit-s/run-<16 hex>"`` is any other trained run, named by its checkpoint key.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import open_clip
from safetensors.torch import load_file

from clipbias.data.synthetic import PRETRAINING_DATASETS
from clipbias.loaded_model import LoadedModel
from clipbias.zoo.synthetic.architectures import (
    TINY_CONFIGS,
    quiet_random_init,
    register_tiny_configs,
    shared_tokenizer,
)
from clipbias.zoo.synthetic.checkpoints import checkpoints_root
from clipbias.zoo.synthetic.zoos import ZooEntry

__all__ = ["UntrainedModelError", "is_synthetic", "load_synthetic"]

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
    root = checkpoints_root()
    hits = sorted(p for p in root.glob(f"{prefix[:16]}*") if (p / "meta.json").is_file())
    if not hits:
        raise UntrainedModelError(
            f"synthetic model {model_id!r} is not trained yet (no checkpoint under {root}); "
            "train it with clipbias.interventions.train.train_synthetic_zoo(zoo=...) or, for a "
            "single run, clipbias.interventions.train.train_tiny_clip(...)")
    return hits[0]


def load_synthetic(model_id: str, *, device: str = "cpu", precision: str = "fp32") -> LoadedModel:
    """Load a trained synthetic model as a :class:`LoadedModel` (eval mode).

    Raises :class:`UntrainedModelError` (a ``FileNotFoundError``) naming the training function
    when the checkpoint does not exist yet, ``ValueError`` for ids that are not synthetic.
    """
    folder = _checkpoint_folder(model_id)
    meta = json.loads((folder / "meta.json").read_text())
    register_tiny_configs()
    with quiet_random_init():
        model, _, preprocess = open_clip.create_model_and_transforms(
            meta["arch"], precision=precision, device=device)
    model.load_state_dict(load_file(folder / "model.safetensors", device=str(device)))
    model.eval()
    tokenizer = shared_tokenizer(meta["arch"])
    return LoadedModel(model=model, preprocess=preprocess, tokenizer=tokenizer, model_id=model_id,
                       weights_digest=meta["weights_sha256"], precision=precision,
                       device=str(device))
