"""Embedding speed: one image at a time vs a CLIP_benchmark-style loop vs ``clipbias.embed``.

Usage::

    .venv/bin/python benchmarks/embed_bench.py [--n-images N] [--device cpu|cuda] [--rounds R]

Makes its own JPEG set (smooth random content, 256x256, seeded) in a temporary folder, builds
ViT-B-32 with random weights (no download) and embeds the same files three ways in one run:

(a) one image at a time: open, preprocess, ``encode_image`` on a batch of one, fp32 (the shape of
    the zoo paper's reference code);
(b) a CLIP_benchmark-style loop: ``DataLoader(batch_size=64, num_workers=4)``, ``torch.no_grad``
    and, on CUDA, fp16 autocast;
(c) :func:`clipbias.embed.embed_images` with its defaults.

It prints images per second and CPU seconds per image (this process and its reaped worker
processes: a measure of work that concurrent load on a shared machine disturbs far less than wall
time) and the ratios of (c) to (a) and (b), then the pure-forward
throughput of the engine's settings on pre-decoded tensors, with the FLOPs per image counted by
``torch.utils.flop_counter`` and, on a GPU, the fraction of its dense bf16 peak.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import open_clip
import torch
from PIL import Image
from torch.utils.flop_counter import FlopCounterMode

from clipbias.embed import embed_images
from clipbias.embed.batching import auto_batch_size
from clipbias.embed.engine import compute_precision
from clipbias.loaded_model import LoadedModel

#: Dense (no sparsity) bf16 tensor-core peaks in TFLOP/s, from the vendors' data sheets.
BF16_PEAK_TFLOPS = {
    "H200": 989.0, "H100 SXM": 989.0, "H100 80GB HBM3": 989.0, "H100 PCIe": 756.0,
    "H100 NVL": 835.0, "A100": 312.0, "L40S": 362.0, "L4": 121.0, "A10": 125.0,
}


def make_jpegs(folder: Path, n: int, *, seed: int, side: int = 256) -> list[Path]:
    """Write ``n`` JPEGs of smooth random content (upsampled noise plus grain), side x side."""
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        coarse = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        img = np.asarray(Image.fromarray(coarse).resize((side, side), Image.BICUBIC), np.int16)
        grain = rng.integers(-12, 13, img.shape, dtype=np.int16)
        path = folder / f"{i:05d}.jpg"
        Image.fromarray(np.clip(img + grain, 0, 255).astype(np.uint8)).save(path, quality=90)
        paths.append(path)
    return paths


def sync(device: torch.device) -> None:
    """Wait for queued GPU work (no-op on CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def one_at_a_time(model, preprocess, paths, device) -> tuple[np.ndarray, float]:
    """(a): each image opened, preprocessed and encoded alone, fp32."""
    out = []
    start = time.perf_counter()
    with torch.no_grad():
        for path in paths:
            x = preprocess(Image.open(path).convert("RGB")).unsqueeze(0).to(device)
            f = model.encode_image(x)
            out.append(torch.nn.functional.normalize(f, dim=-1).cpu())
    sync(device)
    return torch.cat(out).float().numpy(), time.perf_counter() - start


class FileDataset(torch.utils.data.Dataset):
    """Paths -> preprocessed tensors, as CLIP_benchmark's image-folder datasets do."""

    def __init__(self, paths, preprocess):
        self.paths, self.preprocess = paths, preprocess

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        return self.preprocess(Image.open(self.paths[i]).convert("RGB"))


def clip_benchmark_loop(model, preprocess, paths, device) -> tuple[np.ndarray, float]:
    """(b): DataLoader batch 64, 4 workers, no_grad, fp16 autocast on CUDA."""
    start = time.perf_counter()
    loader = torch.utils.data.DataLoader(FileDataset(paths, preprocess), batch_size=64,
                                         num_workers=4)
    out = []
    amp = torch.autocast("cuda", dtype=torch.float16) if device.type == "cuda" else \
        torch.autocast("cpu", enabled=False)
    with torch.no_grad(), amp:
        for images in loader:
            f = model.encode_image(images.to(device))
            out.append(torch.nn.functional.normalize(f, dim=-1).float().cpu())
    sync(device)
    return torch.cat(out).numpy(), time.perf_counter() - start


def engine(loaded: LoadedModel, paths, device) -> tuple[np.ndarray, float]:
    """(c): clipbias.embed.embed_images with its defaults."""
    start = time.perf_counter()
    result = embed_images(loaded, paths, device=str(device), progress=False)
    sync(device)
    return result.embeddings, time.perf_counter() - start


def flops_per_image(model, side: int, device: torch.device) -> float:
    """Forward FLOPs of ``encode_image`` for one image (matmuls and convolutions, 2 per MAC).

    Counted with autograd on: under ``no_grad`` ``nn.MultiheadAttention`` takes a fused fast
    path that the counter does not see.
    """
    counter = FlopCounterMode(display=False)
    with counter:
        model.encode_image(torch.zeros(1, 3, side, side, device=device))
    return float(counter.get_total_flops())


def cpu_seconds() -> float:
    """User + system CPU time of this process and its reaped children (DataLoader workers)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def pure_forward(loaded: LoadedModel, pixels: torch.Tensor, device: torch.device,
                 repeats: int) -> float:
    """Images per second of the engine's forward settings on pre-decoded tensors."""
    model = loaded.model
    size = auto_batch_size("image", device, image_side=pixels.shape[-1], n_items=len(pixels))
    amp = (torch.autocast("cuda", dtype=torch.bfloat16 if torch.cuda.is_bf16_supported()
                          else torch.float16)
           if device.type == "cuda" else torch.autocast("cpu", enabled=False))
    x = pixels.to(device)
    if device.type == "cuda":
        model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    with torch.inference_mode(), amp:
        model.encode_image(x[:size])  # warm-up
        sync(device)
        start = time.perf_counter()
        for _ in range(repeats):
            for i in range(0, len(x), size):
                model.encode_image(x[i:i + size])
        sync(device)
    return repeats * len(x) / (time.perf_counter() - start)


def gpu_peak(name: str) -> tuple[str, float] | None:
    """The data-sheet bf16 peak whose key best matches the device name, if known."""
    matches = [k for k in BF16_PEAK_TFLOPS if all(w in name for w in k.split())]
    if not matches:
        return None
    key = max(matches, key=len)
    return key, BF16_PEAK_TFLOPS[key]


def timed(fn, *args) -> tuple[np.ndarray, float, float]:
    """Run ``fn(*args)`` -> (embeddings, wall seconds); also return the CPU seconds it used."""
    c0 = cpu_seconds()
    emb, wall = fn(*args)
    return emb, wall, cpu_seconds() - c0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-images", type=int, default=None,
                        help="JPEGs to embed (default 256 on CPU, 4096 on GPU)")
    parser.add_argument("--n-single", type=int, default=None,
                        help="images for (a), whose rate is flat in n (default all)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="alternate (b) and (c) this many times; the best round counts")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--forward-repeats", type=int, default=None,
                        help="passes over the pre-decoded set (default 1 on CPU, 10 on GPU)")
    parser.add_argument("--peak-tflops", type=float, default=None,
                        help="override the GPU's dense bf16 peak (TFLOP/s)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    device = torch.device(args.device)
    n = args.n_images or (4096 if device.type == "cuda" else 256)
    n_single = min(n, args.n_single or n)
    torch.manual_seed(args.seed)
    load_before = os.getloadavg()

    model, _, preprocess = open_clip.create_model_and_transforms("ViT-B-32", pretrained=None)
    model = model.to(device).eval()
    tokenizer = open_clip.get_tokenizer("ViT-B-32")
    loaded = LoadedModel(model, preprocess, tokenizer, "ViT-B-32/random", "random-init",
                         "fp32", str(device))
    size = model.visual.image_size
    side = size[0] if isinstance(size, tuple) else size

    with tempfile.TemporaryDirectory(prefix="embed-bench-") as tmp:
        paths = make_jpegs(Path(tmp), n, seed=args.seed)
        one_at_a_time(model, preprocess, paths[:2], device)  # warm-up (allocations, kernels)
        emb_a, t_a, cpu_a = timed(one_at_a_time, model, preprocess, paths[:n_single], device)
        rounds_b, rounds_c = [], []
        for _ in range(args.rounds):
            emb_b, t_b, cpu_b = timed(clip_benchmark_loop, model, preprocess, paths, device)
            emb_c, t_c, cpu_c = timed(engine, loaded, paths, device)
            rounds_b.append((t_b, cpu_b))
            rounds_c.append((t_c, cpu_c))
        pixels = torch.stack([preprocess(Image.open(p).convert("RGB")) for p in paths])

    t_b, cpu_b = min(rounds_b)
    t_c, cpu_c = min(rounds_c)
    rate = {"a": n_single / t_a, "b": n / t_b, "c": n / t_c}
    cpu = {"a": cpu_a / n_single, "b": cpu_b / n, "c": cpu_c / n}
    cos_ac = float(np.min(np.sum(emb_a * emb_c[:n_single], axis=1)))
    cos_bc = float(np.min(np.sum(emb_b * emb_c, axis=1)))
    repeats = args.forward_repeats or (10 if device.type == "cuda" else 1)
    fwd = pure_forward(loaded, pixels, device, repeats)
    flops = flops_per_image(model, side, device)
    figures = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda"
        else f"CPU ({platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
             f"{torch.get_num_threads()} torch threads)",
        "n_images": n, "n_single": n_single, "rounds": args.rounds,
        "engine_precision": compute_precision(loaded, device),
        "img_s": rate, "cpu_s_per_image": cpu,
        "c_over_a": rate["c"] / rate["a"], "c_over_b": rate["c"] / rate["b"],
        "cpu_a_over_c": cpu["a"] / cpu["c"], "cpu_b_over_c": cpu["b"] / cpu["c"],
        "rounds_wall_s": {"b": [r[0] for r in rounds_b], "c": [r[0] for r in rounds_c]},
        "min_cosine_a_c": cos_ac, "min_cosine_b_c": cos_bc,
        "pure_forward_img_s": fwd, "gflops_per_image": flops / 1e9,
        "achieved_tflops": fwd * flops / 1e12,
        "load_avg_before": load_before, "load_avg_after": os.getloadavg(),
        "torch": torch.__version__, "open_clip": open_clip.__version__,
    }
    if device.type == "cuda":
        peak = (("--peak-tflops", args.peak_tflops) if args.peak_tflops
                else gpu_peak(figures["device"]))
        if peak is not None:
            figures["bf16_peak_tflops"] = {"source": peak[0], "value": peak[1]}
            figures["fraction_of_bf16_peak"] = figures["achieved_tflops"] / peak[1]

    print(f"device: {figures['device']}; {n} JPEGs 256x256 ((a) on {n_single}); "
          f"ViT-B-32 random init; best of {args.rounds} round(s) for (b), (c)")
    print(f"(a) one at a time        {rate['a']:9.1f} img/s   {cpu['a']:.3f} CPU-s/img")
    print(f"(b) CLIP_benchmark loop  {rate['b']:9.1f} img/s   {cpu['b']:.3f} CPU-s/img")
    print(f"(c) clipbias.embed       {rate['c']:9.1f} img/s   {cpu['c']:.3f} CPU-s/img")
    print(f"(c) vs (a): {figures['c_over_a']:.2f}x images/s, {figures['cpu_a_over_c']:.2f}x "
          f"less CPU; (c) vs (b): {figures['c_over_b']:.2f}x images/s, "
          f"{figures['cpu_b_over_c']:.2f}x less CPU")
    print(f"min cosine (a,c) {cos_ac:.5f}, (b,c) {cos_bc:.5f}")
    print(f"pure forward on pre-decoded tensors: {fwd:.1f} img/s, "
          f"{flops / 1e9:.2f} GFLOP/image, {figures['achieved_tflops']:.3f} TFLOP/s"
          + (f" = {figures['fraction_of_bf16_peak']:.1%} of {figures['bf16_peak_tflops']}"
             if "fraction_of_bf16_peak" in figures else ""))
    print(f"load average before/after: {load_before} / {figures['load_avg_after']}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
