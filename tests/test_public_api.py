"""The curated public API: every exported name resolves and is documented."""

from __future__ import annotations

import importlib
import inspect

import pytest

import clipbias

SUBPACKAGES = ("data", "zoo", "embed", "metrics", "viz")


@pytest.mark.parametrize("name", clipbias.__all__)
def test_top_level_names_resolve_and_have_docstrings(name: str) -> None:
    value = getattr(clipbias, name)
    if name != "__version__":
        assert inspect.getdoc(value), f"clipbias.{name} has no docstring"


@pytest.mark.parametrize("package", SUBPACKAGES)
def test_every_public_callable_of_each_subpackage_is_documented(package: str) -> None:
    module = importlib.import_module(f"clipbias.{package}")
    assert module.__all__, f"clipbias.{package} exports nothing"
    undocumented = [name for name in module.__all__
                    if callable(getattr(module, name)) and not inspect.getdoc(getattr(module, name))]
    assert undocumented == []


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nonexistent'"):
        _ = clipbias.nonexistent


def test_every_study_module_is_exported_by_name() -> None:
    from clipbias.studies import study_names

    for name in study_names():
        assert name in clipbias.__all__
        assert getattr(clipbias, name) is importlib.import_module(f"clipbias.studies.{name}")


def test_embed_exports_what_a_user_calls_not_its_machinery() -> None:
    import clipbias.embed as embed

    internals = {"AdaptiveBatcher", "auto_batch_size", "is_out_of_memory", "image_key",
                 "text_key", "compute_precision", "embed_model_inputs", "EmbeddingBatch"}
    assert internals.isdisjoint(embed.__all__)
    assert {"embed_images", "embed_texts", "EmbeddingStore", "run_zoo"} <= set(embed.__all__)


def test_import_clipbias_loads_no_torch() -> None:
    import subprocess
    import sys

    code = "import sys, clipbias; print(sorted(m for m in ('torch', 'open_clip') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
