"""Benchmark: the measured null of the synthetic world and the planted effect against it.

Run: ``.venv/bin/python benchmarks/synthetic_null.py [--n-concepts 12] [--synonyms 3]
[--null-seeds 8] [--sweep-seeds 4] [--levels 0 0.5] [--steps 200] [--arch synthetic-rn-s]
[--seed 0] [--out models.csv]``.

Trains ``null-seeds`` tiny CLIPs at planted association 0 (context correlation 0) and
``sweep-seeds`` at every other level, through :func:`clipbias.studies.synthetic_validation.
measure_sweep` (the chapter's own code), in a fresh temporary cache, and prints one JSON record:
per metric, category and order the null mean, SD and 95% prediction interval; per metric the
slope on the level with its t interval, the fitted effect at s = 0.5 and its SNR (effect / null
SD); seconds and the 1-minute load average before and after. ``--n-concepts 8 --synonyms 1`` is
the world before issue 10 (4 concepts per side, one word per name).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time


def main() -> None:
    """Measure the null and the sweep; print JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-concepts", type=int, default=12)
    parser.add_argument("--synonyms", type=int, default=3)
    parser.add_argument("--null-seeds", type=int, default=8)
    parser.add_argument("--sweep-seeds", type=int, default=4)
    parser.add_argument("--levels", type=float, nargs="+", default=[0.0, 0.5])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--arch", default="synthetic-rn-s")
    parser.add_argument("--world-size", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="also write the per-model table (CSV) here")
    parser.add_argument("--cache", default=None, help="cache folder (default: a fresh temporary one)")
    args = parser.parse_args()
    os.environ["CLIPBIAS_CACHE"] = args.cache or tempfile.mkdtemp(prefix="clipbias-null-bench-")
    os.environ.setdefault("CLIPBIAS_PROGRESS", "0")

    from clipbias.studies.synthetic_validation import (
        Params,
        measure_sweep,
        null_summary,
        slope_table,
    )

    params = Params(levels=tuple(args.levels), null_seeds=args.null_seeds,
                    sweep_seeds=args.sweep_seeds, train_steps=args.steps, arch=args.arch,
                    world_size=args.world_size, n_concepts=args.n_concepts,
                    synonyms=args.synonyms, seed=args.seed)
    record: dict = {"machine": platform.processor() or platform.machine(),
                    "cpus": os.cpu_count(), "params": params.to_dict(),
                    "load_before": os.getloadavg()[0]}
    t0 = time.perf_counter()
    models = measure_sweep(params, progress=False)
    record["seconds"] = time.perf_counter() - t0
    record["load_after"] = os.getloadavg()[0]
    if args.out:
        models.to_csv(args.out, index=False)
    null = null_summary(models)
    slopes = slope_table(models, null)
    keys = ["metric", "category", "order"]
    table = null.merge(slopes[[*keys, "slope", "ci_low", "ci_high", "effect", "snr"]], on=keys)
    record["figures"] = [{k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}
                         for row in table.to_dict("records")]
    print(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
