"""Full fine-tuning of a tiny synthetic CLIP on downstream data (calls the training loop)."""

from __future__ import annotations

from clipbias.checks import check_int
from clipbias.interventions.train import TrainConfig, TrainedRun, TrainingData, train_tiny_clip

__all__ = ["finetune"]


def finetune(model_id: str, data: TrainingData, *, steps: int = 60, batch_size: int = 64,
             lr: float = 5e-4, seed: int = 0, eval_size: int = 200,
             progress: bool = False) -> TrainedRun:
    """Fine-tune every weight of the synthetic model ``model_id`` on ``data``'s image-caption
    pairs (open_clip ``ClipLoss``, AdamW, warm-up then cosine decay; the optimiser starts afresh).

    This is :func:`clipbias.interventions.train.train_tiny_clip` started from ``model_id``
    (``init``), so the result is cached under a key of (architecture, data, knobs, seed, starting
    checkpoint) and a second call returns it without training.

    Args:
        model_id: a trained synthetic model, ``"ARCH/DATASET_sN"`` or ``"ARCH/run-<16 hex>"``.
        data: the downstream training pairs.
        steps, batch_size, lr: optimisation knobs (warm-up: a tenth of the steps).
        seed: seeds the batch order.
        eval_size: held-out benchmark images for the zero-shot accuracy in the metadata.
        progress: show a bar over steps.

    Returns:
        :class:`~clipbias.interventions.train.TrainedRun`; its ``model_id`` loads the fine-tuned
        model, ``metadata["loss_every_10"]`` traces the loss.
    """
    arch, _, tag = model_id.partition("/")
    if not arch.startswith("synthetic-") or not tag:
        raise ValueError(f"finetune needs a synthetic model id (\"synthetic-ARCH/TAG\"), got "
                         f"{model_id!r}; real models are adapted with probes and projectors")
    check_int(steps, "steps", low=1)
    train = TrainConfig(steps=steps, batch_size=batch_size, lr=lr, warmup=max(1, steps // 10),
                        eval_size=eval_size)
    return train_tiny_clip(arch, data, train=train, seed=seed, init=model_id, progress=progress)
