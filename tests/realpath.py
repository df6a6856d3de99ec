"""The real-data path on disk, made from the synthetic world: a checkpoint saved the way a user
saves their own, and dataset folders in the layouts the adapters read.

:func:`build_fixture` writes, under ``root`` (in about a second)::

    model/configs/fixture-vit.json        an open_clip model config (a tiny ViT, 32 px, width 32)
    model/fixture-vit-seed0.pt            its seeded random weights, torch.save(state_dict)
    model/fixture-vit-seed0.safetensors   the same tensors as safetensors
    data/                                 the data root (CLIPBIAS_DATA), one folder per dataset:
      fairface/  fairface_label_{train,val}.csv, train/*.jpg, val/*.jpg
      utkface/   <age>_<gender>_<race>_<stamp>.jpg.chip.jpg (+ one file lacking the race field)
      coco/      annotations/captions_val2017.json, annotations/instances_val2017.json, val2017/
      facet/     annotations/annotations.csv, imgs_1/, imgs_2/ (two persons per image)
      ieat/      <test>/<category>/*.png for every folder the battery reads
      oasis/     OASIS.csv, Images/<Theme>.jpg (52 themes: the battery takes 25 + 25)

Every image is a synthetic-world scene and every label comes from that scene's ground truth:
group 0 is ``female`` (FairFace ``Female``, UTKFace 1, FACET ``fem``, COCO "woman") and group 1
``male``; the scene's context gives race (FairFace White, Black, East Asian, Indian; UTKFace
codes 0-3) and FACET skin tone; the figure's concept gives the age and FACET's ``class1`` (the
occupation's name). iEAT's x categories (flower, instrument, european-american, female, young)
hold group-0 scenes and the y categories group-1 scenes; OASIS's high-valence themes are group-0
scenes. The model is random (seeded), so its measurements mean nothing: the fixture checks that
the code path runs, not what it finds.

The model id is ``fixture-vit/user-seed0``: an architecture open_clip does not ship, which
:func:`clipbias.zoo.load` finds once ``open_clip.add_model_config`` (done here, in this process)
or ``CLIPBIAS_MODEL_CONFIGS`` (for other processes, e.g. a papermill kernel) names its config.

How a study test runs its ``full`` code path (the session fixture ``real_path`` in
``conftest.py`` builds this once per test run and returns the :class:`RealPathFixture`)::

    from realpath import write_fixture_profile

    def test_full_code_path(real_path, tmp_path, monkeypatch):
        for name, value in real_path.environ().items():   # CLIPBIAS_DATA, CLIPBIAS_MODEL_CONFIGS
            monkeypatch.setenv(name, value)
        params = real_path.parameters()   # model_id, checkpoint, data_root, dataset_roots, ...
        profile = write_fixture_profile(real_path, {
            "joint_debiasing": {"model_id": params["model_id"],
                                "checkpoint": params["checkpoint"], "k": 10},
        }, path=tmp_path / "fixture.yaml")
        # in-process: my_study.run(Params(**load_profile(profile)["joint_debiasing"]))
        # or the notebook: python -m clipbias book --profile <profile> --only joint_debiasing
        #   (subprocess env: os.environ | real_path.environ())

Keep study runs on the fixture small (few permutations, small k): the point is the code path.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import open_clip
import pandas as pd
import torch
import yaml
from PIL import Image
from safetensors.torch import save_file

from clipbias.data.synthetic import WorldConfig, generate_world

__all__ = ["ARCH", "DATASETS", "RealPathFixture", "build_fixture", "model_config",
           "save_weights", "write_fixture_profile"]

#: The fixture's open_clip architecture name (not one open_clip ships).
ARCH = "fixture-vit"
#: Dataset folders under the fixture's data root (the registry's ``dest`` names).
DATASETS: tuple[str, ...] = ("fairface", "utkface", "coco", "facet", "ieat", "oasis")

_GENDER = ("female", "male")                           # group 0, group 1
_FAIRFACE_RACE = ("White", "Black", "East Asian", "Indian")  # by context
_FAIRFACE_AGE = ("3-9", "10-19", "20-29", "30-39", "40-49", "50-59", "60-69", "more than 70")
_FACET_AGE = ("young", "middle", "older")
_FACET_TONES = ((2, 3), (7, 8), (4, 5), (9, 10))       # annotators' Monk indices, by context
#: iEAT folders the battery reads, and the group whose scenes fill each.
_IEAT = {"insect-flower/flower": 0, "insect-flower/insect": 1,
         "instrument-weapon/instrument": 0, "instrument-weapon/weapon": 1,
         "race/european-american": 0, "race/african-american": 1,
         "gender/female": 0, "gender/male": 1, "age/young": 0, "age/old": 1}


def model_config() -> dict:
    """The fixture's open_clip model config: a ViT of 32 px, patch 8, one layer of width 32, and
    a text tower of one layer (context 16, the real tokenizer's vocabulary); embed_dim 32."""
    return {"embed_dim": 32,
            "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16,
                           "patch_size": 8},
            "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2,
                         "layers": 1}}


@dataclass(frozen=True)
class RealPathFixture:
    """Where :func:`build_fixture` put everything (all paths absolute)."""

    root: Path
    model_id: str              # "fixture-vit/user-seed0"
    config_dir: Path           # folder holding fixture-vit.json (CLIPBIAS_MODEL_CONFIGS)
    checkpoint: Path           # the .pt state dict
    checkpoint_safetensors: Path  # the same tensors as .safetensors
    data_root: Path            # CLIPBIAS_DATA

    def dataset_root(self, name: str) -> Path:
        """The folder of dataset ``name`` (one of :data:`DATASETS`)."""
        if name not in DATASETS:
            raise ValueError(f"the fixture has no dataset {name!r}; it has {DATASETS}")
        return self.data_root / name

    def environ(self) -> dict[str, str]:
        """Environment a study run needs: ``CLIPBIAS_DATA`` and ``CLIPBIAS_MODEL_CONFIGS``."""
        return {"CLIPBIAS_DATA": str(self.data_root),
                "CLIPBIAS_MODEL_CONFIGS": str(self.config_dir)}

    def parameters(self) -> dict[str, Any]:
        """Plain (YAML-ready) values a profile entry picks from: ``model_id``, ``model_ids``,
        ``checkpoint``, ``checkpoints`` (model id -> path), ``data_root``, ``dataset_roots``."""
        return {"model_id": self.model_id, "model_ids": [self.model_id],
                "checkpoint": str(self.checkpoint),
                "checkpoints": {self.model_id: str(self.checkpoint)},
                "data_root": str(self.data_root),
                "dataset_roots": {name: str(self.dataset_root(name)) for name in DATASETS}}


def save_weights(path: Path, *, seed: int) -> Path:
    """Save seeded random weights of :data:`ARCH` to ``path`` (``.pt``: ``torch.save`` of the
    state dict; ``.safetensors``: safetensors); the global torch RNG is left as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        state = open_clip.create_model(ARCH).state_dict()
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".safetensors":
        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    else:
        torch.save(state, path)
    return path


def _jpeg(image: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path, format="JPEG", quality=95)


def _png(image: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path, format="PNG")


def _fairface(world, idx: np.ndarray, folder: Path) -> None:
    halves = {"train": idx[: 2 * len(idx) // 3], "val": idx[2 * len(idx) // 3:]}
    for split, items in halves.items():
        rows = []
        for n, i in enumerate(items, start=1):
            _jpeg(world.images[i], folder / split / f"{n}.jpg")
            rows.append({"file": f"{split}/{n}.jpg",
                         "age": _FAIRFACE_AGE[world.concepts[i, 0] % len(_FAIRFACE_AGE)],
                         "gender": _GENDER[world.groups[i, 0]].capitalize(),
                         "race": _FAIRFACE_RACE[world.contexts[i]],
                         "service_test": bool(n % 2)})
        pd.DataFrame(rows).to_csv(folder / f"fairface_label_{split}.csv", index=False)


def _utkface(world, idx: np.ndarray, folder: Path) -> None:
    for n, i in enumerate(idx):
        age = 5 + 9 * int(world.concepts[i, 0])
        gender = 1 - int(world.groups[i, 0])  # UTKFace: 0 male, 1 female
        _jpeg(world.images[i], folder / f"{age}_{gender}_{world.contexts[i]}_2017011{n:04d}"
                                         f"0000000.jpg.chip.jpg")
    _jpeg(world.images[idx[0]], folder / "61_1_20170109142408075.jpg.chip.jpg")  # no race field


def _coco(world, idx: np.ndarray, folder: Path) -> None:
    images, captions, instances = [], [], []
    texts = world.captions()
    for n, i in enumerate(idx, start=1):
        name = f"{n:012d}.jpg"
        _jpeg(world.images[i], folder / "val2017" / name)
        side = world.images.shape[1]
        images.append({"id": n, "file_name": name, "width": side, "height": side})
        person = ("woman", "man")[world.groups[i, 0]]
        concept = world.config.concepts[world.concepts[i, 0]].name
        captions += [{"id": 2 * n - 1, "image_id": n, "caption": texts[i]},
                     {"id": 2 * n, "image_id": n,
                      "caption": f"A {person} working as a {concept}."}]
        for f, (x0, y0, x1, y1) in enumerate(world.boxes[i].tolist()):
            instances.append({"id": 10 * n + f, "image_id": n, "category_id": 1, "iscrowd": 0,
                              "bbox": [x0, y0, x1 - x0, y1 - y0]})
    notes = folder / "annotations"
    notes.mkdir(parents=True, exist_ok=True)
    (notes / "captions_val2017.json").write_text(
        json.dumps({"images": images, "annotations": captions}), encoding="utf-8")
    (notes / "instances_val2017.json").write_text(json.dumps(
        {"images": images, "annotations": instances,
         "categories": [{"id": 1, "name": "person"}]}), encoding="utf-8")


def _facet(world, folder: Path) -> None:
    rows = []
    for i in range(len(world)):
        name = f"sa_{1000 + i}.jpg"
        _jpeg(world.images[i], folder / ("imgs_1" if i % 2 == 0 else "imgs_2") / name)
        for f, (x0, y0, x1, y1) in enumerate(world.boxes[i].tolist()):
            group, concept = int(world.groups[i, f]), int(world.concepts[i, f])
            row = {"person_id": str(100 * i + f), "filename": name,
                   "class1": world.config.concepts[concept].name, "class2": "",
                   "bounding_box": json.dumps({"x": x0, "y": y0, "width": x1 - x0,
                                               "height": y1 - y0})}
            row |= {f"gender_presentation_{k}": int(k == ("fem", "masc")[group])
                    for k in ("masc", "fem", "non_binary", "na")}
            row |= {f"age_presentation_{k}": int(k == _FACET_AGE[concept % 3])
                    for k in ("young", "middle", "older", "na")}
            tones = _FACET_TONES[world.contexts[i]]
            row |= {f"skin_tone_{k}": int(k in tones) for k in range(1, 11)}
            row["skin_tone_na"] = 0
            rows.append(row)
    (folder / "annotations").mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(folder / "annotations" / "annotations.csv", index=False)


def _ieat(world, by_group: list[np.ndarray], folder: Path, per_category: int) -> None:
    taken = [0, 0]
    for name, group in _IEAT.items():
        for n in range(per_category):
            i = by_group[group][taken[group]]
            taken[group] += 1
            _png(world.images[i], folder / name / f"{n:02d}.png")


def _oasis(world, by_group: list[np.ndarray], folder: Path, per_group: int) -> None:
    rows = []
    for group, (low, high) in enumerate(((5.0, 7.0), (1.0, 3.0))):
        valences = np.linspace(high, low, per_group)
        for n in range(per_group):
            i = by_group[group][-1 - n]  # from the end: iEAT takes from the front
            theme = f"Scene {group * per_group + n + 1}"
            _jpeg(world.images[i], folder / "Images" / f"{theme}.jpg")
            rows.append({"Theme": theme, "Category": "Scene",
                         "Valence_mean": round(float(valences[n]), 4),
                         "Arousal_mean": round(3.0 + n / per_group, 4)})
    pd.DataFrame(rows).to_csv(folder / "OASIS.csv")  # with the release's unnamed index column


def build_fixture(root: str | Path, *, seed: int = 0) -> RealPathFixture:
    """Write the checkpoint and the dataset folders under ``root`` (see the module docstring),
    register the model config with open_clip in this process, and describe what was written."""
    root = Path(root).resolve()
    config_dir = root / "model" / "configs"
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / f"{ARCH}.json").write_text(json.dumps(model_config(), indent=2) + "\n")
    open_clip.add_model_config(config_dir)
    tag = f"user-seed{seed}"
    checkpoint = save_weights(root / "model" / f"{ARCH}-seed{seed}.pt", seed=seed)
    tensors = save_weights(root / "model" / f"{ARCH}-seed{seed}.safetensors", seed=seed)

    data = root / "data"
    world = generate_world(WorldConfig(size=320), seed=seed, stream="real-path")
    by_group = [np.flatnonzero(world.groups[:, 0] == g) for g in (0, 1)]
    mixed = np.arange(len(world))
    _fairface(world, mixed[:24], data / "fairface")
    _utkface(world, mixed[24:40], data / "utkface")
    _coco(world, mixed[40:52], data / "coco")
    _ieat(world, [g[g >= 52] for g in by_group], data / "ieat", per_category=6)
    _oasis(world, [g[g >= 52] for g in by_group], data / "oasis", per_group=26)
    scenes = generate_world(WorldConfig(size=10, image_size=64, figures_per_scene=2), seed=seed,
                            stream="real-path-facet")
    _facet(scenes, data / "facet")
    return RealPathFixture(root=root, model_id=f"{ARCH}/{tag}", config_dir=config_dir,
                           checkpoint=checkpoint, checkpoint_safetensors=tensors,
                           data_root=data)


def _plain(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def write_fixture_profile(fixture: RealPathFixture, studies: Mapping[str, Mapping[str, Any]],
                          *, path: str | Path | None = None) -> Path:
    """Write a papermill profile ``{notebook stem: {parameter: value}}`` for the fixture.

    ``studies`` maps each study's notebook stem to its parameters, typically picked from
    :meth:`RealPathFixture.parameters` plus small run sizes; paths become strings. The file goes
    to ``path`` (default ``<fixture root>/profile.yaml``). Run it with the fixture's
    :meth:`~RealPathFixture.environ` set.
    """
    if not isinstance(studies, Mapping) or not studies:
        raise ValueError("studies must be a non-empty mapping: notebook stem -> {parameter: value}")
    for stem, params in studies.items():
        if not isinstance(params, Mapping):
            raise ValueError(f"the parameters of {stem!r} must be a mapping, "
                             f"got {type(params).__name__}")
    out = Path(path) if path is not None else fixture.root / "profile.yaml"
    out.write_text(yaml.safe_dump(_plain(studies), sort_keys=False), encoding="utf-8")
    return out
