"""Benchmark: generate the synthetic worlds and train the synthetic zoos, from scratch and cached.

Run: ``.venv/bin/python benchmarks/synthetic_bench.py [--zoo default|ci|both] [--threads N]
[--workers N]``.
Every zoo gets a fresh temporary cache (``CLIPBIAS_CACHE``), so "from scratch" means nothing is
cached (the ci zoo's models are a subset of the default zoo's); the second pass of each zoo reads the checkpoints the first wrote. Prints a JSON record
(seconds per phase, per-model training seconds, the 1-minute load average before and after).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time


def _load() -> float:
    return os.getloadavg()[0]


def main() -> None:
    """Time world generation and zoo training (scratch, then cached); print JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zoo", choices=["default", "ci", "both"], default="both")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per training process")
    parser.add_argument("--workers", type=int, default=None,
                        help="training processes (default: one per core)")
    args = parser.parse_args()
    os.environ["CLIPBIAS_CACHE"] = tempfile.mkdtemp(prefix="clipbias-synthetic-bench-")
    os.environ.setdefault("CLIPBIAS_PROGRESS", "0")

    from clipbias.data.synthetic import PRETRAINING_DATASETS, generate_world
    from clipbias.interventions.train import train_synthetic_zoo
    from clipbias.zoo.synthetic.checkpoints import read_metadata
    from clipbias.zoo.synthetic.zoos import zoo_entries

    record: dict = {"machine": platform.processor() or platform.machine(),
                    "cpus": os.cpu_count(), "threads": args.threads,
                    "workers": args.workers or os.cpu_count(),
                    "load_before": _load()}
    t0 = time.perf_counter()
    for d in PRETRAINING_DATASETS.values():
        generate_world(d.config, seed=0)
    record["generate_worlds_s"] = time.perf_counter() - t0
    generate_world.cache_clear()
    zoos = ["ci", "default"] if args.zoo == "both" else [args.zoo]
    for zoo in zoos:
        os.environ["CLIPBIAS_CACHE"] = tempfile.mkdtemp(prefix=f"clipbias-synthetic-bench-{zoo}-")
        t0 = time.perf_counter()
        train_synthetic_zoo(zoo, progress=False, threads=args.threads,
                            workers=args.workers)
        scratch = time.perf_counter() - t0
        generate_world.cache_clear()
        t0 = time.perf_counter()
        cat = train_synthetic_zoo(zoo, progress=False, threads=args.threads,
                                  workers=args.workers)
        cached = time.perf_counter() - t0
        metas = [read_metadata(e.key()) for e in zoo_entries(zoo)]
        record[zoo] = {"models": len(cat), "scratch_s": scratch, "cached_s": cached,
                       "min_zero_shot": float(cat["downstream_score"].min()),
                       "mean_zero_shot": float(cat["downstream_score"].mean()),
                       "train_s": {m["model_id"]: round(m["train_seconds"], 1) for m in metas},
                       "load_after": _load()}
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
