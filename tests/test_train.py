"""Tiny-CLIP training: caching, reloading, determinism, weights, data switch, continued training."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from clipbias.data.synthetic import WorldConfig, benchmark_world
from clipbias.interventions.train import (
    TrainConfig,
    TrainingData,
    benchmark_accuracy,
    train_tiny_clip,
)
from clipbias.zoo.synthetic.checkpoints import checkpoint_dir
from clipbias.zoo.synthetic.ids import load_synthetic

FAST = TrainConfig(steps=6, batch_size=16, warmup=2, eval_size=32)
WORLD = WorldConfig(size=200)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def run():
    return train_tiny_clip("synthetic-vit-s", TrainingData(WORLD), train=FAST, seed=0)


def test_checkpoint_is_written_and_reused(run):
    folder = checkpoint_dir(run.key)
    assert (folder / "model.safetensors").is_file()
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["steps"] == 6 and meta["samples_seen"] == 96
    assert 0.0 <= meta["zero_shot_accuracy"] <= 1.0
    again = train_tiny_clip("synthetic-vit-s", TrainingData(WORLD), train=FAST, seed=0)
    assert again.key == run.key and again.metadata["train_seconds"] == meta["train_seconds"]


def test_training_is_deterministic_bit_for_bit(run):
    redo = train_tiny_clip("synthetic-vit-s", TrainingData(WORLD), train=FAST, seed=0, force=True)
    assert redo.metadata["weights_sha256"] == run.metadata["weights_sha256"]
    other = train_tiny_clip("synthetic-vit-s", TrainingData(WORLD), train=FAST, seed=1)
    assert other.key != run.key
    assert other.metadata["weights_sha256"] != run.metadata["weights_sha256"]


def test_reload_reproduces_the_recorded_accuracy(run):
    loaded = load_synthetic(run.model_id)
    assert loaded.weights_digest == run.metadata["weights_sha256"]
    bench = benchmark_world(WORLD, size=32, seed=0)
    acc = benchmark_accuracy(loaded.model, bench, context_length=16)
    assert acc == pytest.approx(run.zero_shot_accuracy)
    tokens = loaded.tokenizer(["a photo of a chef"])
    assert tokens.shape == (1, 16)


def test_benchmark_accuracy_matches_a_plain_argmax(run):
    import open_clip

    from clipbias.data.synthetic import concept_prompts

    model = load_synthetic(run.model_id).model
    bench = benchmark_world(WORLD, size=40, seed=3)
    with torch.no_grad():
        text = model.encode_text(open_clip.tokenize(concept_prompts(bench.config),
                                                    context_length=16), normalize=True)
        mean = torch.tensor(open_clip.OPENAI_DATASET_MEAN).view(1, 3, 1, 1)
        std = torch.tensor(open_clip.OPENAI_DATASET_STD).view(1, 3, 1, 1)
        pixels = torch.from_numpy(bench.images.copy()).permute(0, 3, 1, 2).float() / 255.0
        image = model.encode_image((pixels - mean) / std, normalize=True)
    expected = float(((image @ text.T).argmax(dim=1).numpy() == bench.concepts[:, 0]).mean())
    got = benchmark_accuracy(model, bench, context_length=16, batch_size=7)
    assert got == pytest.approx(expected, abs=1e-12)


def test_weights_switch_and_init_change_the_key(run):
    w = np.ones(WORLD.size)
    w[::2] = 0.0
    sub = train_tiny_clip("synthetic-vit-s", TrainingData(WORLD, weights=w), train=FAST, seed=0)
    switched = train_tiny_clip("synthetic-vit-s", TrainingData(WORLD), train=FAST, seed=0,
                               switch_to=TrainingData(WORLD.replace(association=0.0)),
                               switch_at=0.5)
    cont = train_tiny_clip("synthetic-vit-s", TrainingData(WORLD), train=FAST, seed=0,
                           init=run.model_id)
    keys = {run.key, sub.key, switched.key, cont.key}
    assert len(keys) == 4
    assert switched.metadata["phases"][1]["start"] == 0.5
    assert cont.metadata["init"] == run.metadata["weights_sha256"]
    assert sub.metadata["phases"][0]["weighted"] is True


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="weights must have shape"):
        TrainingData(WORLD, weights=np.ones(3))
    with pytest.raises(ValueError, match="non-negative"):
        TrainingData(WORLD, weights=np.zeros(WORLD.size))
    with pytest.raises(ValueError, match="switch_at"):
        train_tiny_clip("synthetic-vit-s", TrainingData(WORLD), train=FAST, switch_at=2.0)
    with pytest.raises(ValueError, match="unknown synthetic architecture"):
        train_tiny_clip("synthetic-big", TrainingData(WORLD), train=FAST)
    with pytest.raises(ValueError, match="takes 32px"):
        train_tiny_clip("synthetic-vit-s", TrainingData(WORLD.replace(image_size=64)), train=FAST)


def test_load_state_reads_the_saved_weights(run):
    from clipbias.interventions.train import load_state

    state = load_state(run.key)
    model = load_synthetic(run.model_id).model
    assert set(state) == set(model.state_dict())
    assert torch.equal(state["logit_scale"], model.state_dict()["logit_scale"])


def test_snapshots_are_the_weights_after_t_steps(run):
    """Snapshot 0 is the seeded initial model; the final weights do not change with snapshots;
    a switch run's snapshot at the switch step equals the unswitched run's at that step (both
    have taken the same steps), one step later they differ; cached snapshots are reused."""
    from clipbias.interventions.train.loop import snapshot_key
    from clipbias.zoo.synthetic.architectures import create_tiny_model

    snap = train_tiny_clip("synthetic-vit-s", TrainingData(WORLD), train=FAST, seed=0,
                           snapshots=(0, 3, 4), force=True)
    assert snap.key == run.key and set(snap.snapshots) == {0, 3, 4}
    assert snap.metadata["weights_sha256"] == run.metadata["weights_sha256"]
    torch.manual_seed(0)
    init = create_tiny_model("synthetic-vit-s").state_dict()
    first = load_synthetic(snap.snapshots[0]).model.state_dict()
    assert all(torch.equal(first[k], init[k]) for k in init)
    w = np.ones(WORLD.size)
    w[::2] = 0.0
    switched = train_tiny_clip("synthetic-vit-s", TrainingData(WORLD), train=FAST, seed=0,
                               switch_to=TrainingData(WORLD, weights=w), switch_at=0.5,
                               snapshots=(3, 4))
    same = [load_synthetic(r.snapshots[3]).model.state_dict() for r in (snap, switched)]
    later = [load_synthetic(r.snapshots[4]).model.state_dict() for r in (snap, switched)]
    assert all(torch.equal(same[0][k], same[1][k]) for k in same[0])
    assert not all(torch.equal(later[0][k], later[1][k]) for k in later[0])
    meta = json.loads((checkpoint_dir(snapshot_key(snap.key, 3)) / "meta.json").read_text())
    assert meta["snapshot_of"] == snap.key and meta["step"] == 3 and meta["samples_seen"] == 48
    again = train_tiny_clip("synthetic-vit-s", TrainingData(WORLD), train=FAST, seed=0,
                            snapshots=(3,))
    assert again.snapshots == {3: snap.snapshots[3]}
    assert again.metadata["train_seconds"] == snap.metadata["train_seconds"]
    with pytest.raises(ValueError, match="snapshots must be steps"):
        train_tiny_clip("synthetic-vit-s", TrainingData(WORLD), train=FAST, snapshots=(6,))
