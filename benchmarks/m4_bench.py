"""Speed and memory of M4 (issue 14): the streamed dual solver against a generic QP solver.

Usage: ``.venv/bin/python benchmarks/m4_bench.py [--big 10000000] [--generic 200,400]
[--scaling 10000,100000,1000000] [--baseline af1f04d] [--baseline-big] [--no-json]``

Data: a synthetic annotation table with ``m = 2`` groups and ``c = 50`` labels; half the rows
carry a person, 70/30 between the groups; each label has a base rate in [0.02, 0.2] and the first
25 labels are 1.6x more frequent for group 0 and 0.6x for group 1 (a planted association).
Problem: ``eps_representation = eps_association = 0.01``, keep rate 0.8 (fixed).

Phases: (1) the generic solver (scipy SLSQP on the linearised QP, the obvious off-the-shelf
route) and M4 on the same small tables, objectives compared; (2) M4 at growing sizes, this
checkout's and the baseline's (the library at git revision ``--baseline``, unpacked with
``git archive``), each run in a fresh worker process so that its peak resident memory is its
own; (3) M4 on the big table (the baseline too with ``--baseline-big``). A worker records wall
and CPU seconds of the ``m4`` call, peak resident memory after generating the table and after
M4 (the inputs are bool arrays: ``n * (2 + 50)`` bytes), and the streamed passes over the full
table and over subsamples (counted and timed by wrapping the solver's ``_pass`` and
``_before``, which both versions have). Figures go to ``benchmarks/results.json`` under the
key ``m4``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

C = 50
EPS = 0.01
ETA = 0.8
HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results.json"
LIB = HERE.parent / "lib"


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


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux: KiB


def worker(n: int, seed: int) -> dict:
    """Run M4 (whichever ``clipbias`` is on the path) on ``table(n, seed)``; return its figures."""
    from clipbias.interventions.balance import m4, solver

    s, y = table(n, seed=seed)
    rss_data = peak_rss_gib()
    passes = {"full": [0, 0.0], "subsample": [0, 0.0]}

    def timed(fn, rows_of):
        def wrapped(*args, **kwargs):
            t0 = time.perf_counter()
            out = fn(*args, **kwargs)
            key = "full" if rows_of(args) == n else "subsample"
            passes[key][0] += 1
            passes[key][1] += time.perf_counter() - t0
            return out
        return wrapped

    solver._pass = timed(solver._pass, lambda a: a[0].n)
    solver._before = timed(solver._before, lambda a: a[0].n)
    load = os.getloadavg()
    t0, c0 = time.perf_counter(), time.process_time()
    res = m4(s, y, eps_representation=EPS, eps_association=EPS, keep_rate=ETA, progress=False)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"n": n, "m4_s": wall, "m4_cpu_s": cpu, "iterations": res.iterations,
            "warm_start_iterations": res.warm_start_iterations, "feasible": res.feasible,
            "status": res.status, "objective": res.objective,
            "violation_before": res.violation_before, "violation_after": res.violation_after,
            "keep_rate": res.keep_rate, "full_passes": passes["full"][0],
            "full_pass_s": passes["full"][1] / max(passes["full"][0], 1),
            "subsample_passes": passes["subsample"][0],
            "subsample_pass_total_s": passes["subsample"][1],
            "peak_rss_gib": peak_rss_gib(), "peak_rss_after_data_gib": rss_data,
            "input_gib": (s.nbytes + y.nbytes) / 2**30, "load_before": load,
            "load_after": os.getloadavg(), "library": str(Path(solver.__file__).parents[3])}


def run_worker(n: int, seed: int, lib: Path) -> dict:
    """:func:`worker` in a fresh process with ``lib`` first on the import path."""
    env = dict(os.environ, PYTHONPATH=str(lib), CLIPBIAS_PROGRESS="0")
    out = subprocess.run([sys.executable, __file__, "--worker", str(n), str(seed)], env=env,
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def unpack_baseline(rev: str, into: Path) -> Path:
    """The ``lib`` folder of git revision ``rev`` of this repository, unpacked under ``into``."""
    blob = subprocess.run(["git", "-C", str(HERE.parent), "archive", rev, "lib"], check=True,
                          capture_output=True).stdout
    with tarfile.open(fileobj=BytesIO(blob)) as tar:
        tar.extractall(into, filter="data")
    return into / "lib"


def compare(n: int, seed: int, baseline: Path | None) -> dict:
    new = run_worker(n, seed, LIB)
    row = {"n": n, **new}
    print({k: new[k] for k in ("n", "m4_s", "full_passes", "full_pass_s", "feasible")},
          flush=True)
    if baseline is not None:
        old = run_worker(n, seed, baseline)
        row["baseline"] = old
        row["speedup"] = old["m4_s"] / new["m4_s"]
        print("  baseline", {k: old[k] for k in ("m4_s", "full_passes", "full_pass_s",
                                                 "feasible")}, flush=True)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--big", type=int, default=10_000_000)
    ap.add_argument("--generic", default="200,400")
    ap.add_argument("--scaling", default="10000,100000,1000000")
    ap.add_argument("--baseline", default="af1f04d",
                    help="git revision of the library to compare with ('' for none)")
    ap.add_argument("--baseline-big", action="store_true",
                    help="also run the baseline on the big table")
    ap.add_argument("--no-json", action="store_true")
    ap.add_argument("--worker", nargs=2, type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(*args.worker)))
        return
    sys.path.insert(0, str(LIB))
    from clipbias.atomic import atomic_write_json
    from clipbias.interventions.balance import m4

    out: dict = {"machine": f"{platform.machine()}, {os.cpu_count()} cores",
                 "numpy": np.__version__, "command": " ".join(sys.argv[1:]),
                 "baseline_revision": args.baseline or None,
                 "load_start": os.getloadavg(), "c": C, "m": 2, "eps": EPS, "keep_rate": ETA,
                 "generic": [], "scaling": []}
    for n in [int(v) for v in args.generic.split(",") if v]:
        s, y = table(n, seed=n)
        t0 = time.perf_counter()
        opt, ok, message = slsqp(s, y)
        t_generic = time.perf_counter() - t0
        t0 = time.perf_counter()
        res = m4(s, y, eps_representation=EPS, eps_association=EPS, keep_rate=ETA,
                 progress=False)
        row = {"n": n, "slsqp_s": t_generic, "m4_s": time.perf_counter() - t0,
               "slsqp_objective": opt, "slsqp_success": ok, "slsqp_message": message,
               "m4_objective": res.objective, "m4_feasible": res.feasible,
               "m4_status": res.status}
        print(row, flush=True)
        out["generic"].append(row)
    with tempfile.TemporaryDirectory() as tmp:
        baseline = unpack_baseline(args.baseline, Path(tmp)) if args.baseline else None
        for n in [int(v) for v in args.scaling.split(",") if v]:
            out["scaling"].append(compare(n, n, baseline))
        if args.big:
            out["big"] = compare(args.big, 1, baseline if args.baseline_big else None)
    out["load_end"] = os.getloadavg()
    if not args.no_json:
        results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
        results["m4"] = out
        atomic_write_json(RESULTS, results)


if __name__ == "__main__":
    main()
