"""Contrastive fine-tuning of a loaded open_clip model on image-caption pairs from files.

The synthetic loop (:mod:`clipbias.interventions.train.loop`) trains tiny models on in-memory
worlds; this function fine-tunes any :class:`~clipbias.loaded_model.LoadedModel` (a real open_clip
model from :func:`clipbias.zoo.load`) on image files and their captions, with the same loss,
optimiser and schedule. The fine-tuned weights stay in memory (a web-scale model's weights are
hundreds of megabytes); the returned model's ``weights_digest`` hashes them, so its embeddings go
through the embedding store like any other model's.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from open_clip.loss import ClipLoss
from PIL import Image

from clipbias.interventions.train.loop import _param_groups, contrastive_step, learning_rate
from clipbias.loaded_model import LoadedModel
from clipbias.progress import progress as progress_bar
from clipbias.zoo.train_config import TrainConfig

__all__ = ["finetune_open_clip", "state_digest"]


def state_digest(model: torch.nn.Module) -> str:
    """sha256 over the state dict: each tensor's name, dtype, shape and bytes, names sorted."""
    h = hashlib.sha256()
    for name, value in sorted(model.state_dict().items()):
        t = value.detach().cpu().contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}\n".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _batch_pixels(model: LoadedModel, paths: Sequence[Path]) -> torch.Tensor:
    images = []
    for path in paths:
        with Image.open(path) as img:
            images.append(model.preprocess(img.convert("RGB")))
    return torch.stack(images)


def finetune_open_clip(model: LoadedModel, images: Sequence[str | Path], captions: Sequence[str],
                       *, train: TrainConfig, seed: int = 0, device: str | None = None,
                       progress: bool = False) -> LoadedModel:
    """Fine-tune every weight of ``model`` on the pairs ``(images[i], captions[i])``.

    Loss: open_clip ``ClipLoss``, the symmetric cross-entropy of the (batch x batch) logits
    ``logit_scale * I T^T`` of L2-normalised image features I and text features T; AdamW
    (betas 0.9, 0.98, eps 1e-6; ``train.weight_decay`` on matrices only), learning rate
    :func:`~clipbias.interventions.train.loop.learning_rate` (``train.warmup`` warm-up steps,
    then cosine decay to 0), ``train.steps`` steps of ``train.batch_size`` pairs (capped at the
    number of pairs) drawn by seeded epoch permutations; ``logit_scale`` clamped to
    ``[0, ln 100]``. Images are read and transformed with ``model.preprocess`` batch by batch.

    ``model`` is not changed: a deep copy is trained on ``device`` (default ``model.device``).
    Returns a :class:`LoadedModel` in eval mode with model id ``"<model_id>+ft-<12 hex>"`` and
    ``weights_digest`` = :func:`state_digest` of the fine-tuned weights.
    """
    paths = [Path(p) for p in images]
    texts = [str(c) for c in captions]
    if len(paths) != len(texts):
        raise ValueError(f"images and captions must pair up: {len(paths)} images, "
                         f"{len(texts)} captions")
    if len(paths) < 2:
        raise ValueError(f"contrastive fine-tuning needs at least 2 pairs, got {len(paths)}")
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"{len(missing)} image file(s) do not exist, e.g. {missing[0]}")
    dev = torch.device(device or model.device)
    net = copy.deepcopy(model.model).to(dev)
    net.train()
    batch = min(train.batch_size, len(paths))
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0xF17E]))
    opt = torch.optim.AdamW(_param_groups(net, train.weight_decay), lr=train.lr,
                            betas=(0.9, 0.98), eps=1e-6)
    loss_fn = ClipLoss()
    order, pos = rng.permutation(len(paths)), 0
    steps = progress_bar(range(train.steps), desc="fine-tune", unit="step", disable=not progress)
    for step in steps:
        if pos + batch > len(order):
            order, pos = rng.permutation(len(paths)), 0
        idx = order[pos:pos + batch]
        pos += batch
        pixels = _batch_pixels(model, [paths[i] for i in idx]).to(dev)
        tokens = model.tokenizer([texts[i] for i in idx]).to(dev)
        contrastive_step(net, opt, loss_fn, pixels, tokens, learning_rate(step, train))
    net.eval()
    digest = state_digest(net)
    return LoadedModel(model=net, preprocess=model.preprocess, tokenizer=model.tokenizer,
                       model_id=f"{model.model_id}+ft-{digest[:12]}", weights_digest=digest,
                       precision=model.precision, device=str(dev))
