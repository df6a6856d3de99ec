"""The embedding store: checked atomic shards, recompute of bad shards, the cache CLI."""

from __future__ import annotations

import os
import time

import numpy as np
import pandas as pd
import pytest

import clipbias.embed.store as store_module
from clipbias.__main__ import main as clipbias_main
from clipbias.data.manifest import make_manifest
from clipbias.embed import EmbeddingStore, StoreKey, cached_embed_texts, embed_texts
from clipbias.embed.cached import image_key
from clipbias.embed.cli import parse_size
from clipbias.embed.result import EmbeddingBatch
from test_embed_fixtures import tiny_loader, write_images

N, D = 10, 6


def _key(**changes) -> StoreKey:
    fields = {"kind": "image", "model_id": "arch/tag", "weights_digest": "w" * 64,
              "preprocess": "Compose(Resize(32))", "precision": "fp32", "inputs_digest": "i" * 64}
    return StoreKey(**{**fields, **changes})


class FakeCompute:
    """Yields fake batches of 3 rows for the positions asked; records what was asked."""

    def __init__(self, fail_after_batches: int | None = None) -> None:
        self.asked: list[int] = []
        self.fail_after = fail_after_batches

    def __call__(self, positions: np.ndarray):
        self.asked += positions.tolist()
        for k, start in enumerate(range(0, len(positions), 3)):
            if self.fail_after is not None and k == self.fail_after:
                raise RuntimeError("interrupted on purpose")
            pos = positions[start:start + 3]
            raw = np.stack([np.full(D, p + 1.0, np.float32) for p in pos])
            valid = pos != 7  # item 7 "failed to decode"
            emb = np.where(valid[:, None], raw / np.linalg.norm(raw, axis=1, keepdims=True),
                           np.nan).astype(np.float32)
            norms = np.where(valid, np.linalg.norm(raw, axis=1), np.nan).astype(np.float32)
            yield EmbeddingBatch(pos, emb, norms, valid,
                                 {7: "OSError: broken"} if 7 in pos else {})


IDS = [f"id{i}" for i in range(N)]


def _shards(store: EmbeddingStore, key: StoreKey) -> list[str]:
    return sorted(p.name for p in store.entry_dir(key).glob("shard-*"))


def test_round_trip_and_second_call_computes_nothing(tmp_path):
    store = EmbeddingStore(tmp_path, shard_size=4)
    first = store.get_or_compute(_key(), IDS, FakeCompute())
    assert first.meta["computed_shards"] == 3 and _shards(store, _key()) == [
        "shard-000000.safetensors", "shard-000001.safetensors", "shard-000002.safetensors"]
    again = FakeCompute()
    second = store.get_or_compute(_key(), IDS, again)
    assert again.asked == [] and second.meta["computed_shards"] == 0
    np.testing.assert_array_equal(second.embeddings, first.embeddings)
    np.testing.assert_array_equal(second.valid, np.arange(N) != 7)
    assert second.errors.loc["id7", "reason"] == "OSError: broken"
    np.testing.assert_allclose(second.norms[0], np.sqrt(D))
    loaded = store.load(_key(), IDS)
    np.testing.assert_array_equal(loaded.norms, first.norms)


def test_key_digest_depends_on_every_field():
    base = _key().digest()
    assert _key().digest() == base
    for field in ("kind", "model_id", "weights_digest", "preprocess", "precision",
                  "inputs_digest"):
        assert _key(**{field: "other"}).digest() != base


def test_interrupted_shard_write_leaves_no_readable_partial_entry(tmp_path, monkeypatch):
    store = EmbeddingStore(tmp_path, shard_size=4)

    def write_half_then_fail(fh, data):
        fh.write(data[: len(data) // 2])
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(store_module, "_write_all", write_half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        store.get_or_compute(_key(), IDS, FakeCompute())
    entry = store.entry_dir(_key())
    assert _shards(store, _key()) == []
    assert [p.name for p in entry.iterdir()] == ["entry.json"]  # no temporary left behind
    assert store.load(_key(), IDS) is None
    assert store.missing(_key(), N) == [0, 1, 2]

    monkeypatch.undo()
    compute = FakeCompute()
    store.get_or_compute(_key(), IDS, compute)
    assert compute.asked == list(range(N))


def test_interrupted_compute_keeps_finished_shards_and_resumes(tmp_path):
    store = EmbeddingStore(tmp_path, shard_size=4)
    with pytest.raises(RuntimeError, match="on purpose"):
        store.get_or_compute(_key(), IDS, FakeCompute(fail_after_batches=2))  # 6 rows done
    assert store.missing(_key(), N) == [1, 2]
    resumed = FakeCompute()
    result = store.get_or_compute(_key(), IDS, resumed)
    assert resumed.asked == list(range(4, N)) and result.meta["computed_shards"] == 2
    fresh = EmbeddingStore(tmp_path / "fresh", shard_size=4).get_or_compute(
        _key(), IDS, FakeCompute())
    np.testing.assert_array_equal(result.embeddings, fresh.embeddings)


@pytest.mark.parametrize("damage", ["flip_byte", "truncate", "wrong_range", "garbage"])
def test_bad_shard_is_detected_and_only_it_recomputed(tmp_path, damage):
    store = EmbeddingStore(tmp_path, shard_size=4)
    good = store.get_or_compute(_key(), IDS, FakeCompute())
    entry = store.entry_dir(_key())
    path = store.shard_path(entry, 1)
    data = bytearray(path.read_bytes())
    if damage == "flip_byte":
        data[-5] ^= 0xFF  # inside the tensor bytes
    elif damage == "truncate":
        data = data[: len(data) - 16]
    elif damage == "wrong_range":
        data = bytearray(store.shard_path(entry, 0).read_bytes())
    else:
        data = bytearray(b"not a safetensors file")
    path.write_bytes(bytes(data))

    assert store.load(_key(), IDS) is None
    report = store.verify()
    assert report["ok"].tolist() == [True, False, True]
    compute = FakeCompute()
    repaired = store.get_or_compute(_key(), IDS, compute)
    assert compute.asked == [4, 5, 6, 7]
    np.testing.assert_array_equal(repaired.embeddings, good.embeddings)
    assert store.verify()["ok"].all()


def test_image_key_tracks_roots_and_file_changes(tmp_path):
    model = tiny_loader("tiny/keys")
    for root in ("one", "two"):
        write_images(tmp_path / root, 3, seed=0 if root == "one" else 1)
    table = pd.DataFrame({"item_id": ["a", "b", "c"], "split": "all",
                          "image_path": [f"img{i:03d}.jpg" for i in range(3)]})
    one = make_manifest(table, root=tmp_path / "one")
    two = make_manifest(table, root=tmp_path / "two")
    assert one.digest() == two.digest()  # equal tables...
    assert image_key(model, one) != image_key(model, two)  # ...but different images
    assert image_key(model, one) == image_key(model, make_manifest(table, root=tmp_path / "one"))
    before = image_key(model, one)
    write_images(tmp_path / "one", 3, seed=2)  # regenerated in place
    stamp = time.time() + 10
    os.utime(tmp_path / "one" / "img000.jpg", (stamp, stamp))
    assert image_key(model, one) != before


def test_item_count_mismatch_is_an_error(tmp_path):
    store = EmbeddingStore(tmp_path, shard_size=4)
    store.get_or_compute(_key(), IDS, FakeCompute())
    with pytest.raises(ValueError, match="holds 10 items"):
        store.get_or_compute(_key(), IDS[:5], FakeCompute())


def test_cached_texts_match_the_engine(tmp_path):
    model = tiny_loader("tiny/store")
    store = EmbeddingStore(tmp_path, shard_size=2)
    texts = ["a", "b c", "d", "e f g", "h"]
    direct = embed_texts(model, texts, templates=["x {}", "{} y"], progress=False)
    cached = cached_embed_texts(model, texts, templates=["x {}", "{} y"], store=store,
                                progress=False)
    np.testing.assert_allclose(cached.embeddings, direct.embeddings, atol=1e-6)
    assert cached.meta["computed_shards"] == 3
    other = cached_embed_texts(model, texts, templates=["x {}"], store=store, progress=False)
    assert other.meta["store_key"] != cached.meta["store_key"]


def test_cli_ls_verify_prune(tmp_path, capsys):
    store = EmbeddingStore(tmp_path, shard_size=4)
    store.get_or_compute(_key(), IDS, FakeCompute())
    store.get_or_compute(_key(model_id="arch/other"), IDS[:3], FakeCompute())
    root = ["cache", "--root", str(tmp_path)]

    assert clipbias_main([*root, "ls"]) == 0
    out = capsys.readouterr().out
    assert "arch/other" in out and "2 entries" in out

    assert clipbias_main([*root, "verify"]) == 0
    shard = store.shard_path(store.entry_dir(_key()), 2)
    shard.write_bytes(shard.read_bytes()[:40])
    assert clipbias_main([*root, "verify", "--delete"]) == 1
    assert not shard.exists()
    assert clipbias_main([*root, "verify"]) == 1  # now reported missing

    old_tmp = store.entry_dir(_key()) / ".shard-000002.safetensors.abc.tmp"
    young_tmp = store.entry_dir(_key()) / ".shard-000002.safetensors.def.tmp"
    old_tmp.write_bytes(b"partial")
    young_tmp.write_bytes(b"partial")
    two_hours_ago = time.time() - 7200
    os.utime(old_tmp, (two_hours_ago, two_hours_ago))
    assert clipbias_main([*root, "prune", "--dry-run"]) == 0
    assert old_tmp.exists()
    assert clipbias_main([*root, "prune"]) == 0
    assert not old_tmp.exists() and young_tmp.exists()

    os.utime(store.entry_dir(_key()) / "entry.json", (two_hours_ago, two_hours_ago))
    removed = store.prune(max_bytes=1)
    assert removed["path"].str.contains(_key().digest()).iloc[0]  # least recently used first
    assert store.ls().empty


def test_parse_size():
    assert parse_size("512M") == 512 << 20
    assert parse_size("1.5G") == int(1.5 * (1 << 30))
    assert parse_size("2048") == 2048
    with pytest.raises(ValueError, match="size"):
        parse_size("lots")
