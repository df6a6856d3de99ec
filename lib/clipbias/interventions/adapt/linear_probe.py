"""Linear probe: a softmax classifier on frozen embeddings (a downstream classification head)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from clipbias.interventions.adapt._fit import as_features, fit_head, head_forward

__all__ = ["LinearProbe", "fit_linear_probe"]


@dataclass(frozen=True, eq=False)
class LinearProbe:
    """A fitted probe: ``weights`` (W, b) or (W1, b1, W2, b2), the sorted ``classes`` and the
    training loss per epoch."""

    weights: tuple[np.ndarray, ...]
    classes: np.ndarray
    losses: tuple[float, ...]

    def logits(self, features: object) -> np.ndarray:
        """Class scores (n, n_classes) of features (n, d)."""
        x = as_features(features, "features")
        if x.shape[1] != self.weights[0].shape[0]:
            raise ValueError(f"features have {x.shape[1]} columns, the probe was fitted on "
                             f"{self.weights[0].shape[0]}")
        return head_forward([torch.from_numpy(w) for w in self.weights], x).numpy()

    def predict(self, features: object) -> np.ndarray:
        """The predicted class of each row (argmax of the logits; ties to the lower class)."""
        return self.classes[np.argmax(self.logits(features), axis=1)]


def fit_linear_probe(features: object, labels: object, *, hidden: int = 0, epochs: int = 300,
                     lr: float = 0.05, weight_decay: float = 1e-4, seed: int = 0) -> LinearProbe:
    """Fit a softmax classifier on frozen features by full-batch AdamW.

    Minimises the mean cross-entropy ``-(1/n) sum_i log softmax(f(x_i))_{y_i}`` with
    ``f(x) = x W + b`` (``hidden = 0``, the linear probe) or ``relu(x W1 + b1) W2 + b2``.

    Args:
        features: (n, d) embeddings (frozen; not modified).
        labels: (n,) class labels (any sortable values, at least two distinct).
        hidden: hidden units (0: linear).
        epochs: full-batch optimisation steps.
        lr, weight_decay: AdamW settings.
        seed: seeds the initial weights; equal inputs and seed give equal probes.

    Returns:
        :class:`LinearProbe`.
    """
    x = as_features(features, "features")
    y = np.asarray(labels)
    if y.ndim != 1 or y.shape[0] != x.shape[0]:
        raise ValueError(f"labels must be 1-D with one entry per row of features "
                         f"({x.shape[0]}), got shape {y.shape}")
    classes, codes = np.unique(y, return_inverse=True)
    if classes.shape[0] < 2:
        raise ValueError("labels must hold at least two distinct classes")
    target = torch.from_numpy(codes.astype(np.int64))
    weights, losses = fit_head(x, classes.shape[0], lambda out: F.cross_entropy(out, target),
                               hidden=hidden, epochs=epochs, lr=lr, weight_decay=weight_decay,
                               seed=seed)
    return LinearProbe(tuple(weights), classes, tuple(losses))
