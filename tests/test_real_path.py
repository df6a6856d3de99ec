"""The real-data path end to end: a user's checkpoint file, dataset folders in real layouts, the
embedding store, the EAT battery (fixture: ``real_path`` in conftest, built by realpath.py)."""

from __future__ import annotations

import functools
import hashlib
import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from clipbias.data.adapters import (
    load_coco_captions,
    load_facet,
    load_fairface,
    load_ieat,
    load_oasis,
    load_utkface,
)
from clipbias.data.battery import battery
from clipbias.data.manifest import make_manifest
from clipbias.embed import EmbeddingStore, TextSet, cached_embed_images, run_zoo
from clipbias.embed.cached import image_key
from clipbias.metrics import BATTERY_COLUMNS, EATRecord, run_eat_battery
from clipbias.publish.profiles import load_profile
from clipbias.zoo import load
from clipbias.zoo.selections import UnknownModelError
from realpath import ARCH, model_config, save_weights, write_fixture_profile


def _sha(path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def test_checkpoint_loads_like_a_users_own(real_path):
    """.pt and .safetensors of the same tensors load into the registered architecture; each is
    identified by the sha256 of its own file, and both give the same network."""
    pt = load(real_path.model_id, checkpoint=real_path.checkpoint)
    st = load(real_path.model_id, checkpoint=real_path.checkpoint_safetensors)
    assert pt.weights_digest == _sha(real_path.checkpoint)
    assert st.weights_digest == _sha(real_path.checkpoint_safetensors)
    assert pt.model.visual.output_dim == model_config()["embed_dim"]
    saved = torch.load(real_path.checkpoint, weights_only=True)
    for name, value in pt.model.state_dict().items():
        assert torch.equal(value, saved[name]), name
        assert torch.equal(value, st.model.state_dict()[name]), name
    images = sorted(real_path.dataset_root("ieat").rglob("*.png"))[:4]
    a = cached_embed_images(pt, images, store=EmbeddingStore(real_path.root / "store-pt"),
                            num_workers=0, progress=False)
    b = cached_embed_images(st, images, store=EmbeddingStore(real_path.root / "store-st"),
                            num_workers=0, progress=False)
    np.testing.assert_array_equal(a.embeddings, b.embeddings)


def test_store_key_follows_the_weights_not_the_file_name(real_path, tmp_path):
    images = sorted(real_path.dataset_root("oasis").rglob("*.jpg"))[:3]
    base = load(real_path.model_id, checkpoint=real_path.checkpoint)
    copy = shutil.copy(real_path.checkpoint, tmp_path / "renamed.pt")
    same = load(real_path.model_id, checkpoint=copy)
    other = load(real_path.model_id, checkpoint=save_weights(tmp_path / "seed1.pt", seed=1))
    assert image_key(same, images) == image_key(base, images)
    assert other.weights_digest != base.weights_digest
    assert image_key(other, images) != image_key(base, images)
    assert image_key(other, images).digest() != image_key(base, images).digest()


def test_model_config_from_the_environment(real_path, tmp_path, monkeypatch):
    """An architecture open_clip has never seen loads once CLIPBIAS_MODEL_CONFIGS names its
    config (how a papermill kernel finds it); before, the error says how to register it."""
    arch = f"{ARCH}-from-env"
    folder = tmp_path / "configs"
    folder.mkdir()
    (folder / f"{arch}.json").write_text((real_path.config_dir / f"{ARCH}.json").read_text())
    monkeypatch.delenv("CLIPBIAS_MODEL_CONFIGS", raising=False)
    with pytest.raises(UnknownModelError, match="CLIPBIAS_MODEL_CONFIGS"):
        load(f"{arch}/mine", checkpoint=real_path.checkpoint)
    monkeypatch.setenv("CLIPBIAS_MODEL_CONFIGS", str(folder))
    model = load(f"{arch}/mine", checkpoint=real_path.checkpoint)
    assert model.model_id == f"{arch}/mine"
    assert model.weights_digest == _sha(real_path.checkpoint)
    monkeypatch.setenv("CLIPBIAS_MODEL_CONFIGS", str(tmp_path / "absent"))
    with pytest.raises(FileNotFoundError, match="CLIPBIAS_MODEL_CONFIGS"):
        load(f"{arch}/mine", checkpoint=real_path.checkpoint)


def _datasets() -> dict:
    """Every fixture dataset through its adapter, read from the data root (CLIPBIAS_DATA)."""
    return {"fairface": load_fairface(), "utkface": load_utkface(),
            "coco": load_coco_captions(unit="image"), "facet": load_facet(),
            "ieat": load_ieat(), "oasis": load_oasis()}


def test_adapters_read_the_fixture_layouts(real_path, monkeypatch):
    monkeypatch.setenv("CLIPBIAS_DATA", str(real_path.data_root))
    sets = _datasets()
    sizes = {name: len(m) for name, m in sets.items()}
    assert sizes == {"fairface": 24, "utkface": 16, "coco": 12, "facet": 20, "ieat": 60,
                     "oasis": 50}
    for name, manifest in sets.items():
        assert manifest.missing_files().count == 0, name
    assert sets["utkface"].metadata["skipped"] == 1
    for name in ("fairface", "utkface", "coco", "facet"):
        assert set(sets[name].table["gender"]) == {"female", "male"}, name
    facet = sets["facet"].table
    assert set(facet["skin_group"]) <= {"light", "dark"} and facet["skin_tone"].notna().all()
    # every crop is its box's size: the crop came from the annotated box
    for _, row in facet.iterrows():
        x0, y0, x1, y1 = json.loads(row["box"])
        with Image.open(sets["facet"].root / row["image_path"]) as crop:
            assert crop.size == (x1 - x0, y1 - y0)


def _inputs(fx) -> dict:
    """Named zoo inputs: the six dataset manifests, and the battery's stimulus sets."""
    inputs = _datasets()
    for spec in battery(data_root=fx.data_root):
        for s in (spec.x, spec.y, spec.a, spec.b):
            if s.modality == "text":
                inputs[f"text:{s.name}"] = TextSet(s.items)
            else:
                inputs[f"image:{s.name}"] = make_manifest(
                    pd.DataFrame({"item_id": s.items, "split": "all", "image_path": s.items}),
                    root=s.root, name=s.name)
    return inputs


class _CountingLoader:
    """``clipbias.zoo.load`` with the user's checkpoint, counting the forward passes."""

    def __init__(self, checkpoint) -> None:
        self.load = functools.partial(load, checkpoint=checkpoint)
        self.calls = {"image": 0, "text": 0}

    def __call__(self, model_id, **kwargs):
        model = self.load(model_id, **kwargs)
        for kind in ("image", "text"):
            encode = getattr(model.model, f"encode_{kind}")

            def counted(*args, _encode=encode, _kind=kind, **kw):
                self.calls[_kind] += 1
                return _encode(*args, **kw)

            setattr(model.model, f"encode_{kind}", counted)
        return model


def test_embed_through_the_store_then_run_the_battery(real_path, tmp_path, monkeypatch):
    monkeypatch.setenv("CLIPBIAS_DATA", str(real_path.data_root))
    inputs = _inputs(real_path)
    store = EmbeddingStore(tmp_path / "store")
    options = {"store": store, "num_workers": 0, "progress": False}

    first_loader = _CountingLoader(real_path.checkpoint)
    first = run_zoo([real_path.model_id], inputs, loader=first_loader, **options)
    assert first_loader.calls["image"] > 0 and first_loader.calls["text"] > 0
    assert (first.tasks["computed_shards"] > 0).all()
    assert (first.tasks["n_valid"] == first.tasks["n_items"]).all()

    second_loader = _CountingLoader(real_path.checkpoint)
    second = run_zoo([real_path.model_id], inputs, loader=second_loader, **options)
    assert second_loader.calls == {"image": 0, "text": 0}
    assert (second.tasks["computed_shards"] == 0).all()
    assert list(second.tasks["store_key"]) == list(first.tasks["store_key"])
    for name in inputs:
        np.testing.assert_array_equal(second[real_path.model_id, name].embeddings,
                                      first[real_path.model_id, name].embeddings)

    def emb(s):
        kind = "text" if s.modality == "text" else "image"
        return second[real_path.model_id, f"{kind}:{s.name}"].embeddings

    specs = battery(data_root=real_path.data_root)
    records = [EATRecord(test=spec.name, model=real_path.model_id, x=emb(spec.x), y=emb(spec.y),
                         a=emb(spec.a), b=emb(spec.b)) for spec in specs]
    table = run_eat_battery(records, n_permutations=200, n_bootstrap=50, seed=0)
    assert list(table.columns) == list(BATTERY_COLUMNS)
    assert len(table) == len(specs) == 26
    assert set(table["test"]) == {spec.name for spec in specs}
    assert np.isfinite(table[["d", "p", "ci_low", "ci_high", "p_holm", "p_bh"]].to_numpy()).all()
    assert table["d"].abs().max() <= 2.0
    assert ((table["p"] > 0) & (table["p"] <= 1)).all()
    assert (table["ci_low"] <= table["ci_high"]).all()
    assert (table["p_holm"] >= table["p"]).all()
    sizes = {spec.name: (len(spec.x), len(spec.y)) for spec in specs}
    assert [(r.n_x, r.n_y) for r in table.itertuples()] == [sizes[t] for t in table["test"]]


def test_fixture_profile_names_the_fixture(real_path, tmp_path):
    params = real_path.parameters()
    path = write_fixture_profile(real_path, {
        "some_study": {"model_id": params["model_id"], "checkpoint": real_path.checkpoint,
                       "data_root": params["data_root"], "n_permutations": 100},
        "other_study": {"model_ids": params["model_ids"],
                        "fairface_root": real_path.dataset_root("fairface")},
    }, path=tmp_path / "fixture.yaml")
    profile = load_profile(path)
    assert profile["some_study"] == {"model_id": real_path.model_id,
                                     "checkpoint": str(real_path.checkpoint),
                                     "data_root": str(real_path.data_root),
                                     "n_permutations": 100}
    assert profile["other_study"]["fairface_root"] == str(real_path.data_root / "fairface")
    assert load(profile["some_study"]["model_id"],
                checkpoint=profile["some_study"]["checkpoint"]).weights_digest \
        == _sha(real_path.checkpoint)
    assert real_path.environ() == {"CLIPBIAS_DATA": str(real_path.data_root),
                                   "CLIPBIAS_MODEL_CONFIGS": str(real_path.config_dir)}
    with pytest.raises(ValueError, match="non-empty mapping"):
        write_fixture_profile(real_path, {})
    with pytest.raises(ValueError, match="must be a mapping"):
        write_fixture_profile(real_path, {"some_study": ["model_id"]})
    with pytest.raises(ValueError, match="no dataset"):
        real_path.dataset_root("imagenet")
