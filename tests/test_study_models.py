"""clipbias.studies._models: device resolution, the model loader and battery embedding that the
intrinsic-bias and bias-transfer studies share."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from clipbias.data.synthetic import PRETRAINING_DATASETS, eat_specs
from clipbias.embed import embed_texts
from clipbias.studies._models import ModelLoader, battery_records, device_for, embed_battery
from clipbias.zoo.random_init import random_init_id


def test_device_for_resolves_auto_and_rejects_a_missing_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert device_for("auto") == "cpu"
    assert device_for("cpu") == "cpu"
    for name in ("cuda", "cuda:1"):
        with pytest.raises(ValueError, match="no CUDA device"):
            device_for(name)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert device_for("auto") == "cuda"
    assert device_for("cuda:1") == "cuda:1"


def test_loader_builds_random_init_models_and_reports_missing_checkpoints(tmp_path):
    loader = ModelLoader({"ViT-B-32/openai": str(tmp_path / "missing.pt")})
    model = loader(random_init_id("synthetic-vit-s", seed=2))
    assert model.model_id == "synthetic-vit-s/random-init-s2"
    with pytest.raises(FileNotFoundError, match=r"missing\.pt"):
        loader("ViT-B-32/openai")


def test_embed_battery_embeds_each_set_once_and_records_follow_the_specs():
    config = next(iter(PRETRAINING_DATASETS.values())).config
    specs = eat_specs(config, seed=0, n_images=2, orders=("text-text", "image-text"))
    model = ModelLoader({})(random_init_id("synthetic-vit-s", seed=1))
    emb = embed_battery(model, specs, "cpu")
    sets = {(s.name, s.modality): s for spec in specs for s in (spec.x, spec.y, spec.a, spec.b)}
    assert set(emb) == set(sets)
    for key, s in sets.items():
        assert emb[key].shape == (len(s.items) if s.modality == "text" else 2, 64), key
    text = next(s for s in sets.values() if s.modality == "text")
    direct = embed_texts(model, list(text.items), progress=False).embeddings
    np.testing.assert_allclose(emb[(text.name, "text")], direct, rtol=1e-5, atol=1e-6)
    records = battery_records(model.model_id, specs, emb)
    assert [r.test for r in records] == [spec.name for spec in specs]
    for rec, spec in zip(records, specs, strict=True):
        assert rec.model == model.model_id
        assert rec.x is emb[(spec.x.name, spec.x.modality)]
        assert rec.b is emb[(spec.b.name, spec.b.modality)]
