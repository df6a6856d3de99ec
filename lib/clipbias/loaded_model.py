"""What loading a model returns: a leaf record shared by the zoo (which makes it) and embed (which uses it).

It lives at level 0, outside the ``zoo`` package, so that modules which only handle a loaded model
(the embedding engine, the store) do not import the catalog and open_clip with it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

__all__ = ["LoadedModel"]


@dataclass
class LoadedModel:
    """A model ready for embedding: the network, its image transform and its tokenizer.

    ``weights_digest`` identifies the weights (sha256 of the checkpoint file or of the
    pretrained tag's published hash, or of the state dict) and keys the embedding store.
    Unpacks like open_clip's triple: ``model, preprocess, tokenizer = load(...)``.
    """

    model: torch.nn.Module
    preprocess: Callable[[Any], torch.Tensor]
    tokenizer: Callable[..., torch.Tensor]
    model_id: str
    weights_digest: str
    precision: str = "fp32"
    device: str = "cpu"

    def __iter__(self):
        return iter((self.model, self.preprocess, self.tokenizer))
