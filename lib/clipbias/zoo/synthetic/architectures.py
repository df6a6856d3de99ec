"""The tiny CLIP architectures of the synthetic world, registered with open_clip.

Each is an open_clip model config (the same JSON a user would write for a custom model), written
to the cache and added with ``open_clip.add_model_config``.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
from collections.abc import Iterator

import open_clip
import torch

from clipbias.atomic import atomic_write_json
from clipbias.paths import cache_dir

__all__ = ["DEFAULT_ARCH", "TINY_CONFIGS", "check_arch", "create_tiny_model",
           "quiet_random_init", "register_tiny_configs", "synthetic_arch_family"]

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
_FAMILY_BY_KIND = {"vit": "ViT", "rn": "ResNet"}
#: The architecture of "the default tiny model" (fastest to reach high zero-shot accuracy).
DEFAULT_ARCH = "synthetic-rn-s"


def check_arch(arch: str) -> None:
    """Raise ``ValueError`` naming the known architectures unless ``arch`` is one of them."""
    if arch not in TINY_CONFIGS:
        raise ValueError(f"unknown synthetic architecture {arch!r}; known: {sorted(TINY_CONFIGS)}")


def synthetic_arch_family(arch: str) -> str:
    """The catalog ``arch_family`` of a tiny architecture: "ViT" or "ResNet"."""
    check_arch(arch)
    return _FAMILY_BY_KIND[arch.split("-")[1]]


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


class _RandomInitFilter(logging.Filter):
    """Drops open_clip's "No pretrained weights loaded" warning (random init is intended)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "No pretrained weights loaded" not in record.getMessage()


@contextlib.contextmanager
def quiet_random_init() -> Iterator[None]:
    """Silence open_clip's "No pretrained weights loaded" warning inside the block."""
    flt = _RandomInitFilter()
    logging.getLogger().addFilter(flt)
    try:
        yield
    finally:
        logging.getLogger().removeFilter(flt)


@functools.cache
def shared_tokenizer(arch: str):
    """``open_clip.get_tokenizer(arch)``, built once per architecture and process (building the
    BPE tokenizer costs ~0.08 s, paid otherwise on every model load). Tokenizers are
    deterministic functions of the text, so models of one architecture can share one."""
    register_tiny_configs()
    return open_clip.get_tokenizer(arch)


def create_tiny_model(arch: str) -> torch.nn.Module:
    """A freshly initialised tiny CLIP (seed torch first for reproducible weights)."""
    check_arch(arch)
    register_tiny_configs()
    with quiet_random_init():
        return open_clip.create_model(arch)
