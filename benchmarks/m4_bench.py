"""Speed and memory of M4 (issue 14): the streamed dual solver against a generic QP solver.

Usage: ``.venv/bin/python benchmarks/m4_bench.py [--big 10000000] [--generic 100,200,400]
[--scaling 10000,100000,1000000] [--no-json]``

Data: a synthetic annotation table with ``m = 2`` groups and ``c = 50`` labels; half the rows
carry a person, 70/30 between the groups; each label has a base rate in [0.02, 0.2] and the first
25 labels are 1.6x more frequent for group 0 and 0.6x for group 1 (a planted association).
Problem: ``eps_representation = eps_association = 0.01``, keep rate 0.8 (fixed).

Phases: (1) the generic solver (scipy SLSQP on the linearised QP, the obvious off-the-shelf
route) and M4 on the same small tables, objectives compared; (2) M4 alone at growing sizes;
(3) M4 on the big table, wall time and peak resident memory (the inputs are bool arrays:
``n * (2 + 50)`` bytes). Figures go to ``benchmarks/results.json`` under the key ``m4``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import time
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

from clipbias.atomic import atomic_write_json
from clipbias.interventions.balance import m4

C = 50
EPS = 0.01
ETA = 0.8
RESULTS = Path(__file__).with_name("results.json")


def table(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Bool arrays s (n, 2) and y (n, C), generated in chunks (no float (n, C) temporary)."""
    rng = np.random.default_rng(seed)
    base = rng.random(C) * 0.18 + 0.02
    s = np.zeros((n, 2), dtype=bool)
    y = np.zeros((n, C), dtype=bool)
    for start in range(0, n, 1 << 18):
        stop = min(n, start + (1 << 18))
        has = rng.random(stop - start) < 0.5
        g0 = has & (rng.random(stop - start) < 0.7)
        s[start:stop, 0], s[start:stop, 1] = g0, has & ~g0
        rate = np.tile(base, (stop - start, 1))
        rate[:, : C // 2] *= np.where(g0, 1.6, np.where(has, 0.6, 1.0))[:, None]
        y[start:stop] = rng.random((stop - start, C)) < rate
    return s, y


def slsqp(s: np.ndarray, y: np.ndarray) -> tuple[float, bool, str]:
    """(objective, success, message) of the linearised QP solved by SLSQP (dense constraints)."""
    d = s.astype(float) - 0.5 * s.any(axis=1, keepdims=True)
    x = np.hstack([np.ones((len(s), 1)), y.astype(float)])
    b = np.einsum("ik,ij->ikj", d, x).reshape(len(s), -1)
    a_ub = np.vstack([(b - EPS).T, (-b - EPS).T])
    n = len(s)
    res = minimize(lambda q: np.mean((q - ETA) ** 2), np.full(n, ETA),
                   jac=lambda q: 2 * (q - ETA) / n, bounds=[(0, 1)] * n, method="SLSQP",
                   constraints=[{"type": "ineq", "fun": lambda q: -(a_ub @ q),
                                 "jac": lambda q: -a_ub},
                                {"type": "eq", "fun": lambda q: q.mean() - ETA,
                                 "jac": lambda q: np.full((1, n), 1 / n)}],
                   options={"maxiter": 2000, "ftol": 1e-14})
    return float(res.fun), bool(res.success), str(res.message)


def run_m4(s: np.ndarray, y: np.ndarray) -> tuple[float, float, object]:
    """(wall seconds, CPU seconds of this process, result); CPU time is what load disturbs least."""
    t0, c0 = time.perf_counter(), time.process_time()
    res = m4(s, y, eps_representation=EPS, eps_association=EPS, keep_rate=ETA)
    return time.perf_counter() - t0, time.process_time() - c0, res


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux: KiB


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--big", type=int, default=10_000_000)
    ap.add_argument("--generic", default="100,200,400")
    ap.add_argument("--scaling", default="10000,100000,1000000")
    ap.add_argument("--no-json", action="store_true")
    args = ap.parse_args()
    out: dict = {"machine": f"{platform.machine()}, {os.cpu_count()} cores",
                 "load_start": os.getloadavg(), "c": C, "m": 2, "eps": EPS, "keep_rate": ETA,
                 "generic": [], "scaling": []}
    for n in [int(v) for v in args.generic.split(",") if v]:
        s, y = table(n, seed=n)
        t0 = time.perf_counter()
        opt, ok, message = slsqp(s, y)
        t_generic = time.perf_counter() - t0
        t_m4, cpu_m4, res = run_m4(s, y)
        row = {"n": n, "slsqp_s": t_generic, "m4_s": t_m4, "m4_cpu_s": cpu_m4, "slsqp_objective": opt, "slsqp_success": ok,
               "slsqp_message": message,
               "m4_objective": res.objective, "m4_feasible": res.feasible}
        print(row, flush=True)
        out["generic"].append(row)
    for n in [int(v) for v in args.scaling.split(",") if v]:
        s, y = table(n, seed=n)
        t_m4, cpu_m4, res = run_m4(s, y)
        row = {"n": n, "m4_s": t_m4, "m4_cpu_s": cpu_m4, "iterations": res.iterations,
               "warm_start_iterations": res.warm_start_iterations, "feasible": res.feasible,
               "violation_before": res.violation_before, "violation_after": res.violation_after}
        print(row, flush=True)
        out["scaling"].append(row)
    if args.big:
        s, y = table(args.big, seed=1)
        rss_data = peak_rss_gib()
        load = os.getloadavg()
        t_m4, cpu_m4, res = run_m4(s, y)
        out["big"] = {"n": args.big, "m4_s": t_m4, "m4_cpu_s": cpu_m4, "iterations": res.iterations,
                      "warm_start_iterations": res.warm_start_iterations,
                      "feasible": res.feasible, "status": res.status,
                      "violation_before": res.violation_before,
                      "violation_after": res.violation_after, "keep_rate": res.keep_rate,
                      "peak_rss_gib": peak_rss_gib(), "peak_rss_after_data_gib": rss_data,
                      "input_gib": (s.nbytes + y.nbytes) / 2**30, "load_before": load,
                      "load_after": os.getloadavg()}
        print(out["big"], flush=True)
    out["load_end"] = os.getloadavg()
    if not args.no_json:
        results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
        results["m4"] = out
        atomic_write_json(RESULTS, results)


if __name__ == "__main__":
    main()
