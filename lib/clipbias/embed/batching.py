"""Batch sizes: a starting size per device and input kind, halved whenever the forward runs out of memory.

The data loader hands out batches of the starting size; :class:`AdaptiveBatcher` runs the forward
on chunks of its current size and halves that size on an out-of-memory error (then retries the
same chunk), so a run that starts too big finishes instead of crashing, and later batches use the
size that fitted.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

__all__ = ["AdaptiveBatcher", "auto_batch_size", "is_out_of_memory"]

#: Starting batch sizes on a CPU (throughput is flat above these).
CPU_IMAGE_BATCH = 64
CPU_TEXT_BATCH = 256
#: Starting sizes on a GPU for a 224-pixel image tower; scaled by (224 / image side)^2.
GPU_IMAGE_BATCH_224 = 256
GPU_TEXT_BATCH = 1024


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is an accelerator out-of-memory error (CUDA's, or a RuntimeError saying so)."""
    if isinstance(exc, torch.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def auto_batch_size(kind: str, device: torch.device, *, image_side: int | None = None,
                    n_items: int | None = None) -> int:
    """Starting batch size for ``kind`` ("image" or "text") on ``device``, at most ``n_items``.

    On CUDA images start at 256 for 224-pixel inputs (enough rows to fill an H100 with a ViT-B,
    while the decoded batches that worker processes hold in shared memory stay a few GiB), scaled
    down with the pixel count to a power of two (at least 16); texts start at 1024. On CPU: 64
    images, 256 texts.
    """
    if kind not in ("image", "text"):
        raise ValueError(f"kind must be 'image' or 'text', got {kind!r}")
    if device.type == "cuda":
        if kind == "text":
            size = GPU_TEXT_BATCH
        else:
            scale = (224 / image_side) ** 2 if image_side else 1.0
            size = max(16, 2 ** math.floor(math.log2(GPU_IMAGE_BATCH_224 * scale)))
    else:
        size = CPU_IMAGE_BATCH if kind == "image" else CPU_TEXT_BATCH
    if n_items is not None:
        size = min(size, max(1, n_items))
    return size


class AdaptiveBatcher:
    """Runs ``forward`` over a tensor in chunks of ``size`` rows, halving ``size`` on OOM.

    ``halvings`` counts how often the size was halved. An OOM at size 1 is re-raised.
    """

    def __init__(self, size: int, *, device: torch.device | None = None) -> None:
        if size < 1:
            raise ValueError(f"batch size must be at least 1, got {size}")
        self.size = int(size)
        self.device = device
        self.halvings = 0

    def run(self, forward: Callable[[torch.Tensor], torch.Tensor],
            x: torch.Tensor) -> torch.Tensor:
        """Return ``forward`` applied to ``x`` (rows along dim 0), concatenated in row order."""
        outputs: list[torch.Tensor] = []
        start = 0
        while start < len(x):
            stop = min(start + self.size, len(x))
            oom = False
            try:
                outputs.append(forward(x[start:stop]))
            except RuntimeError as exc:  # torch.OutOfMemoryError is a RuntimeError
                if not is_out_of_memory(exc) or self.size == 1:
                    raise
                oom = True
            if oom:  # outside the except block, so the failed frame's tensors can be freed
                self._halve()
                continue
            start = stop
        if not outputs:
            return forward(x)
        return outputs[0] if len(outputs) == 1 else torch.cat(outputs)

    def _halve(self) -> None:
        self.size = max(1, self.size // 2)
        self.halvings += 1
        if self.device is not None and self.device.type == "cuda":
            torch.cuda.empty_cache()
