"""clipbias.zoo.random_init: untrained models with seeded weights."""

from __future__ import annotations

import open_clip
import pytest
import torch

from clipbias.embed import embed_texts
from clipbias.zoo.random_init import is_random_init, random_init_id, random_init_model


def test_same_seed_same_weights_other_seed_other_digest():
    mid = random_init_id("synthetic-vit-s", seed=3)
    assert mid == "synthetic-vit-s/random-init-s3" and is_random_init(mid)
    torch.manual_seed(123)
    before = torch.rand(1)
    a = random_init_model(mid)
    b = random_init_model(mid)
    torch.manual_seed(123)
    assert torch.equal(torch.rand(1), before)  # the global torch stream is left alone
    assert a.weights_digest == b.weights_digest
    for name, value in a.model.state_dict().items():
        assert torch.equal(value, b.model.state_dict()[name]), name
    other = random_init_model(random_init_id("synthetic-vit-s", seed=4))
    assert other.weights_digest != a.weights_digest
    assert not a.model.training
    emb = embed_texts(a, ["a photo of a chef"], progress=False).embeddings
    assert emb.shape == (1, 64)


def test_bad_ids():
    assert not is_random_init("synthetic-vit-s/fair-s_s0")
    with pytest.raises(ValueError, match="random-init"):
        random_init_model("synthetic-vit-s/fair-s_s0")
    with pytest.raises(ValueError, match="unknown open_clip architecture"):
        random_init_model("no-such-arch/random-init-s0")
    with pytest.raises(ValueError, match="non-negative"):
        random_init_id("synthetic-vit-s", seed=-1)


def test_models_of_one_architecture_share_one_tokenizer_that_matches_open_clips():
    a = random_init_model(random_init_id("synthetic-vit-s", seed=5))
    b = random_init_model(random_init_id("synthetic-vit-s", seed=6))
    assert a.tokenizer is b.tokenizer
    fresh = open_clip.get_tokenizer("synthetic-vit-s")
    texts = ["a photo of a chef", "a nurse at work"]
    assert torch.equal(a.tokenizer(texts), fresh(texts))
