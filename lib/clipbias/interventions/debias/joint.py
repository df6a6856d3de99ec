"""Joint vision-language bias removal (Zhang, Guo and Kankanhalli 2024), on cached embeddings.

The encoders stay frozen; two residual MLPs act on their raw (unnormalised) outputs ``f``:

- text:  ``f_t' = f_t + MLP2(f_t)``;
- image: ``f_v' = f_v + MLP2(f_v + MLP1(f_v))``,

with ``MLP(x) = ReLU(W2 ReLU(W1 x + b1) + b2)`` (the output ReLU as in the paper's code). MLP2 is
shared; MLP1 moves image bias into the text's bias space. With ``n`` the L2 normalisation, the
bias components are ``b_t = n(f_t) - n(f_t')`` and ``b_v = n(f_v) - n(f_v')``.

Losses over banks of original unit features, ``V = [batch | image queue]`` and ``T = [batch |
text queue]`` (columns), temperature ``tau`` and ``softmax`` over the bank:

- bias alignment: ``L_ba = (1/B) sum_i KL(p_t,i || p_v,i)``, ``p_t,i = softmax(b_t,i T / tau)``,
  ``p_v,i = softmax(b_v,i V / tau)`` (:func:`bias_alignment_loss`);
- counterfactual: ``L_cd = (CE(s_i2t, q_i2t) + CE(s_t2i, q_t2i)) / 2`` with ``CE(p, q) = -sum p
  log q`` averaged over the batch; targets ``s_i2t = softmax(n(f_v) T / tau)``, ``s_t2i =
  softmax(n(f_t) V / tau)`` from the frozen features (from ``mix_from`` on mixed with the same
  quantities of an EMA copy of the MLPs), predictions ``q_i2t = softmax(n(f_v') T / tau)`` and
  ``q_t2i = softmax(n(f_t*') V / tau)`` where ``t*`` is, for the whole batch, the factual caption
  or its attribute-swapped counterfactual with probability 1/2 (:func:`counterfactual_loss`);
- total: ``L = alpha L_cd + (1 - alpha) L_ba`` (alpha = 0.3); the ablations drop one term.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from clipbias.progress import progress as progress_bar

__all__ = ["JointConfig", "JointDebiaser", "ResidualMLP", "bias_alignment_loss",
           "counterfactual_loss", "retrieval_logits", "train_joint"]


class ResidualMLP(nn.Module):
    """``ReLU(W2 ReLU(W1 x + b1) + b2)``: d -> hidden -> d, non-negative output."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.first = nn.Linear(dim, hidden)
        self.second = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.second(F.relu(self.first(x))))


class JointDebiaser(nn.Module):
    """The two residual maps (module docstring). ``texts``/``images`` take raw features (n, d)
    and return raw debiased features (n, d)."""

    def __init__(self, dim: int, *, hidden1: int = 512, hidden2: int = 1024) -> None:
        super().__init__()
        self.mlp1 = ResidualMLP(dim, hidden1)
        self.mlp2 = ResidualMLP(dim, hidden2)

    def texts(self, f: torch.Tensor) -> torch.Tensor:
        """``f + MLP2(f)``."""
        return f + self.mlp2(f)

    def images(self, f: torch.Tensor) -> torch.Tensor:
        """``f + MLP2(f + MLP1(f))``."""
        return f + self.mlp2(f + self.mlp1(f))

    @torch.no_grad()
    def apply(self, features, *, modality: str) -> np.ndarray:
        """Debiased raw features of a numpy array (n, d) of ``modality`` ``"image"``/``"text"``
        (float32 (n, d))."""
        if modality not in ("image", "text"):
            raise ValueError(f"modality must be 'image' or 'text', got {modality!r}")
        x = torch.as_tensor(np.asarray(features, dtype=np.float32))
        out = self.images(x) if modality == "image" else self.texts(x)
        return out.numpy()


def retrieval_logits(queries: torch.Tensor, bank: torch.Tensor, *, temperature: float
                     ) -> torch.Tensor:
    """``queries @ bank.T / temperature``: (B, d) x (N, d) -> (B, N)."""
    return queries @ bank.T / temperature


def bias_alignment_loss(text_bias: torch.Tensor, image_bias: torch.Tensor,
                        text_bank: torch.Tensor, image_bank: torch.Tensor, *,
                        temperature: float = 0.07) -> torch.Tensor:
    """``(1/B) sum_i KL(p_t,i || p_v,i)``, ``p_t = softmax(b_t T^T / tau)``, ``p_v = softmax(b_v
    V^T / tau)``. Shapes: biases (B, d), banks (N, d) (rows are unit features)."""
    log_pt = F.log_softmax(retrieval_logits(text_bias, text_bank, temperature=temperature), 1)
    log_pv = F.log_softmax(retrieval_logits(image_bias, image_bank, temperature=temperature), 1)
    return (log_pt.exp() * (log_pt - log_pv)).sum(dim=1).mean()


def counterfactual_loss(image_logits: torch.Tensor, text_logits: torch.Tensor,
                        image_target: torch.Tensor, text_target: torch.Tensor) -> torch.Tensor:
    """``(CE(s_i2t, softmax(image_logits)) + CE(s_t2i, softmax(text_logits))) / 2``, each
    ``CE(p, q) = -sum_j p_j log q_j`` averaged over the batch. Logits (B, N) of the debiased
    queries against the banks; targets (B, N) are probability rows."""
    i2t = -(image_target * F.log_softmax(image_logits, dim=1)).sum(dim=1).mean()
    t2i = -(text_target * F.log_softmax(text_logits, dim=1)).sum(dim=1).mean()
    return (i2t + t2i) / 2


@dataclass(frozen=True)
class JointConfig:
    """Training knobs of the joint method (paper values in brackets; ours are scaled to data of
    thousands, not a hundred thousand, of items)."""

    epochs: int = 20            # passes over the training pairs [up to 100, early stopping]
    batch_size: int = 128       # pairs per step [512]
    lr: float = 1e-4            # Adam learning rate [5e-6]
    queue_size: int = 1024      # features per queue [65536]
    temperature: float = 0.07   # softmax temperature tau [0.07, fixed]
    alpha: float = 0.3          # weight of L_cd; 1 - alpha weighs L_ba [0.3]
    momentum: float = 0.995     # EMA momentum of the target MLPs [0.995]
    mix: float = 0.4            # weight of the EMA targets once mixing starts [0.4]
    mix_from: int = 5           # first epoch (0-based) with mixed targets [5]
    hidden1: int = 512          # MLP1 hidden width [512]
    hidden2: int = 1024         # MLP2 hidden width [1024]
    use_cd: bool = True         # keep L_cd (False: the "without L_cd" ablation)
    use_ba: bool = True         # keep L_ba (False: the "without L_ba" ablation)

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "queue_size", "hidden1", "hidden2"):
            if getattr(self, name) < 1:
                raise ValueError(f"JointConfig: {name} must be >= 1, got {getattr(self, name)}")
        if self.mix_from < 0:
            raise ValueError(f"JointConfig: mix_from must be >= 0, got {self.mix_from}")
        if not (self.lr > 0 and self.temperature > 0):
            raise ValueError("JointConfig: lr and temperature must be > 0")
        for name in ("alpha", "momentum", "mix"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"JointConfig: {name} must be in [0, 1], "
                                 f"got {getattr(self, name)}")
        if not (self.use_cd or self.use_ba):
            raise ValueError("JointConfig: at least one of use_cd and use_ba must be True")

    def to_dict(self) -> dict:
        """The knobs as a plain dict."""
        return asdict(self)


def _raw(x, name: str, n: int | None = None) -> torch.Tensor:
    a = np.asarray(x, dtype=np.float32)
    if a.ndim != 2 or (n is not None and a.shape[0] != n):
        raise ValueError(f"{name} must be 2-d (n, d) with n = {n or 'any'}, got shape {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError(f"{name} holds NaN or infinite values; drop items that failed to embed")
    return torch.as_tensor(a)


def train_joint(images, texts, counterfactuals, *, config: JointConfig = JointConfig(),
                seed: int = 0, device: str = "cpu", progress: bool = True
                ) -> tuple[JointDebiaser, list[float]]:
    """Train the two MLPs on paired raw features (the encoders are frozen, so cached embeddings
    give exactly the loop of the paper's code).

    Args:
        images: (n, d) raw image features ``f_v``.
        texts: (n, d) raw features of each image's factual caption ``f_t``.
        counterfactuals: (n, d) raw features of the same captions with the attribute swapped.
        config: :class:`JointConfig`.
        seed: seeds the MLP initialisation, the queues' random start, the batch order and the
            factual/counterfactual coin (bit for bit reproducible on CPU).
        device: where the training runs (``"cpu"``, ``"cuda"``); the model comes back on CPU.

    Returns:
        The trained :class:`JointDebiaser` (eval mode) and the mean loss of every epoch.
    """
    v_raw = _raw(images, "images")
    n, d = v_raw.shape
    t_raw = _raw(texts, "texts", n)
    c_raw = _raw(counterfactuals, "counterfactuals", n)
    if t_raw.shape[1] != d or c_raw.shape[1] != d:
        raise ValueError("images, texts and counterfactuals must share one embedding dimension")
    if n < 2:
        raise ValueError(f"need at least 2 training pairs, got {n}")
    dev = torch.device(device)
    gen = torch.Generator().manual_seed(int(seed))
    rng = np.random.default_rng(seed)
    torch.manual_seed(int(seed))
    model = JointDebiaser(d, hidden1=config.hidden1, hidden2=config.hidden2).to(dev)
    ema = copy.deepcopy(model).requires_grad_(False)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    tau = config.temperature
    queue_v = F.normalize(torch.randn(config.queue_size, d, generator=gen), dim=1).to(dev)
    queue_t = F.normalize(torch.randn(config.queue_size, d, generator=gen), dim=1).to(dev)
    v_raw, t_raw, c_raw = v_raw.to(dev), t_raw.to(dev), c_raw.to(dev)
    v_unit, t_unit = F.normalize(v_raw, dim=1), F.normalize(t_raw, dim=1)
    batch = min(config.batch_size, n)
    history: list[float] = []
    for epoch in progress_bar(range(config.epochs), desc="joint debiasing", unit="epoch",
                              disable=not progress):
        order = torch.randperm(n, generator=gen)
        losses = []
        for start in range(0, n - batch + 1, batch):
            idx = order[start:start + batch]
            v, t, vu, tu = v_raw[idx], t_raw[idx], v_unit[idx], t_unit[idx]
            bank_v = torch.cat([vu, queue_v])
            bank_t = torch.cat([tu, queue_t])
            v_bar, t_bar = model.images(v), model.texts(t)
            loss = torch.zeros((), device=dev)
            if config.use_ba:
                l_ba = bias_alignment_loss(tu - F.normalize(t_bar, dim=1),
                                           vu - F.normalize(v_bar, dim=1), bank_t, bank_v,
                                           temperature=tau)
                loss = loss + (1 - config.alpha) * l_ba
            if config.use_cd:
                with torch.no_grad():
                    s_i2t = F.softmax(retrieval_logits(vu, bank_t, temperature=tau), 1)
                    s_t2i = F.softmax(retrieval_logits(tu, bank_v, temperature=tau), 1)
                    if epoch >= config.mix_from:
                        e_v = F.normalize(ema.images(v), dim=1)
                        e_t = F.normalize(ema.texts(t), dim=1)
                        s_i2t = (config.mix * F.softmax(retrieval_logits(e_v, bank_t,
                                                                         temperature=tau), 1)
                                 + (1 - config.mix) * s_i2t)
                        s_t2i = (config.mix * F.softmax(retrieval_logits(e_t, bank_v,
                                                                         temperature=tau), 1)
                                 + (1 - config.mix) * s_t2i)
                swapped = rng.random() < 0.5
                t_query = model.texts(c_raw[idx]) if swapped else t_bar
                l_cd = counterfactual_loss(
                    retrieval_logits(F.normalize(v_bar, dim=1), bank_t, temperature=tau),
                    retrieval_logits(F.normalize(t_query, dim=1), bank_v, temperature=tau),
                    s_i2t, s_t2i)
                loss = loss + config.alpha * l_cd
            opt.zero_grad()
            loss.backward()
            opt.step()
            with torch.no_grad():
                for p_ema, p in zip(ema.parameters(), model.parameters(), strict=True):
                    p_ema.mul_(config.momentum).add_(p, alpha=1 - config.momentum)
                queue_v = torch.cat([vu, queue_v])[:config.queue_size]
                queue_t = torch.cat([tu, queue_t])[:config.queue_size]
            losses.append(float(loss.detach()))
        history.append(float(np.mean(losses)))
    return model.cpu().eval(), history
