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
