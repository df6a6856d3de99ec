"""Run independent training jobs on every core: one spawned process per core, one torch thread each.

Tiny models gain little from intra-op threads and lose several-fold when processes share cores
(measured on a 2-core machine), while whole models in parallel scale with the cores. A fixed
thread count also keeps every checkpoint bit-for-bit equal to a sequential run's, so a model
trained here and one trained in a pool share a cache key and its contents.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, TypeVar

import torch

from clipbias.progress import progress as progress_bar

__all__ = ["run_in_processes"]

T = TypeVar("T")


def _with_threads(job: Callable[..., T], args: tuple, threads: int | None) -> T:
    """Worker body: ``job(*args)`` with ``threads`` torch threads (None: torch's default)."""
    if threads is not None:
        torch.set_num_threads(threads)
    return job(*args)


def run_in_processes(job: Callable[..., T], requests: Sequence[tuple[Any, ...]], *,
                     workers: int | None = None, threads: int | None = 1,
                     desc: str = "training", progress: bool = True) -> list[T]:
    """``[job(*r) for r in requests]``, computed in ``workers`` processes at once.

    ``job`` must be importable by name (a module-level function), since the workers are spawned
    (not forked: the parent may hold torch's thread pools, a notebook kernel's among them).
    ``workers`` defaults to one per CPU core and is capped at ``len(requests)``; with one worker
    the jobs run here, in order, and no process starts. Each job runs with ``threads`` torch
    threads (the caller's count is restored afterwards). Results come back in request order;
    the first failure cancels the jobs not yet started and is raised. A bar counts finished jobs.
    """
    if workers is None:
        workers = os.cpu_count() or 1
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive integer or None; got {workers!r}")
    workers = min(workers, len(requests))
    results: list[Any] = [None] * len(requests)
    with progress_bar(total=len(requests), desc=desc, unit="job", disable=not progress) as bar:
        if workers <= 1:
            before = torch.get_num_threads()
            try:
                for i, args in enumerate(requests):
                    results[i] = _with_threads(job, tuple(args), threads)
                    bar.update()
            finally:
                torch.set_num_threads(before)
            return results
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            futures = {pool.submit(_with_threads, job, tuple(args), threads): i
                       for i, args in enumerate(requests)}
            try:
                for future in as_completed(futures):
                    results[futures[future]] = future.result()
                    bar.update()
            except BaseException:
                pool.shutdown(wait=False, cancel_futures=True)
                raise
    return results
