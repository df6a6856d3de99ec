"""``run_in_processes``: results in request order, failures raised, threads restored."""

from __future__ import annotations

import math

import pytest
import torch

from clipbias.interventions.train import run_in_processes


@pytest.mark.parametrize("workers", [1, 2])
def test_results_come_back_in_request_order(workers):
    requests = [(float(v * v),) for v in range(7, 0, -1)]
    assert run_in_processes(math.sqrt, requests, workers=workers, progress=False) == [
        7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0]


@pytest.mark.parametrize("workers", [1, 2])
def test_the_first_failure_is_raised(workers):
    with pytest.raises(ValueError, match="math domain"):
        run_in_processes(math.sqrt, [(4.0,), (-1.0,), (9.0,)], workers=workers, progress=False)


def test_threads_are_restored_and_nothing_runs_without_requests():
    before = torch.get_num_threads()
    assert run_in_processes(math.sqrt, [], progress=False) == []
    assert run_in_processes(math.sqrt, [(1.0,)], workers=1, threads=1, progress=False) == [1.0]
    assert torch.get_num_threads() == before


@pytest.mark.parametrize("workers", [0, -1, 1.5, True])
def test_bad_worker_counts_are_refused(workers):
    with pytest.raises(ValueError, match="workers"):
        run_in_processes(math.sqrt, [(1.0,)], workers=workers, progress=False)
