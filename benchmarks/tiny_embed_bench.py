"""Decoding in process vs in worker processes, for the synthetic zoo's tiny CLIPs on a CPU.

Usage::

    .venv/bin/python benchmarks/tiny_embed_bench.py [--rounds R] [--json PATH]

Embeds the synthetic evaluation set's figure scenes (``per_cell`` 5 and 20: 320 and 1,280 PNGs of
32 px, written once to the cache) with a tiny CLIP (``synthetic-vit-s``, seeded random weights)
through :func:`clipbias.embed.embed_images` three ways in one run, alternating, best of R rounds:
``num_workers=0`` (decode in process), ``num_workers=1`` (one decoding worker: the engine's CPU
default before tiny models were special-cased) and the engine's default
(:func:`clipbias.embed.engine.default_workers`). Prints seconds per call and the ratios, and
checks that the three give the same embeddings.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from clipbias.data.synthetic import WorldConfig, world_manifest
from clipbias.data.synthetic.evaluation import evaluation_set
from clipbias.embed import embed_images
from clipbias.zoo.random_init import random_init_id, random_init_model

WAYS = {"in process": 0, "one worker": 1, "default": None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    load_before = os.getloadavg()
    model = random_init_model(random_init_id("synthetic-vit-s", seed=0))
    figures: dict = {"device": f"CPU ({platform.processor() or platform.machine()}, "
                               f"{os.cpu_count()} cores, {torch.get_num_threads()} torch threads)",
                     "rounds": args.rounds, "sets": {}}
    for per_cell in (5, 20):
        manifest = world_manifest(evaluation_set(WorldConfig(), kind="figures",
                                                 per_cell=per_cell, seed=0))
        n = len(manifest.table)
        times: dict[str, list[float]] = {way: [] for way in WAYS}
        out: dict[str, np.ndarray] = {}
        for _ in range(args.rounds):
            for way, workers in WAYS.items():
                start = time.perf_counter()
                res = embed_images(model, manifest, num_workers=workers, progress=False)
                times[way].append(time.perf_counter() - start)
                out[way] = np.asarray(res.embeddings)
        for way in WAYS:
            np.testing.assert_allclose(out[way], out["in process"], rtol=0, atol=1e-6)
        best = {way: min(t) for way, t in times.items()}
        figures["sets"][str(n)] = {"best_s": best, "rounds_s": times,
                                   "one_worker_over_default": best["one worker"] / best["default"]}
        print(f"{n} images: " + ", ".join(f"{way} {s:.3f} s" for way, s in best.items())
              + f"; default is {best['one worker'] / best['default']:.2f}x faster than one worker")
    figures["load_avg_before"], figures["load_avg_after"] = load_before, os.getloadavg()
    print(f"{figures['device']}; load average {load_before[0]:.2f} -> {os.getloadavg()[0]:.2f}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
