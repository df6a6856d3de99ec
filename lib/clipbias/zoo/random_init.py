"""Untrained models: any open_clip architecture with seeded random weights, ready to embed.

The zoo study's random-initialisation baseline measures the battery on these beside the trained
models: what the architecture alone (random features, the tokenizer, the image transform) puts
into an effect size. Model ids read ``"ARCH/random-init-s<seed>"``.
"""

from __future__ import annotations

import hashlib
import re

import open_clip
import torch

from clipbias.loaded_model import LoadedModel
from clipbias.zoo.synthetic.architectures import (
    quiet_random_init,
    register_tiny_configs,
    shared_tokenizer,
)

__all__ = ["RANDOM_INIT_TAG", "is_random_init", "random_init_id", "random_init_model"]

#: Tag pattern of an untrained model id: ``"random-init-s<seed>"``.
RANDOM_INIT_TAG = re.compile(r"^random-init-s(?P<seed>\d+)$")


def random_init_id(arch: str, *, seed: int) -> str:
    """``"ARCH/random-init-s<seed>"``, the id of :func:`random_init_model` ``(arch, seed=seed)``."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return f"{arch}/random-init-s{seed}"


def is_random_init(model_id: str) -> bool:
    """Whether ``model_id`` names an untrained model (tag ``random-init-s<seed>``)."""
    return bool(RANDOM_INIT_TAG.match(model_id.partition("/")[2]))


def _state_digest(model: torch.nn.Module) -> str:
    """sha256 over the state dict (names, dtypes, shapes and bytes), in key order."""
    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.float().numpy().tobytes())
    return "sha256:" + h.hexdigest()


def random_init_model(model_id: str, *, device: str = "cpu",
                      precision: str = "fp32") -> LoadedModel:
    """The architecture of ``model_id`` (``"ARCH/random-init-s<seed>"``) with the random weights
    open_clip draws after ``torch.manual_seed(seed)``, in eval mode.

    The weights are reproducible bit for bit on CPU for a given open_clip version; the digest
    (sha256 of the state dict) keys the embedding store, so two seeds never share embeddings.
    Synthetic architectures are registered first; a user architecture must be registered with
    open_clip (``open_clip.add_model_config`` or ``CLIPBIAS_MODEL_CONFIGS``).

    Raises ``ValueError`` for an id without the random-init tag or an unknown architecture.
    """
    arch, _, tag = model_id.partition("/")
    match = RANDOM_INIT_TAG.match(tag)
    if not match:
        raise ValueError(f"{model_id!r} is not an untrained model id; write "
                         f"'ARCH/random-init-s<seed>' (see random_init_id)")
    register_tiny_configs()
    if arch not in open_clip.list_models():
        raise ValueError(f"unknown open_clip architecture {arch!r} for the untrained model "
                         f"{model_id!r}; register its config with open_clip.add_model_config")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(match["seed"]))
        with quiet_random_init():
            model, _, preprocess = open_clip.create_model_and_transforms(arch)
    digest = _state_digest(model)
    model = model.to(device=device)
    if precision != "fp32":
        model = model.to(dtype={"fp16": torch.float16, "bf16": torch.bfloat16}[precision])
    model.eval()
    return LoadedModel(model=model, preprocess=preprocess, tokenizer=shared_tokenizer(arch),
                       model_id=model_id, weights_digest=digest, precision=precision,
                       device=str(device))
