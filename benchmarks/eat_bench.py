"""Speed and memory of the batched EAT kernels (issue 3), on synthetic embeddings.

Usage: ``.venv/bin/python benchmarks/eat_bench.py [--quick] [--device cuda] [--threads N]
[--json out.json]``

One run, one data set (random unit-free embeddings with a planted association, dim 512), the
26-test battery of the zoo study with the set sizes of the real stimuli:

- image targets (iEAT): Insect-Flower 35+35, Instrument-Weapon 35+35 (the newly curated images
  are not public; 35 assumed), Race 6+6, Gender 40+40, Age 6+6, each against OASIS images
  (25+25) and NRC-VAD sentences (150+150): 10 tests;
- text targets (SEAT sentences): WEAT1 350+350, WEAT2 330+330, WEAT3 256+256, WEAT4 128+128,
  WEAT3B 195+195, WEAT10 64+64, WEAT11 64+64, WEAT11B 80+80, each against OASIS images and NRC
  sentences: 16 tests.

Phases: (1) the batched kernel against a per-permutation Python loop in the style of the
reference iEAT code (scores memoised, one partition per iteration; exact enumeration with
itertools where C(n, |X|) <= 10**6) at 10**5 permutations, and identical exact p-values where
both enumerate; (2) the whole battery at 10**6 permutations (exact where C <= 10**6), then the
bootstrap intervals; (3) peak resident memory after each phase.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import platform
import resource
import time

import numpy as np
import torch

from clipbias.metrics.eat_battery import EATRecord, run_eat_battery

IMAGE_TARGETS = {"Insect-Flower": 35, "Instrument-Weapon": 35, "Race": 6, "Gender": 40,
                 "Age": 6}
TEXT_TARGETS = {"WEAT1": 350, "WEAT2": 330, "WEAT3": 256, "WEAT4": 128, "WEAT3B": 195,
                "WEAT10": 64, "WEAT11": 64, "WEAT11B": 80}
ATTRIBUTES = {"image": 25, "text": 150}
DIM = 512


def battery_records(n_models: int, seed: int) -> list[EATRecord]:
    """26 records per model, float32 embeddings with a planted X-A association."""
    gen = torch.Generator().manual_seed(seed)
    records = []
    for model in range(n_models):
        def draw(n: int, direction: torch.Tensor | None = None, strength: float = 0.0
                 ) -> torch.Tensor:
            base = torch.randn(n, DIM, generator=gen)
            return base if direction is None else base + strength * direction
        valence = torch.randn(DIM, generator=gen) * 2
        attrs = {mod: (draw(n, valence, 1.0), draw(n, valence, -1.0))
                 for mod, n in ATTRIBUTES.items()}
        for kind, targets in (("image", IMAGE_TARGETS), ("text", TEXT_TARGETS)):
            for test, size in targets.items():
                strength = 0.2 * float(torch.rand(1, generator=gen))
                x, y = draw(size, valence, strength), draw(size, valence, -strength)
                for mod, (a, b) in attrs.items():
                    records.append(EATRecord(f"{test}/{kind}-{mod}", f"model{model:03d}",
                                             x, y, a, b))
    return records


def loop_reference(record: EATRecord, n_permutations: int, exact_threshold: int, seed: int,
                   *, style: str) -> tuple[float, bool]:
    """One partition per Python iteration, association scores memoised.

    ``style="reference"``: a dict of memoised scores summed in Python, as the reference iEAT
    code does; ``style="numpy"``: a stronger baseline summing a numpy fancy index per iteration.
    Exact enumeration with itertools where C(n, |X|) <= ``exact_threshold``.
    """
    def unit(v: torch.Tensor) -> np.ndarray:
        arr = v.double().numpy()
        return arr / np.linalg.norm(arr, axis=1, keepdims=True)
    x, y, a, b = (unit(v) for v in (record.x, record.y, record.a, record.b))
    targets = np.vstack([x, y])
    scores = (targets @ a.T).mean(1) - (targets @ b.T).mean(1)
    memo = dict(enumerate(scores.tolist()))
    n, k = len(targets), len(x)
    if style == "reference":
        def side_sum(items: np.ndarray | tuple[int, ...]) -> float:
            return sum([memo[i] for i in items])
    else:
        def side_sum(items: np.ndarray | tuple[int, ...]) -> float:
            return scores[list(items)].sum()
    observed = side_sum(tuple(range(k)))
    if math.comb(n, k) <= exact_threshold:
        hits = total = 0
        for combo in itertools.combinations(range(n), k):
            hits += side_sum(combo) >= observed - 1e-12
            total += 1
        return hits / total, True
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(n_permutations):
        perm = rng.permutation(n)
        hits += side_sum(perm[:k].tolist() if style == "reference" else perm[:k]) >= observed
    return (1 + hits) / (1 + n_permutations), False


def peak_rss_gib() -> float:
    """Peak resident set size of this process so far (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="8 models, 10**5 / 10**4 perms")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--models", type=int, default=None, help="models (default 131, quick 8)")
    parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap replicates")
    parser.add_argument("--json", default=None, help="write the figures to this file")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    n_models = args.models or (8 if args.quick else 131)
    n_full = 10**5 if args.quick else 10**6
    n_ratio = 10**4 if args.quick else 10**5
    figures: dict[str, object] = {
        "machine": f"{platform.machine()} {os.cpu_count()} cores, torch {torch.__version__}, "
                   f"{torch.get_num_threads()} threads",
        "load_average_at_start": os.getloadavg(), "device": args.device, "models": n_models,
    }
    records = battery_records(n_models, seed=0)
    figures["records"] = len(records)
    figures["rss_after_data_gib"] = round(peak_rss_gib(), 3)
    print(f"{len(records)} records ({n_models} models x 26 tests), dim {DIM}")

    # (1) batched kernel vs per-permutation loop, same data, same partition counts
    start = time.perf_counter()
    fast = run_eat_battery(records, device=args.device, n_permutations=n_ratio, n_bootstrap=0,
                           seed=1)
    kernel_s = time.perf_counter() - start
    one_model = [r for r in records if r.model == records[0].model]
    for style in ("reference", "numpy"):
        start = time.perf_counter()
        slow = [loop_reference(r, n_ratio, 10**6, seed=1, style=style) for r in one_model]
        loop_one_s = time.perf_counter() - start
        exact_rows = [i for i, (_, exact) in enumerate(slow) if exact]
        exact_same = all(slow[i][0] == fast.p.iloc[i] for i in exact_rows)
        figures[f"loop_{style}"] = {
            "one_model_s": round(loop_one_s, 2),
            "battery_s_extrapolated": round(loop_one_s * n_models, 1),
            "speedup_battery": round(loop_one_s * n_models / kernel_s, 1),
            "exact_p_identical": f"{exact_same} ({len(exact_rows)} exact records compared)",
            "sampled_p_max_abs_diff": float(max(abs(slow[i][0] - fast.p.iloc[i])
                                                for i in range(len(slow)) if not slow[i][1])),
        }
    figures.update({"ratio_permutations": n_ratio, "kernel_battery_s": round(kernel_s, 2),
                    "rss_after_phase1_gib": round(peak_rss_gib(), 3)})
    print(json.dumps({k: figures[k] for k in list(figures)[-5:]}, indent=1))

    # (2) the whole battery at 10**6 permutations (exact where C <= 10**6), then bootstrap
    start = time.perf_counter()
    table = run_eat_battery(records, device=args.device, n_permutations=n_full, n_bootstrap=0,
                            seed=2)
    perm_s = time.perf_counter() - start
    figures.update({"battery_permutations": n_full, "battery_permutation_s": round(perm_s, 1),
                    "battery_exact_records": int(table.exact.sum()),
                    "rss_after_phase2_gib": round(peak_rss_gib(), 3)})
    if args.bootstrap:
        start = time.perf_counter()
        run_eat_battery(records, device=args.device, n_permutations=1, exact_threshold=0,
                        n_bootstrap=args.bootstrap, seed=2)
        figures["battery_bootstrap_s"] = round(time.perf_counter() - start, 1)
        figures["bootstrap_replicates"] = args.bootstrap
    figures["rss_peak_gib"] = round(peak_rss_gib(), 3)
    if args.device.startswith("cuda"):
        figures["cuda_peak_allocated_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 3)
    figures["load_average_at_end"] = os.getloadavg()
    print(json.dumps(figures, indent=1))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(figures, handle, indent=1)


if __name__ == "__main__":
    main()
