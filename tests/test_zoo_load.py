"""Loading: local checkpoints, and clear errors for unknown ids, bad options and missing weights."""

from __future__ import annotations

import argparse
import hashlib
import json

import huggingface_hub.constants
import open_clip
import pytest
import torch
from safetensors.torch import save_file

from clipbias.zoo import (
    UnknownModelError,
    WeightsUnavailableError,
    load,
)
from clipbias.zoo.load import CheckpointError, file_digest
from clipbias.zoo.scaling_laws import checkpoint_folder

TINY = "zoo-test-tiny"
TINY_CONFIG = {"embed_dim": 32, "vision_cfg": {"image_size": 32, "layers": 1, "width": 32,
                                               "head_width": 16, "patch_size": 16},
               "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32,
                            "heads": 2, "layers": 1}}


@pytest.fixture(scope="module")
def tiny_state(tmp_path_factory) -> dict[str, torch.Tensor]:
    """Register a tiny open_clip config and return a random state dict of it."""
    folder = tmp_path_factory.mktemp("configs")
    (folder / f"{TINY}.json").write_text(json.dumps(TINY_CONFIG))
    open_clip.add_model_config(folder / f"{TINY}.json")
    torch.manual_seed(0)
    return open_clip.create_model(TINY).state_dict()


@pytest.fixture
def offline_empty_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))


def _sha(path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_checkpoint_file_round_trip(tiny_state, tmp_path, suffix):
    path = tmp_path / f"weights{suffix}"
    if suffix == ".pt":
        torch.save(tiny_state, path)
    else:
        save_file(tiny_state, path)
    loaded = load(f"{TINY}/my-run", checkpoint=path)
    model, preprocess, tokenizer = loaded
    assert not model.training
    assert loaded.weights_digest == _sha(path)
    for name, tensor in model.state_dict().items():
        torch.testing.assert_close(tensor, tiny_state[name])
    assert preprocess.transforms[0].size == 32 or preprocess.transforms[0].size == (32, 32)
    assert tokenizer(["a photo"]).shape[-1] == 16


def test_checkpoint_of_another_architecture_is_a_clear_error(tiny_state, tmp_path):
    path = tmp_path / "weights.pt"
    torch.save({k: v[..., :1] for k, v in tiny_state.items() if v.ndim}, path)
    with pytest.raises(CheckpointError, match=TINY):
        load(f"{TINY}/broken", checkpoint=path)


def test_pickled_objects_are_refused(tiny_state, tmp_path):
    path = tmp_path / "weights.pt"
    torch.save({"state_dict": tiny_state, "args": argparse.Namespace(lr=1e-3)}, path)
    with pytest.raises(CheckpointError, match="weights_only"):
        load(f"{TINY}/pickled", checkpoint=path)


def test_unknown_id_lists_the_closest():
    with pytest.raises(UnknownModelError, match="ViT-B-32/openai") as info:
        load("ViT-B-32/opneai")
    assert isinstance(info.value, ValueError)
    with pytest.raises(UnknownModelError, match="'ARCH/TAG'"):
        load("ViT-B-32")


def test_unknown_architecture_with_a_checkpoint(tmp_path):
    path = tmp_path / "w.pt"
    torch.save({}, path)
    with pytest.raises(UnknownModelError, match="ViT-B-32"):
        load("ViT-B-23/mine", checkpoint=path)


def test_bad_precision_and_device():
    with pytest.raises(ValueError, match="precision must be one of"):
        load("RN50/openai", precision="fp64")
    with pytest.raises(ValueError, match="invalid device"):
        load("RN50/openai", device="gpu:0")


def test_missing_checkpoint_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"missing\.pt"):
        load("RN50/openai", checkpoint=tmp_path / "missing.pt")


def test_offline_tag_says_how_to_provide_weights(offline_empty_cache):
    with pytest.raises(WeightsUnavailableError) as info:
        load("RN50/openai")
    message = str(info.value)
    assert isinstance(info.value, RuntimeError)
    assert "checkpoint=" in message and "timm/resnet50_clip.openai" in message
    assert "HF_HUB_OFFLINE is set" in message


def test_scaling_law_ids_name_the_folder_and_file():
    with pytest.raises(WeightsUnavailableError) as info:
        load("ViT-B-32/scaling_laws_laion80m_s3b")
    message = str(info.value)
    assert "Model-B-32_Data-80M_Samples-3B_lr-5e-4_bs-32k.pt" in message
    assert str(checkpoint_folder()) in message


def test_file_digest_reads_hugging_face_blob_names(tmp_path):
    content = b"weights"
    sha = hashlib.sha256(content).hexdigest()
    (tmp_path / "blobs").mkdir()
    (tmp_path / "blobs" / sha).write_bytes(content)
    (tmp_path / "snapshot.bin").symlink_to(tmp_path / "blobs" / sha)
    assert file_digest(tmp_path / "snapshot.bin") == f"sha256:{sha}"
    (tmp_path / "plain.bin").write_bytes(content)
    assert file_digest(tmp_path / "plain.bin") == f"sha256:{sha}"


def test_synthetic_ids_delegate_to_the_synthetic_zoo(monkeypatch, tmp_path):
    import importlib

    loader = importlib.import_module("clipbias.zoo.load")
    calls = []
    monkeypatch.setattr(loader, "is_synthetic", lambda model_id: model_id.startswith("tiny-"))
    monkeypatch.setattr(loader, "load_synthetic",
                        lambda model_id, **kw: calls.append((model_id, kw)) or "loaded")
    assert load("tiny-a/x_s0", precision="bf16") == "loaded"
    assert calls == [("tiny-a/x_s0", {"device": "cpu", "precision": "bf16"})]
    with pytest.raises(ValueError, match="synthetic"):
        load("tiny-a/x_s0", checkpoint=tmp_path / "w.pt")
