"""Train a tiny open_clip CLIP on a synthetic world, with checkpoint caching.

The loop: images are uint8 arrays in memory, captions are tokenised once with the real open_clip
tokenizer; each step draws a batch (epoch permutations, or with replacement in proportion to
sampling weights), and minimises open_clip's contrastive ``ClipLoss`` with AdamW under a linear
warm-up and cosine decay. Training may switch data source at a fraction of the steps (for
"when does balancing happen" experiments) and may start from a trained checkpoint. At the end
the zero-shot concept accuracy on the held-out benchmark is measured, and weights (safetensors)
plus a JSON sidecar are written atomically under the checkpoint key.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import platform
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import open_clip
import torch
from open_clip.loss import ClipLoss
from safetensors.torch import load_file, save_file

from clipbias.atomic import atomic_dir
from clipbias.data.synthetic import (
    World,
    WorldConfig,
    benchmark_world,
    concept_prompts,
    generate_world,
)
from clipbias.metrics.association import zero_shot_correct
from clipbias.progress import progress as progress_bar
from clipbias.zoo.synthetic.architectures import create_tiny_model, register_tiny_configs
from clipbias.zoo.synthetic.checkpoints import (
    checkpoint_dir,
    checkpoint_key,
    data_key,
    read_metadata,
)
from clipbias.zoo.synthetic.ids import load_synthetic
from clipbias.zoo.train_config import ZOO_TRAIN, TrainConfig

__all__ = ["TrainedRun", "TrainingData", "benchmark_accuracy", "learning_rate", "snapshot_key",
           "train_tiny_clip"]

_MEAN = torch.tensor(open_clip.OPENAI_DATASET_MEAN).view(1, 3, 1, 1)
_STD = torch.tensor(open_clip.OPENAI_DATASET_STD).view(1, 3, 1, 1)


@dataclass(frozen=True, eq=False)
class TrainingData:
    """One source of training pairs: a world (knobs and seed) and optional sampling weights.

    ``weights`` (length ``world.size``, non-negative, not all zero) makes a step draw items with
    probability proportional to their weight (with replacement): reweighting, or subsampling
    with 0/1 weights. ``None`` draws uniformly, epoch by epoch.
    """

    world: WorldConfig                  # knobs of the world
    world_seed: int = 0                 # seed of the world
    weights: np.ndarray | None = None   # per-item sampling weights, shape (world.size,)

    def __post_init__(self) -> None:
        if self.weights is not None:
            w = np.asarray(self.weights, dtype=np.float64)
            if w.shape != (self.world.size,):
                raise ValueError(f"weights must have shape ({self.world.size},), got {w.shape}")
            if not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
                raise ValueError("weights must be finite, non-negative and not all zero")

    def key(self) -> str:
        """Hash of knobs, world seed and weights (see :func:`clipbias.zoo.synthetic.checkpoints.data_key`)."""
        digest = None
        if self.weights is not None:
            w = np.ascontiguousarray(self.weights, dtype=np.float64)
            digest = hashlib.sha256(w.tobytes()).hexdigest()
        return data_key(self.world, world_seed=self.world_seed, weights_digest=digest)

    def load(self) -> World:
        """The generated world (cached in memory)."""
        return generate_world(self.world, seed=self.world_seed)


@dataclass(frozen=True)
class TrainedRun:
    """A trained checkpoint: its key, model id, folder and JSON metadata."""

    key: str        # checkpoint key (sha256 hex)
    model_id: str   # "ARCH/run-<key[:16]>" (zoo models also load under "ARCH/DATASET_sN")
    folder: Path    # checkpoint folder (model.safetensors, meta.json)
    metadata: dict  # the sidecar: metrics, configs, timings
    snapshots: dict[int, str] = field(default_factory=dict)  # step -> model id of its weights

    @property
    def zero_shot_accuracy(self) -> float:
        """Zero-shot concept accuracy on the held-out benchmark."""
        return float(self.metadata["zero_shot_accuracy"])

    def load(self, *, device: str = "cpu"):
        """The model as a :class:`clipbias.loaded_model.LoadedModel`."""
        return load_synthetic(self.model_id, device=device)


@functools.lru_cache(maxsize=8)
def _tokens(world: World, context_length: int) -> torch.Tensor:
    """Tokenised captions ``(n, context_length)`` of a world (cached per world object)."""
    return open_clip.tokenize(world.captions(), context_length=context_length)


def _pixels(images: np.ndarray) -> torch.Tensor:
    """uint8 ``(n, H, W, 3)`` -> normalised float ``(n, 3, H, W)`` (open_clip's OpenAI stats)."""
    x = torch.from_numpy(np.require(images, requirements=['C', 'W'])).permute(0, 3, 1, 2).float().div_(255.0)
    return (x - _MEAN) / _STD


@torch.no_grad()
def benchmark_accuracy(model: torch.nn.Module, world: World, *, context_length: int,
                       batch_size: int = 512) -> float:
    """Zero-shot concept accuracy of ``model`` on ``world``'s images.

    The share of images whose first figure's concept has the most similar prompt
    ``"a photo of a <concept>"`` (cosine of normalised features), scored with the metrics kernel
    :func:`clipbias.metrics.association.zero_shot_correct` (top-1; ties go to the lower class).
    ``world.images`` (n, H, W, 3) uint8 are embedded ``batch_size`` at a time.
    """
    was_training = model.training
    model.eval()
    text = model.encode_text(open_clip.tokenize(concept_prompts(world.config),
                                                context_length=context_length), normalize=True)
    correct = []
    for start in range(0, len(world), batch_size):
        feats = model.encode_image(_pixels(world.images[start:start + batch_size]), normalize=True)
        correct.append(zero_shot_correct(feats @ text.T,
                                         world.concepts[start:start + batch_size, 0], k=1))
    model.train(was_training)
    return float(np.concatenate(correct).mean())


def learning_rate(step: int, cfg: TrainConfig) -> float:
    """Learning rate of optimisation step ``step`` (0-based): linear warm-up to ``cfg.lr`` over
    ``cfg.warmup`` steps, then ``0.5 lr (1 + cos(pi t))`` with ``t = (step - warmup) /
    (steps - warmup)`` (cosine decay to 0)."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    t = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return 0.5 * cfg.lr * (1.0 + math.cos(math.pi * t))


class _Sampler:
    """Batches of item indices for one data source, reproducible from ``rng``."""

    def __init__(self, data: TrainingData, n: int, rng: np.random.Generator) -> None:
        self.n, self.rng = n, rng
        self.p = None
        if data.weights is not None:
            w = np.asarray(data.weights, dtype=np.float64)
            self.p = w / w.sum()
        self.order, self.pos = np.empty(0, dtype=np.int64), 0

    def draw(self, batch: int) -> np.ndarray:
        if self.p is not None:
            return self.rng.choice(self.n, size=batch, replace=True, p=self.p)
        out = []
        while batch > 0:
            if self.pos >= len(self.order):
                self.order, self.pos = self.rng.permutation(self.n), 0
            take = self.order[self.pos:self.pos + batch]
            self.pos += len(take)
            batch -= len(take)
            out.append(take)
        return np.concatenate(out)


def _param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if p.ndim < 2 or "logit_scale" in name or "embedding" in name else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0}]


def _resolve_init(init: str | None) -> tuple[str | None, dict | None]:
    """Key and state dict of the starting checkpoint (a model id or a checkpoint key)."""
    if init is None:
        return None, None
    model = load_synthetic(init if "/" in init else _id_of_key(init))
    return model.weights_digest, model.model.state_dict()


def _id_of_key(key: str) -> str:
    meta = read_metadata(key)
    if meta is None:
        raise FileNotFoundError(f"no trained checkpoint with key {key!r}")
    return meta["model_id"]


def _run_id(arch: str, key: str) -> str:
    return f"{arch}/run-{key[:16]}"


def contrastive_step(model: torch.nn.Module, opt: torch.optim.Optimizer, loss_fn: ClipLoss,
                     pixels: torch.Tensor, tokens: torch.Tensor, lr: float) -> torch.Tensor:
    """One CLIP training step: set the learning rate ``lr``, the contrastive loss of the batch
    (``pixels`` (B, 3, H, W), ``tokens`` (B, L)), one optimiser step, then the logit scale
    clamped to ``[0, log 100]`` as in CLIP. Returns the loss (before the step)."""
    for group in opt.param_groups:
        group["lr"] = lr
    image_f, text_f, scale = model(pixels, tokens)[:3]
    loss = loss_fn(image_f, text_f, scale)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    with torch.no_grad():
        model.logit_scale.clamp_(0, math.log(100))
    return loss


def train_tiny_clip(arch: str, data: TrainingData, *, train: TrainConfig = ZOO_TRAIN,
                    seed: int = 0, switch_to: TrainingData | None = None,
                    switch_at: float = 0.5, init: str | None = None,
                    snapshots: Sequence[int] = (), progress: bool = False,
                    force: bool = False) -> TrainedRun:
    """Train (or fetch from the cache) a tiny CLIP of architecture ``arch`` on ``data``.

    Loss: open_clip ``ClipLoss``, the symmetric cross-entropy of the (batch x batch) logits
    ``logit_scale * I T^T`` of L2-normalised image features I and text features T.

    Args:
        arch: a registered synthetic architecture (:data:`clipbias.zoo.synthetic.architectures.TINY_CONFIGS`).
        data: the training pairs (and their sampling weights).
        train: optimisation knobs.
        seed: seeds the initial weights and the batch order.
        switch_to: a second data source used from step ``round(switch_at * steps)`` on.
        switch_at: fraction of the steps after which ``switch_to`` replaces ``data``; 0 trains
            on ``switch_to`` only.
        init: model id or checkpoint key of a trained checkpoint to continue from (the
            optimiser starts afresh, with its own warm-up).
        snapshots: optimisation steps ``t`` in ``[0, train.steps)`` after which (``t`` updates
            done; 0 = the initial weights) the weights are also saved, each as a checkpoint of
            its own under :func:`snapshot_key` ``(key, t)`` (model id ``ARCH/run-<16 hex>``; its
            sidecar has no zero-shot accuracy). The final weights are the run's own checkpoint.
            Snapshots do not change the run: its final weights are the same with or without.
        progress: show a progress bar over steps.
        force: retrain even if the checkpoint exists.

    Returns:
        :class:`TrainedRun` with ``snapshots`` ``{step: model id}``; the checkpoint key hashes
        (architecture config, data phases, training knobs, seed, starting checkpoint), so equal
        requests share one checkpoint. A cached run whose requested snapshots are not all cached
        is trained again (bit-for-bit the same run) to write them.
    """
    if not 0.0 <= switch_at <= 1.0:
        raise ValueError(f"switch_at must be in [0, 1], got {switch_at}")
    steps = sorted({int(t) for t in snapshots})
    if steps and not 0 <= steps[0] <= steps[-1] < train.steps:
        raise ValueError(f"snapshots must be steps in [0, {train.steps}) (train.steps; the final "
                         f"weights are the run's own checkpoint), got {list(snapshots)}")
    register_tiny_configs()
    init_key, init_state = _resolve_init(init)
    phases = [(data, 0.0)] + ([(switch_to, switch_at)] if switch_to is not None else [])
    key = checkpoint_key(arch, [(d.key(), start) for d, start in phases], train, seed=seed,
                         init=init_key)
    folder = checkpoint_dir(key)
    meta = read_metadata(key)
    snap_meta = {t: read_metadata(snapshot_key(key, t)) for t in steps}
    if meta is not None and not force and all(m is not None for m in snap_meta.values()):
        return TrainedRun(key, meta["model_id"], folder, meta,
                          {t: m["model_id"] for t, m in snap_meta.items()})
    fitted = _fit(arch, phases, train=train, seed=seed, init_state=init_state, steps=steps,
                  progress=progress)
    states = fitted.pop("_snapshots")
    ids = {}
    for t in steps:
        skey = snapshot_key(key, t)
        ids[t] = _run_id(arch, skey)
        if snap_meta[t] is None or force:
            smeta = {k: fitted[k] for k in ("arch", "seed", "train", "phases", "torch",
                                            "open_clip", "machine", "torch_threads")}
            smeta.update({"key": skey, "model_id": ids[t], "init": init_key, "snapshot_of": key,
                          "step": t, "samples_seen": t * train.batch_size})
            _save(states[t], smeta, checkpoint_dir(skey), skey)
    if meta is not None and not force:
        return TrainedRun(key, meta["model_id"], folder, meta, ids)
    fitted.update({"key": key, "model_id": _run_id(arch, key), "init": init_key})
    run = _save(fitted.pop("_state"), fitted, folder, key)
    return TrainedRun(run.key, run.model_id, run.folder, run.metadata, ids)


def snapshot_key(key: str, step: int) -> str:
    """Checkpoint key of the weights after ``step`` optimisation steps of the run with checkpoint
    key ``key``: sha256 of ``{"snapshot_of": key, "step": step}`` as sorted JSON."""
    return hashlib.sha256(json.dumps({"snapshot_of": key, "step": int(step)},
                                     sort_keys=True).encode()).hexdigest()


def _fit(arch: str, phases: list[tuple[TrainingData, float]], *, train: TrainConfig, seed: int,
         init_state: dict | None, steps: Sequence[int] = (), progress: bool) -> dict:
    """The optimisation itself; returns the metadata with the final state under ``"_state"``
    and ``{t: state after t steps}`` for ``t`` in ``steps`` under ``"_snapshots"``."""
    worlds = [d.load() for d, _ in phases]
    sizes = {w.config.image_size for w in worlds}
    want = open_clip.get_model_config(arch)["vision_cfg"]["image_size"]
    if sizes != {want}:
        raise ValueError(f"{arch} takes {want}px images; the training worlds have {sorted(sizes)}px")
    context_length = open_clip.get_model_config(arch)["text_cfg"]["context_length"]
    torch.manual_seed(seed)
    model = create_tiny_model(arch)
    if init_state is not None:
        model.load_state_dict(init_state)
    model.train()
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x7EA1]))
    samplers = [_Sampler(d, len(w), rng) for (d, _), w in zip(phases, worlds, strict=True)]
    starts = [round(start * train.steps) for _, start in phases]
    tokens = [_tokens(w, context_length) for w in worlds]
    opt = torch.optim.AdamW(_param_groups(model, train.weight_decay), lr=train.lr,
                            betas=(0.9, 0.98), eps=1e-6)
    loss_fn = ClipLoss()
    losses: list[float] = []
    t0 = time.perf_counter()
    wanted = set(steps)
    step_range = progress_bar(range(train.steps), desc=f"train {arch}", unit="step") \
        if progress else range(train.steps)
    snapshots: dict[int, dict] = {}
    for step in step_range:
        if step in wanted:
            snapshots[step] = _copy_state(model)
        phase = max(i for i, s in enumerate(starts) if step >= s)
        idx = samplers[phase].draw(train.batch_size)
        loss = contrastive_step(model, opt, loss_fn, _pixels(worlds[phase].images[idx]),
                                tokens[phase][idx], learning_rate(step, train))
        losses.append(float(loss.detach()))
    seconds = time.perf_counter() - t0
    bench = benchmark_world(phases[0][0].world, size=train.eval_size, seed=0)
    accuracy = benchmark_accuracy(model, bench, context_length=context_length)
    return {
        "arch": arch, "seed": seed, "train": train.to_dict(),
        "phases": [{"data_key": d.key(), "start": s, "world": d.world.to_dict(),
                    "world_seed": d.world_seed, "weighted": d.weights is not None}
                   for d, s in phases],
        "zero_shot_accuracy": accuracy, "steps": train.steps,
        "samples_seen": train.steps * train.batch_size, "train_seconds": seconds,
        "final_loss": float(np.mean(losses[-10:])), "loss_every_10": losses[::10],
        "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
        "open_clip": open_clip.__version__, "machine": platform.machine(),
        "_state": _copy_state(model), "_snapshots": snapshots,
    }


def _copy_state(model: torch.nn.Module) -> dict:
    """A detached, contiguous copy of ``model``'s state dict."""
    return {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}


def _save(state: dict, meta: dict, folder: Path, key: str) -> TrainedRun:
    """Write weights and sidecar atomically; the sidecar records the weights' sha256."""
    with atomic_dir(folder) as tmp:
        save_file(state, str(Path(tmp) / "model.safetensors"))
        blob = (Path(tmp) / "model.safetensors").read_bytes()
        meta["weights_sha256"] = hashlib.sha256(blob).hexdigest()
        (Path(tmp) / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return TrainedRun(key, meta["model_id"], folder, meta)


def load_state(key: str) -> dict:
    """The weights of a trained checkpoint as a state dict (safetensors, no pickle)."""
    return load_file(checkpoint_dir(key) / "model.safetensors")
