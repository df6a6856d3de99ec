"""The embedding engine: order, masking of bad images, templates, batch-size halving on OOM."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from clipbias.embed import embed_images, embed_texts
from clipbias.embed.batching import AdaptiveBatcher, auto_batch_size, is_out_of_memory
from clipbias.embed.engine import TINY_INPUT_SIDE, default_workers, iter_image_embeddings
from clipbias.embed.inputs import image_source
from test_embed_fixtures import CountingCLIP, corrupt, image_manifest, tiny_loader, write_images


@pytest.fixture(scope="module")
def model():
    return tiny_loader("tiny/engine")


def _reference(model, path) -> np.ndarray:
    """One image through preprocess and encode_image by hand: the unbatched truth."""
    with Image.open(path) as img:
        x = model.preprocess(img.convert("RGB"))[None]
    with torch.no_grad():
        f = model.model.encode_image(x)[0].numpy()
    return f / np.linalg.norm(f)


@pytest.mark.parametrize("num_workers", [0, 2])
def test_corrupt_images_are_masked_without_shifting_rows(model, tmp_path, num_workers):
    paths = write_images(tmp_path, 9, seed=1)
    damage = corrupt(paths, tmp_path)
    manifest = image_manifest(paths)
    result = embed_images(model, manifest, batch_size=4, num_workers=num_workers,
                          progress=False)

    assert result.embeddings.shape == (9, 32) and result.embeddings.dtype == np.float32
    bad = sorted(damage)
    assert result.valid.tolist() == [i not in damage for i in range(9)]
    assert np.isnan(result.embeddings[bad]).all() and np.isnan(result.norms[bad]).all()
    assert result.errors.index.tolist() == [f"item{i}" for i in bad]
    assert result.errors["position"].tolist() == bad
    reasons = result.errors["reason"].tolist()
    assert "Truncated" in reasons[0] or "truncated" in reasons[0]
    assert reasons[1].startswith("UnidentifiedImageError")
    assert reasons[2].startswith("FileNotFoundError")
    for i in range(9):  # every good row is its own image's embedding: no shift
        if i not in damage:
            np.testing.assert_allclose(result.embeddings[i], _reference(model, paths[i]),
                                       atol=1e-5)
    good = result.valid
    np.testing.assert_allclose(np.linalg.norm(result.embeddings[good], axis=1), 1, atol=1e-5)
    assert (result.norms[good] > 0).all()
    assert result.item_ids == [f"item{i}" for i in range(9)]


def test_paths_and_pil_images_give_the_same_rows(model, tmp_path):
    paths = write_images(tmp_path, 5, seed=2)
    by_path = embed_images(model, [str(p) for p in paths], batch_size=2, num_workers=0,
                           progress=False)
    pil = [Image.open(p).convert("RGB") for p in paths[::-1]]
    by_pil = embed_images(model, pil, batch_size=3, num_workers=0, progress=False)
    np.testing.assert_allclose(by_pil.embeddings[::-1], by_path.embeddings, atol=1e-5)
    assert by_path.item_ids == [str(p) for p in paths]
    assert by_pil.item_ids[0] == "image-0" and by_pil.errors.empty


def test_all_images_bad_gives_nan_rows_of_full_width(model, tmp_path):
    result = embed_images(model, [tmp_path / "a.jpg", tmp_path / "b.jpg"], num_workers=0,
                          progress=False)
    assert result.embeddings.shape == (2, 32)
    assert not result.valid.any() and len(result.errors) == 2


def test_streamed_batches_come_in_position_order(model, tmp_path):
    paths = write_images(tmp_path, 6, seed=4)
    paths[2] = paths[3] = tmp_path / "gone.jpg"  # the second batch fails entirely
    batches = list(iter_image_embeddings(model, image_source(paths), np.arange(6),
                                         batch_size=2, num_workers=0, progress=False))
    assert [b.positions.tolist() for b in batches] == [[0, 1], [2, 3], [4, 5]]
    assert batches[1].embeddings.shape == (2, 32) and not batches[1].valid.any()
    assert batches[2].valid.all()


def test_texts_in_order_and_template_average(model):
    texts = ["a cat", "a dog", "a bird"]
    plain = embed_texts(model, texts, batch_size=2, progress=False)
    with torch.no_grad():
        raw = model.model.encode_text(model.tokenizer(texts)).numpy()
    np.testing.assert_allclose(plain.norms, np.linalg.norm(raw, axis=1), rtol=1e-5)
    np.testing.assert_allclose(plain.embeddings, raw / plain.norms[:, None], atol=1e-5)

    templates = ["a photo of a {}.", "{} in the wild"]
    avg = embed_texts(model, ["cat", "dog"], templates=templates, batch_size=3, progress=False)
    assert avg.embeddings.shape == (2, 32)
    for i, name in enumerate(["cat", "dog"]):
        each = embed_texts(model, [t.replace("{}", name) for t in templates],
                           progress=False).embeddings
        mean = each.mean(axis=0)
        np.testing.assert_allclose(avg.norms[i], np.linalg.norm(mean), rtol=1e-5)
        np.testing.assert_allclose(avg.embeddings[i], mean / np.linalg.norm(mean), atol=1e-5)


@pytest.mark.parametrize("templates", [["no placeholder"], ["{} and {}"], []])
def test_bad_templates_are_rejected(model, templates):
    with pytest.raises(ValueError, match="template"):
        embed_texts(model, ["cat"], templates=templates, progress=False)


def test_non_string_texts_are_rejected(model):
    with pytest.raises(ValueError, match="strings"):
        embed_texts(model, ["cat", 3], progress=False)


def _fake_oom_forward(limit: int, calls: list[int]):
    def forward(x: torch.Tensor) -> torch.Tensor:
        calls.append(len(x))
        if len(x) > limit:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return x * 2
    return forward


def test_batcher_halves_on_oom_and_keeps_row_order():
    calls: list[int] = []
    batcher = AdaptiveBatcher(16)
    x = torch.arange(20.0)[:, None]
    out = batcher.run(_fake_oom_forward(5, calls), x)
    assert torch.equal(out, x * 2)
    assert batcher.size == 4 and batcher.halvings == 2
    assert calls[:3] == [16, 8, 4]  # two failed tries, then chunks of 4
    calls.clear()
    batcher.run(_fake_oom_forward(5, calls), x)  # the size that fitted is kept
    assert calls == [4] * 5


def test_batcher_reraises_at_size_one_and_other_errors():
    with pytest.raises(torch.OutOfMemoryError):
        AdaptiveBatcher(4).run(_fake_oom_forward(0, []), torch.ones(3, 1))
    with pytest.raises(RuntimeError, match="shape"):
        AdaptiveBatcher(4).run(lambda x: (_ for _ in ()).throw(RuntimeError("bad shape")),
                               torch.ones(3, 1))
    assert is_out_of_memory(RuntimeError("CUDA error: out of memory"))
    assert not is_out_of_memory(ValueError("out of memory"))


def test_engine_survives_oom_from_the_model(model, tmp_path, monkeypatch):
    paths = write_images(tmp_path, 8, seed=3)
    expected = embed_images(model, paths, batch_size=8, num_workers=0, progress=False)
    original = CountingCLIP.encode_image
    seen: list[int] = []

    def small_memory(self, image, normalize=False):
        seen.append(len(image))
        if len(image) > 2:
            raise torch.OutOfMemoryError("CUDA out of memory (fake)")
        return original(self, image, normalize=normalize)

    monkeypatch.setattr(CountingCLIP, "encode_image", small_memory)
    result = embed_images(model, paths, batch_size=8, num_workers=0, progress=False)
    np.testing.assert_allclose(result.embeddings, expected.embeddings, atol=1e-5)
    assert seen == [8, 4, 2, 2, 2, 2]


def test_auto_batch_size_rules():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert auto_batch_size("image", cpu) == 64
    assert auto_batch_size("image", cuda, image_side=224) == 256
    assert auto_batch_size("image", cuda, image_side=448) == 64
    assert auto_batch_size("text", cuda, n_items=10) == 10
    with pytest.raises(ValueError, match="kind"):
        auto_batch_size("audio", cpu)


def test_default_workers_decode_tiny_inputs_in_process_on_a_cpu(monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 8)
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert default_workers(cpu, 10, 64, image_side=224) == 0  # one batch
    assert default_workers(cpu, 1000, 64, image_side=224) == 4
    assert default_workers(cpu, 1000, 64) == 4  # side unknown: as a large model
    assert default_workers(cpu, 1000, 64, image_side=TINY_INPUT_SIDE) == 0
    assert default_workers(cpu, 1000, 64, image_side=32) == 0
    assert default_workers(cuda, 1000, 64, image_side=32) == 7
