"""Full-batch optimisation of a small head on fixed inputs (shared by the probe and projector)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from clipbias.checks import check_int

__all__ = ["as_features", "fit_head", "head_forward"]


def as_features(x: object, name: str) -> torch.Tensor:
    """``x`` as a float32 tensor (n, d) with finite values, at least two rows."""
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] < 2 or a.shape[1] < 1:
        raise ValueError(f"{name} must be a 2-D array (n, d) with n >= 2, got shape {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError(f"{name} holds NaN or infinite values; drop those rows first")
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))


def _init(d_in: int, d_out: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    bound = 1.0 / np.sqrt(d_in)
    w = (torch.rand(d_in, d_out, generator=gen, dtype=torch.float32) * 2 - 1) * bound
    return w.requires_grad_(), torch.zeros(d_out, dtype=torch.float32, requires_grad=True)


def head_forward(params: list[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Affine map ``x W + b``, or with a hidden layer ``relu(x W1 + b1) W2 + b2``."""
    out = x @ params[0] + params[1]
    if len(params) == 4:
        out = torch.relu(out) @ params[2] + params[3]
    return out


def fit_head(x: torch.Tensor, d_out: int, loss: Callable[[torch.Tensor], torch.Tensor], *,
             hidden: int, epochs: int, lr: float, weight_decay: float, seed: int
             ) -> tuple[list[np.ndarray], list[float]]:
    """Minimise ``loss(head(x))`` over a head's weights with full-batch AdamW.

    The head is affine (``hidden = 0``) or has one ReLU hidden layer of ``hidden`` units; initial
    weights are uniform in +-1/sqrt(fan_in), biases zero, drawn from ``seed`` (float32, CPU), so
    a fit is reproducible bit for bit. Returns the weights as numpy arrays and the loss per epoch.
    """
    check_int(hidden, "hidden", low=0)
    check_int(epochs, "epochs", low=1)
    check_int(seed, "seed", low=0)
    if not lr > 0 or weight_decay < 0:
        raise ValueError(f"lr must be > 0 and weight_decay >= 0, got {lr}, {weight_decay}")
    gen = torch.Generator().manual_seed(seed)
    shapes = [(x.shape[1], hidden), (hidden, d_out)] if hidden else [(x.shape[1], d_out)]
    params = [p for d_in, d_o in shapes for p in _init(d_in, d_o, gen)]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    history = []
    for _ in range(epochs):
        value = loss(head_forward(params, x))
        opt.zero_grad(set_to_none=True)
        value.backward()
        opt.step()
        history.append(float(value.detach()))
    return [p.detach().numpy().copy() for p in params], history
