"""The zoo runner: one load per model, resume after SIGKILL, Ray executor equal to local."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import test_embed_fixtures
from clipbias.embed import EmbeddingStore, TextSet, embed_images, embed_texts, run_zoo
from clipbias.embed.cached import image_key
from test_embed_fixtures import (
    KILL_ENV,
    CountingCLIP,
    corrupt,
    image_manifest,
    tiny_loader,
    write_images,
)

MODELS = ["tiny/a", "tiny/b"]
TEMPLATES = ("a photo of a {}.", "a drawing of a {}.")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("zoo_images")
    paths = write_images(folder, 10, seed=5)
    corrupt(paths, folder)
    return {"images": image_manifest(paths),
            "classes": TextSet(("cat", "dog", "bird"), TEMPLATES),
            "captions": ["a cat on a mat", "two dogs", "", "a bird in the sky"]}


def _assert_same(a, b, atol=1e-6):
    assert a.item_ids == b.item_ids
    np.testing.assert_array_equal(a.valid, b.valid)
    np.testing.assert_allclose(a.embeddings, b.embeddings, atol=atol)
    np.testing.assert_allclose(a.norms, b.norms, rtol=1e-5)
    assert a.errors.index.tolist() == b.errors.index.tolist()


def test_local_run_loads_each_model_once_and_matches_the_engine(inputs, tmp_path):
    loads: list[str] = []

    def loader(model_id, **kwargs):
        loads.append(model_id)
        return tiny_loader(model_id, **kwargs)

    store = EmbeddingStore(tmp_path, shard_size=4)
    run = run_zoo(MODELS, inputs, store=store, loader=loader, batch_size=4, num_workers=0,
                  progress=False)
    assert loads == MODELS
    assert len(run.tasks) == 6 and set(run.tasks["input"]) == set(inputs)
    images = run.tasks.set_index(["model_id", "input"]).loc[("tiny/a", "images")]
    assert images["n_items"] == 10 and images["n_valid"] == 7 and images["kind"] == "image"
    model = tiny_loader("tiny/a")
    _assert_same(run["tiny/a", "images"],
                 embed_images(model, inputs["images"], num_workers=0, progress=False))
    _assert_same(run["tiny/a", "classes"],
                 embed_texts(model, ["cat", "dog", "bird"], templates=TEMPLATES, progress=False))
    assert run["tiny/b", "captions"].embeddings.shape == (4, 32)
    assert not np.allclose(run["tiny/a", "captions"].embeddings,
                           run["tiny/b", "captions"].embeddings)

    rerun = run_zoo(MODELS, inputs, store=store, loader=loader, progress=False)
    assert rerun.tasks["computed_shards"].sum() == 0


def test_bad_executor_and_inputs_are_rejected(inputs):
    with pytest.raises(ValueError, match="executor"):
        run_zoo(MODELS, inputs, executor="dask", loader=tiny_loader)
    with pytest.raises(ValueError, match="duplicates"):
        run_zoo(["tiny/a", "tiny/a"], inputs, loader=tiny_loader)
    with pytest.raises(ValueError, match="must be a Manifest"):
        run_zoo(MODELS, {"x": "just one string"}, loader=tiny_loader)


def test_ray_missing_gives_a_clear_error(inputs, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)  # makes `import ray` fail
    with pytest.raises(ImportError, match=r"clipbias\[cluster\]"):
        run_zoo(MODELS, inputs, executor="ray", loader=tiny_loader,
                store=EmbeddingStore(tmp_path))


CHILD = """
import json, sys
sys.path.insert(0, {tests!r})
from test_embed_fixtures import image_manifest, tiny_loader
from clipbias.embed import EmbeddingStore, run_zoo
paths = json.loads(open({paths!r}).read())
run_zoo(["tiny/a"], {{"images": image_manifest(paths)}}, loader=tiny_loader,
        store=EmbeddingStore({root!r}, shard_size=4), batch_size=4, num_workers=0,
        progress=False)
"""


def test_resume_after_sigkill_computes_only_missing_shards(tmp_path):
    paths = write_images(tmp_path / "imgs", 24, seed=6)
    paths_file = tmp_path / "paths.json"
    paths_file.write_text(json.dumps([str(p) for p in paths]))
    root = tmp_path / "store"
    script = CHILD.format(tests=str(Path(__file__).parent), paths=str(paths_file),
                          root=str(root))
    env = {**os.environ, KILL_ENV: "4"}  # the 5th forward call kills the process
    child = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], env=env,
                           capture_output=True, text=True, timeout=120)
    assert child.returncode == -9, child.stderr[-2000:]

    store = EmbeddingStore(root, shard_size=4)
    manifest = image_manifest(paths)
    model = tiny_loader("tiny/a")
    key = image_key(model, manifest)
    missing = store.missing(key, 24)
    assert 0 < len(missing) < 6  # some shards survived the kill, some did not

    CountingCLIP.reset()
    run = run_zoo(["tiny/a"], {"images": manifest}, loader=tiny_loader, store=store,
                  batch_size=4, num_workers=0, progress=False)
    assert CountingCLIP.image_items == 4 * len(missing)  # forward passes only for the missing
    assert run.tasks["computed_shards"].tolist() == [len(missing)]
    _assert_same(run["tiny/a", "images"],
                 embed_images(model, manifest, batch_size=4, num_workers=0, progress=False))


@pytest.fixture(scope="module")
def ray_instance():
    import ray

    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False,
             configure_logging=False)
    ray.cloudpickle.register_pickle_by_value(test_embed_fixtures)
    yield ray
    ray.cloudpickle.unregister_pickle_by_value(test_embed_fixtures)
    ray.shutdown()


def test_ray_executor_on_cpu_equals_local(ray_instance, inputs, tmp_path):
    local = run_zoo(MODELS, inputs, store=EmbeddingStore(tmp_path / "local", shard_size=4),
                    loader=tiny_loader, batch_size=4, num_workers=0, progress=False)
    remote = run_zoo(MODELS, inputs, executor="ray",
                     store=EmbeddingStore(tmp_path / "ray", shard_size=4), loader=tiny_loader,
                     batch_size=4, num_workers=0)
    assert ray_instance.is_initialized()  # the runner leaves a Ray it did not start running
    assert (remote.tasks["computed_shards"] > 0).all()
    assert remote.tasks["store_key"].tolist() == local.tasks["store_key"].tolist()
    for model_id in MODELS:
        for name in inputs:
            _assert_same(remote[model_id, name], local[model_id, name], atol=1e-5)
