"""Loading and embedding models: the pieces several studies share (not a study itself).

- :func:`device_for`: a study's ``device`` parameter (``"auto"``, ``"cpu"``, ``"cuda"``, ...)
  resolved to the device torch will use;
- :class:`ModelLoader`: ``loader(model_id, device=..., precision=...)`` with user checkpoints,
  untrained random-init baselines and :func:`clipbias.zoo.load` for everything else;
- :func:`embed_battery` and :func:`battery_records`: every stimulus set of an EAT battery
  embedded through the store, and the per-test records :func:`clipbias.metrics.run_eat_battery`
  takes.
"""

from __future__ import annotations

import numpy as np
import torch

from clipbias.data.stimulus import EATSpec
from clipbias.embed import cached_embed_images, cached_embed_texts
from clipbias.loaded_model import LoadedModel
from clipbias.metrics import EATRecord
from clipbias.zoo import load
from clipbias.zoo.random_init import random_init_model


def device_for(name: str) -> str:
    """``name`` with ``"auto"`` resolved: ``"cuda"`` when torch sees a GPU, else ``"cpu"``.
    Raises ``ValueError`` for ``"cuda"`` without a visible CUDA device (a clear error before any
    model is loaded)."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device={name!r} but no CUDA device is visible; use 'auto' or 'cpu'")
    return name


class ModelLoader:
    """``loader(model_id, device=..., precision=...) -> LoadedModel``: the user's checkpoint of
    ``model_id`` where ``checkpoints`` maps it to one, an untrained model for random-init ids
    (``.../random-init-s<seed>``), else :func:`clipbias.zoo.load` (catalog or synthetic zoo)."""

    def __init__(self, checkpoints: dict[str, str]) -> None:
        self.checkpoints = dict(checkpoints)

    def __call__(self, model_id: str, *, device: str = "cpu",
                 precision: str = "fp32") -> LoadedModel:
        if "/random-init-s" in model_id:
            return random_init_model(model_id, device=device, precision=precision)
        return load(model_id, device=device, precision=precision,
                    checkpoint=self.checkpoints.get(model_id))


def embed_battery(model: LoadedModel, specs: list[EATSpec], device: str
                  ) -> dict[tuple[str, str], np.ndarray]:
    """Every stimulus set of ``specs`` embedded by ``model`` through the embedding store, once
    each: ``{(set name, modality): (n_items, dim) embeddings}``."""
    out: dict[tuple[str, str], np.ndarray] = {}
    for spec in specs:
        for s in (spec.x, spec.y, spec.a, spec.b):
            key = (s.name, s.modality)
            if key in out:
                continue
            result = (cached_embed_images(model, s.paths(), device=device, progress=False)
                      if s.modality == "image"
                      else cached_embed_texts(model, list(s.items), device=device,
                                              progress=False))
            out[key] = result.embeddings
    return out


def battery_records(model_id: str, specs: list[EATSpec],
                    emb: dict[tuple[str, str], np.ndarray]) -> list[EATRecord]:
    """One :class:`clipbias.metrics.EATRecord` per test of ``specs`` from the embeddings of
    :func:`embed_battery` (targets X, Y and attributes A, B of one model)."""
    def get(s):
        return emb[(s.name, s.modality)]
    return [EATRecord(spec.name, model_id, get(spec.x), get(spec.y), get(spec.a), get(spec.b))
            for spec in specs]
