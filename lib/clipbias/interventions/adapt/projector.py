"""Projector: a small map from image embeddings into a frozen text space (LLaVA's stand-in)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from clipbias.interventions.adapt._fit import as_features, fit_head, head_forward

__all__ = ["LOSSES", "Projector", "fit_projector"]

#: Training losses of :func:`fit_projector`.
LOSSES: tuple[str, ...] = ("contrastive", "mse")


@dataclass(frozen=True, eq=False)
class Projector:
    """A fitted projector: ``weights`` (W, b) or (W1, b1, W2, b2) and the loss per epoch."""

    weights: tuple[np.ndarray, ...]
    losses: tuple[float, ...]

    def transform(self, features: object) -> np.ndarray:
        """Projected features (n, d_text) of image features (n, d_image)."""
        x = as_features(features, "features")
        if x.shape[1] != self.weights[0].shape[0]:
            raise ValueError(f"features have {x.shape[1]} columns, the projector was fitted on "
                             f"{self.weights[0].shape[0]}")
        return head_forward([torch.from_numpy(w) for w in self.weights], x).numpy()


def fit_projector(features: object, targets: object, *, hidden: int = 0, loss: str = "contrastive",
                  temperature: float = 0.05, epochs: int = 300, lr: float = 0.02,
                  weight_decay: float = 1e-4, seed: int = 0) -> Projector:
    """Fit a projector ``f`` mapping image features x_i onto their frozen text targets t_i.

    ``f(x) = x W + b`` (``hidden = 0``) or ``relu(x W1 + b1) W2 + b2``. Losses:

    - ``"contrastive"``: InfoNCE from images to texts over the batch (all n pairs),
      ``-(1/n) sum_i log softmax_j(cos(f(x_i), t_j) / temperature)_i``: the CLIP-style objective;
      the scale of f is free.
    - ``"mse"``: ``(1/n) sum_i ||f(x_i) - t_i||^2 / d_text``: regression onto the targets.

    Args:
        features: (n, d_image) image embeddings (frozen).
        targets: (n, d_text) text embeddings of each image's caption (frozen).
        hidden: hidden units (0: linear).
        loss: one of :data:`LOSSES`.
        temperature: InfoNCE temperature (``"contrastive"``).
        epochs, lr, weight_decay: full-batch AdamW settings.
        seed: seeds the initial weights.

    Returns:
        :class:`Projector`.
    """
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    x = as_features(features, "features")
    t = as_features(targets, "targets")
    if t.shape[0] != x.shape[0]:
        raise ValueError(f"targets has {t.shape[0]} rows but features has {x.shape[0]}: one "
                         "target per image")
    if loss == "mse":
        def objective(out: torch.Tensor) -> torch.Tensor:
            return ((out - t) ** 2).mean()
    else:
        tn = F.normalize(t, dim=1)
        index = torch.arange(x.shape[0])

        def objective(out: torch.Tensor) -> torch.Tensor:
            return F.cross_entropy(F.normalize(out, dim=1) @ tn.T / temperature, index)
    weights, losses = fit_head(x, t.shape[1], objective, hidden=hidden, epochs=epochs, lr=lr,
                               weight_decay=weight_decay, seed=seed)
    return Projector(tuple(weights), tuple(losses))
