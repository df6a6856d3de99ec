"""Shared helpers of the embedding tests: a tiny random open_clip model and test images.

The loader builds a 3.4M-parameter CLIP (32-pixel images, patch 8, width 64, 2 layers; text
context 16 with the real BPE tokenizer) seeded from the model id, so two loads of one id give the
same weights. :class:`CountingCLIP` counts the items its towers see (to count forward passes) and,
when ``CLIPBIAS_TEST_KILL_AFTER`` is set, SIGKILLs its own process at that forward call.
"""

from __future__ import annotations

import hashlib
import os
import signal
from pathlib import Path

import numpy as np
import open_clip
import pandas as pd
import torch
from PIL import Image

from clipbias.data.manifest import Manifest, make_manifest
from clipbias.loaded_model import LoadedModel

KILL_ENV = "CLIPBIAS_TEST_KILL_AFTER"


class CountingCLIP(open_clip.CLIP):
    """An open_clip CLIP that counts forward calls and items (class-wide, per process)."""

    calls = 0
    image_items = 0
    text_items = 0

    @classmethod
    def reset(cls) -> None:
        cls.calls = cls.image_items = cls.text_items = 0

    def _tick(self) -> None:
        type(self).calls += 1
        kill_after = os.environ.get(KILL_ENV)
        if kill_after is not None and type(self).calls > int(kill_after):
            os.kill(os.getpid(), signal.SIGKILL)

    def encode_image(self, image: torch.Tensor, normalize: bool = False) -> torch.Tensor:
        self._tick()
        type(self).image_items += len(image)
        return super().encode_image(image, normalize=normalize)

    def encode_text(self, text: torch.Tensor, normalize: bool = False) -> torch.Tensor:
        self._tick()
        type(self).text_items += len(text)
        return super().encode_text(text, normalize=normalize)


def tiny_loader(model_id: str, *, device: str = "cpu", precision: str = "fp32") -> LoadedModel:
    """A tiny random CLIP seeded by ``model_id`` (same id, same weights)."""
    seed = int.from_bytes(hashlib.sha256(model_id.encode()).digest()[:4], "little")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = CountingCLIP(
            embed_dim=32,
            vision_cfg=open_clip.CLIPVisionCfg(layers=2, width=64, patch_size=8, image_size=32),
            text_cfg=open_clip.CLIPTextCfg(context_length=16, vocab_size=49408, width=64,
                                           heads=4, layers=2))
    model = model.to(device).eval()
    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().numpy().tobytes())
    return LoadedModel(model, open_clip.image_transform(32, is_train=False),
                       open_clip.get_tokenizer("ViT-B-32", context_length=16), model_id,
                       h.hexdigest(), precision, device)


def write_images(folder: Path, n: int, *, seed: int, size: int = 40) -> list[Path]:
    """Write ``n`` random-content JPEGs (``size`` pixels square) and return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        path = folder / f"img{i:03d}.jpg"
        Image.fromarray(pixels).save(path, quality=90)
        paths.append(path)
    return paths


def corrupt(paths: list[Path], folder: Path) -> dict[int, str]:
    """Break three of ``paths`` in place: a truncated JPEG, a text file named .png, a missing
    file. Returns position -> kind of damage."""
    paths[1].write_bytes(paths[1].read_bytes()[:300])
    fake = folder / "not_an_image.png"
    fake.write_text("this is text, not a PNG")
    paths[4] = fake
    paths[6] = folder / "does_not_exist.jpg"
    return {1: "truncated", 4: "text as png", 6: "missing"}


def image_manifest(paths: list[Path], *, name: str = "images") -> Manifest:
    """A manifest over ``paths`` with ids ``item0``, ``item1``, ..."""
    table = pd.DataFrame({"item_id": [f"item{i}" for i in range(len(paths))], "split": "all",
                          "image_path": [str(p) for p in paths]})
    return make_manifest(table, name=name)


def test_tiny_loader_is_deterministic_per_id() -> None:
    a, b, c = tiny_loader("tiny/a"), tiny_loader("tiny/a"), tiny_loader("tiny/b")
    assert a.weights_digest == b.weights_digest != c.weights_digest
    tokens = a.tokenizer(["a photo"])
    assert tokens.shape == (1, 16)
    assert torch.equal(a.model.encode_text(tokens), b.model.encode_text(tokens))
