"""Parameter counts of open_clip architectures, from their configs, without any weights.

Each model is built on PyTorch's ``meta`` device (shapes only, no memory, no initialisation) with
no pretrained weights of any kind, and its parameters are counted:

- ``params_total``: every parameter of the model;
- ``params_image``: the image tower (``model.visual``);
- ``params_text``: the text tower, i.e. the total minus the image tower, the logit scale/bias
  scalars and, for CoCa, the multimodal text decoder.

Configs whose text tower is a Hugging Face model need that model's config from the Hub. When it
is not in the local Hugging Face cache (or ``transformers`` is missing) nothing is downloaded:
the counts are NaN and ``reason`` says why. Counts are cached as JSON in
``cache_dir("zoo")``, one file per open_clip version, each entry keyed by a hash of the config, so
an edited or user-added config is recounted.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import warnings
from collections.abc import Iterable, Iterator
from typing import Any

import open_clip
import pandas as pd
import torch

from clipbias.atomic import atomic_write_json
from clipbias.paths import cache_dir
from clipbias.progress import progress

__all__ = ["PARAM_COLUMNS", "config_digest", "count_parameters", "param_counts"]

#: Columns of :func:`param_counts` (besides the ``arch`` index).
PARAM_COLUMNS: tuple[str, ...] = ("params_total", "params_image", "params_text", "reason")


def _model_config(arch: str) -> dict[str, Any]:
    """Return the open_clip config of ``arch`` or raise ``ValueError`` naming the arch."""
    config = open_clip.get_model_config(arch)
    if config is None:
        raise ValueError(f"open_clip has no model config named {arch!r}")
    return config


def config_digest(arch: str) -> str:
    """Return a sha256 of the config of ``arch`` without its ``quick_gelu`` flag.

    The activation has no parameters, so configs that differ only in it share one count.
    """
    config = {k: v for k, v in _model_config(arch).items() if k != "quick_gelu"}
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence open_clip's "no pretrained weights loaded" log lines and warnings."""
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(previous)


def _hf_text_unavailable(config: dict[str, Any]) -> str | None:
    """Return why a Hugging Face text tower cannot be built offline, or None if it can."""
    name = config.get("text_cfg", {}).get("hf_model_name")
    if name is None:
        return None
    try:
        import transformers  # noqa: F401
    except ImportError:
        return f"text tower {name!r} needs the transformers package, which is not installed"
    from huggingface_hub import try_to_load_from_cache

    if not isinstance(try_to_load_from_cache(repo_id=name, filename="config.json"), str):
        return (f"text tower {name!r} needs its config from the Hugging Face Hub, which is not "
                "in the local cache (nothing is downloaded when counting parameters)")
    return None


def count_parameters(arch: str) -> dict[str, float | str | None]:
    """Count the parameters of ``arch`` on the meta device; NaN counts and a reason on failure.

    >>> count_parameters("RN50")["params_total"] > 1e8
    True
    """
    config = _model_config(arch)
    reason = _hf_text_unavailable(config)
    if reason is None:
        try:
            with _quiet(), torch.device("meta"):
                model = open_clip.create_model(arch, pretrained=None, pretrained_image=False,
                                               pretrained_text=False, device="meta")
        except Exception as exc:  # a config open_clip cannot build here: record, don't crash
            reason = f"open_clip could not build {arch!r}: {type(exc).__name__}: {exc}"
    if reason is not None:
        nan = float("nan")
        return {"params_total": nan, "params_image": nan, "params_text": nan, "reason": reason}
    total = sum(p.numel() for p in model.parameters())
    image = sum(p.numel() for p in model.visual.parameters())
    other = sum(p.numel() for name, p in model.named_parameters()
                if name.startswith(("logit_", "text_decoder.")))
    return {"params_total": float(total), "params_image": float(image),
            "params_text": float(total - image - other), "reason": None}


def _cache_file():
    return cache_dir("zoo") / f"params-open_clip-{open_clip.__version__}.json"


def _differs(old: dict[str, Any] | None, new: dict[str, Any]) -> bool:
    """Whether a cache entry changed (NaN counts compare equal)."""
    if old is None:
        return True
    return json.dumps(old, sort_keys=True) != json.dumps(new, sort_keys=True)


def param_counts(archs: Iterable[str], *, refresh: bool = False) -> pd.DataFrame:
    """Return parameter counts of ``archs`` (index ``arch``, columns :data:`PARAM_COLUMNS`).

    Counts come from the JSON cache when its entry matches the current config; the rest are
    computed (with a progress bar), configs equal up to ``quick_gelu`` counted once, and the
    cache rewritten atomically. ``refresh=True`` recounts everything. Failed
    entries are retried on every call, so installing a missing dependency takes effect.
    """
    archs = list(dict.fromkeys(archs))
    path = _cache_file()
    cached: dict[str, Any] = {}
    if path.exists() and not refresh:
        try:
            cached = json.loads(path.read_text())
        except json.JSONDecodeError:
            cached = {}
    digests = {arch: config_digest(arch) for arch in archs}
    # recount entries of changed configs, and earlier failures (the cause may be gone)
    missing = [a for a in archs if cached.get(a, {}).get("config_digest") != digests[a]
               or cached[a].get("reason") is not None]
    if missing:
        by_digest: dict[str, dict[str, Any]] = {}
        before = {arch: cached.get(arch) for arch in missing}
        # a bar only when something is counted for the first time, not for retried failures
        fresh = any(before[arch] is None or before[arch]["config_digest"] != digests[arch]
                    for arch in missing)
        loop = progress(missing, desc="counting parameters", unit="config") if fresh else missing
        for arch in loop:
            digest = digests[arch]
            if digest not in by_digest:
                by_digest[digest] = count_parameters(arch)
            cached[arch] = {**by_digest[digest], "config_digest": digest}
        if any(_differs(before[arch], cached[arch]) for arch in missing):
            atomic_write_json(path, cached)
    rows = {arch: {col: cached[arch][col] for col in PARAM_COLUMNS} for arch in archs}
    table = pd.DataFrame.from_dict(rows, orient="index", columns=list(PARAM_COLUMNS))
    table.index.name = "arch"
    for col in PARAM_COLUMNS[:3]:
        table[col] = table[col].astype("float64")
    return table
