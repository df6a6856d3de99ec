"""Thread limits for work on small arrays.

On a shared CPU, torch's intra-op threads and the BLAS thread pool cost several-fold more than
they save on the small matrices of the synthetic studies (measured on a 2-core machine: one
projector fit took 1.0 s of CPU with one torch thread and 24 s with two; a global-vs-local ci run
spent most of its time in 320 x 320 matrix products with default threads).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["one_thread"]


@contextmanager
def one_thread() -> Iterator[None]:
    """One torch thread and one BLAS thread inside the block; both restored afterwards.

    >>> import torch
    >>> before = torch.get_num_threads()
    >>> with one_thread():
    ...     torch.get_num_threads()
    1
    >>> torch.get_num_threads() == before
    True
    """
    import torch  # imported here: clipbias.threads is a level-0 helper that must stay cheap
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        torch.set_num_threads(before)
