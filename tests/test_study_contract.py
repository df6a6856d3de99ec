"""Every study module follows the study contract (``clipbias.studies._contract``).

The studies are found, not listed: every module of ``clipbias.studies`` whose name does not start
with ``_`` (:func:`clipbias.studies.study_names`), so a new study is checked without touching this
file. Its notebook is ``notebooks/<stem>.md`` with the stem from
:func:`clipbias.studies.notebook_of` (the module name unless ``NOTEBOOK_OF`` maps it).
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import re
import textwrap
from pathlib import Path, PurePath
from types import ModuleType
from typing import Literal

import jupytext
import pytest

from clipbias.publish import PROFILES, load_profile
from clipbias.studies import (
    NOTEBOOK_OF,
    StudyParams,
    derive_seed,
    notebook_of,
    params_from,
    study_names,
)

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
STUDIES = study_names()

# {glue:text}`key:.2f`, {glue}`key` and ```{glue:figure} key
GLUE_ROLE = re.compile(r"\{glue(?::\w+)?\}`([^`:]+)(?::[^`]*)?`")
GLUE_DIRECTIVE = re.compile(r"^[`:]{3,}\{glue(?::\w+)?\}\s+(\S+)", re.MULTILINE)


def _module(study: str) -> ModuleType:
    return importlib.import_module(f"clipbias.studies.{study}")


def _notebook_path(study: str) -> Path:
    return NOTEBOOKS / f"{notebook_of(study)}.md"


def _parameters_cell(study: str) -> str:
    notebook = jupytext.read(_notebook_path(study))
    cells = [cell.source for cell in notebook.cells if cell.cell_type == "code"
             and "parameters" in cell.get("metadata", {}).get("tags", [])]
    assert len(cells) == 1, f"{_notebook_path(study)} needs exactly one cell tagged 'parameters'"
    return cells[0]


def _code_after_parameters(study: str) -> str:
    notebook = jupytext.read(_notebook_path(study))
    return "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code"
                     and "parameters" not in cell.get("metadata", {}).get("tags", []))


def _assignments(source: str) -> dict[str, object]:
    """``{name: literal value}`` of a parameters cell; every statement must be ``name = literal``."""
    values: dict[str, object] = {}
    for node in ast.parse(source).body:
        assert isinstance(node, ast.Assign) and len(node.targets) == 1 \
            and isinstance(node.targets[0], ast.Name), \
            f"a parameters cell holds only 'name = literal' lines, got: {ast.unparse(node)}"
        values[node.targets[0].id] = ast.literal_eval(node.value)
    return values


def _plain(value: object) -> object:
    """Lists and tuples as tuples (recursively), paths as strings: how a cell writes a default."""
    if isinstance(value, list | tuple):
        return tuple(_plain(v) for v in value)
    if isinstance(value, PurePath):
        return str(value)
    return value


def _defaults(params_cls: type) -> dict[str, object]:
    instance = params_cls()
    return {f.name: getattr(instance, f.name) for f in dataclasses.fields(params_cls)}


def _glue_keys(markdown: str) -> set[str]:
    return set(GLUE_ROLE.findall(markdown)) | set(GLUE_DIRECTIVE.findall(markdown))


# --- discovery and the notebook rule ---------------------------------------------------------


def test_studies_are_found_by_module_name() -> None:
    assert {"pipeline_check", "synthetic_validation"} <= set(STUDIES)
    assert not [name for name in STUDIES if name.startswith("_")]
    assert notebook_of("pipeline_check") == "pipeline_check"
    assert notebook_of("synthetic_validation") == "synthetic_world"
    assert set(NOTEBOOK_OF) <= set(STUDIES), "NOTEBOOK_OF names a module that is not a study"
    with pytest.raises(ValueError, match="not a study module"):
        notebook_of("_contract")


@pytest.mark.parametrize("study", STUDIES)
def test_every_study_has_its_notebook(study: str) -> None:
    assert _notebook_path(study).is_file(), (
        f"study {study!r} needs notebooks/{notebook_of(study)}.md (or an entry in "
        "clipbias.studies._contract.NOTEBOOK_OF naming its notebook)")


def test_no_two_studies_share_a_notebook() -> None:
    stems = [notebook_of(study) for study in STUDIES]
    assert len(stems) == len(set(stems))


# --- the module shape ------------------------------------------------------------------------


@pytest.mark.parametrize("study", STUDIES)
def test_params_is_a_frozen_study_params_with_defaults(study: str) -> None:
    params = _module(study).Params
    assert dataclasses.is_dataclass(params) and params.__dataclass_params__.frozen
    assert issubclass(params, StudyParams)
    no_default = [f.name for f in dataclasses.fields(params)
                  if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    assert no_default == [], f"{study}.Params fields without a default: {no_default}"
    defaults = params()
    with pytest.raises(dataclasses.FrozenInstanceError):
        defaults.seed = 1  # type: ignore[misc]
    hash(defaults)  # frozen and made of hashable values (lists became tuples)


@pytest.mark.parametrize("study", STUDIES)
def test_every_params_field_has_a_comment(study: str) -> None:
    source = textwrap.dedent(inspect.getsource(_module(study).Params))
    lines = source.splitlines()
    klass = ast.parse(source).body[0]
    assert isinstance(klass, ast.ClassDef)
    for node in klass.body:
        if isinstance(node, ast.AnnAssign):
            text = "\n".join(lines[node.lineno - 1:node.end_lineno])
            assert "#" in text, f"{study}.Params.{ast.unparse(node.target)} needs a one-line comment"


@pytest.mark.parametrize("study", STUDIES)
def test_result_run_and_glue_values_have_the_contract_signatures(study: str) -> None:
    module = _module(study)
    result = module.Result
    assert dataclasses.is_dataclass(result) and result.__dataclass_params__.frozen
    run = inspect.signature(module.run)
    assert list(run.parameters) == ["params", "progress"], run
    assert run.parameters["params"].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    assert run.parameters["progress"].kind is inspect.Parameter.KEYWORD_ONLY
    assert run.parameters["progress"].default is True
    glue = inspect.signature(module.glue_values)
    assert list(glue.parameters) == ["result"], glue
    assert inspect.getdoc(module.glue_values), f"{study}.glue_values must document its keys"


@pytest.mark.parametrize("study", STUDIES)
def test_a_bad_parameter_gives_a_value_error_naming_it(study: str) -> None:
    params = _module(study).Params
    with pytest.raises(ValueError, match="seed"):
        params(seed=-1)
    for f in dataclasses.fields(params):
        with pytest.raises(ValueError, match=rf"\b{f.name}\b"):
            params(**{f.name: object()})  # no typed field accepts a bare object


# --- the notebook mirrors the module ---------------------------------------------------------


@pytest.mark.parametrize("study", STUDIES)
def test_parameters_cell_mirrors_params(study: str) -> None:
    cell = _assignments(_parameters_cell(study))
    defaults = _defaults(_module(study).Params)
    assert list(cell) == list(defaults), (
        f"the parameters cell of {notebook_of(study)}.md assigns {list(cell)}; "
        f"{study}.Params has the fields {list(defaults)} (same names, same order)")
    different = {name: (cell[name], defaults[name]) for name in defaults
                 if _plain(cell[name]) != _plain(defaults[name])}
    assert different == {}, f"(cell value, Params default) that disagree: {different}"


@pytest.mark.parametrize("study", STUDIES)
def test_notebook_builds_params_runs_and_glues_glue_values(study: str) -> None:
    code = _code_after_parameters(study)
    assert re.search(r"params_from\(\s*(\w+\.)*Params\s*,\s*globals\(\)\s*\)", code), \
        "build the parameters with params_from(<study>.Params, globals())"
    assert re.search(r"(\w+\.)*run\(\s*params\b", code), "call <study>.run(params, ...)"
    loop = re.compile(r"for\s+(\w+)\s*,\s*(\w+)\s+in\s+(\w+\.)*glue_values\(\s*\w+\s*\)"
                      r"\.items\(\)\s*:\s*\n\s+glue\(\s*\1\s*,\s*\2\b")
    assert loop.search(code), "glue exactly glue_values(result), in a for loop over its items"
    assert not re.search(r"\bglue\(\s*[\"']", code), "glue only the keys of glue_values(result)"


@pytest.mark.parametrize("study", STUDIES)
def test_prose_glue_keys_are_documented_by_glue_values(study: str) -> None:
    keys = _glue_keys(_notebook_path(study).read_text(encoding="utf-8"))
    doc = inspect.getdoc(_module(study).glue_values) or ""
    undocumented = sorted(key for key in keys if f"``{key}``" not in doc)
    assert undocumented == [], (
        f"the prose of {notebook_of(study)}.md cites glue keys that {study}.glue_values does not "
        f"document (name each as ``key`` in its docstring): {undocumented}")


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("study", STUDIES)
def test_profile_entries_set_only_params_fields(study: str, profile: str) -> None:
    entries = load_profile(NOTEBOOKS / "profiles" / f"{profile}.yaml")
    entry = entries.get(notebook_of(study), {})
    params = _module(study).Params
    unknown = sorted(set(entry) - {f.name for f in dataclasses.fields(params)})
    assert unknown == [], f"profile {profile!r} sets unknown parameters of {study}: {unknown}"
    params_from(params, entry)  # the profile's values pass the study's checks


# --- the contract's own helpers --------------------------------------------------------------


STEPS = ("", "concept", "draw_neutral", "draw_planted", "bootstrap", "permutations",
         "training/replicate 3", "a step with a long name " * 8)


@pytest.mark.parametrize(("a", "b"), [(0, 1), (1, 2), (0, 2**40), (7, 2**62)])
def test_different_seeds_give_different_step_seeds(a: int, b: int) -> None:
    for step in STEPS:
        assert derive_seed(a, step) != derive_seed(b, step), step
        assert StudyParams(seed=a).seed_for(step) != StudyParams(seed=b).seed_for(step), step


def test_equal_seeds_give_equal_step_seeds_and_steps_differ() -> None:
    for seed in (0, 5, 2**40):
        seeds = [StudyParams(seed=seed).seed_for(step) for step in STEPS]
        assert seeds == [StudyParams(seed=seed).seed_for(step) for step in STEPS]
        assert seeds == [derive_seed(seed, step) for step in STEPS]
        assert len(set(seeds)) == len(STEPS)
        assert all(0 <= s < 2**63 for s in seeds)


@pytest.mark.parametrize("seed", [-1, True, 1.0, "0", None])
def test_derive_seed_rejects_what_is_not_a_seed(seed: object) -> None:
    with pytest.raises(ValueError, match="seed must be"):
        derive_seed(seed, "step")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="seed must be"):
        StudyParams(seed=seed)  # type: ignore[arg-type]


@dataclasses.dataclass(frozen=True)
class _Example(StudyParams):
    levels: tuple[float, ...] = (0.0, 1.0)  # planted levels
    pair: tuple[int, str] = (1, "a")  # a fixed-length tuple
    zoo: Literal["ci", "default"] = "ci"  # a choice
    selection: str | tuple[str, ...] = "paper"  # a name or a list of ids
    cache: Path | None = None  # a folder
    steps: int = 10  # an integer
    rate: float = 0.5  # a number
    verbose: bool = False  # a flag

    def validate(self) -> None:
        if self.steps < 1:
            raise ValueError(f"steps must be >= 1 (got {self.steps})")


def test_values_are_conformed_to_the_field_types() -> None:
    import numpy as np

    p = _Example(levels=[0, np.float32(0.5)], pair=[np.int64(2), "b"], selection=["x", "y"],
                 cache="/tmp/c", steps=np.int64(3), rate=1)
    assert p.levels == (0.0, 0.5) and all(type(v) is float for v in p.levels)
    assert p.pair == (2, "b") and type(p.pair[0]) is int
    assert p.selection == ("x", "y") and p.cache == Path("/tmp/c")
    assert type(p.steps) is int and type(p.rate) is float and p.rate == 1.0
    assert _Example(zoo="default").zoo == "default"
    assert p == _Example(**p.to_dict())


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"levels": "high"}, "levels must be a list of numbers, got 'high'"),
    ({"levels": [0.0, "x"]}, "levels must be a list of numbers"),
    ({"pair": [1, "a", 2]}, "pair must be a list of 2 values"),
    ({"zoo": "big"}, "zoo must be one of 'ci', 'default', got 'big'"),
    ({"selection": 3}, "selection must be a string or a list of strings"),
    ({"cache": 3}, "cache must be a path or None"),
    ({"steps": 2.0}, "steps must be an integer, got 2.0"),
    ({"steps": True}, "steps must be an integer"),
    ({"rate": "0.5"}, "rate must be a number"),
    ({"verbose": 1}, "verbose must be True or False"),
    ({"steps": 0}, r"steps must be >= 1 \(got 0\)"),
])
def test_wrong_values_name_the_field_and_what_it_takes(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _Example(**kwargs)


def test_params_from_picks_the_fields_out_of_a_namespace() -> None:
    namespace = {"levels": [0.25], "steps": 4, "glue": print, "np": object(), "__name__": "x"}
    p = params_from(_Example, namespace)
    assert p == _Example(levels=(0.25,), steps=4)
    assert params_from(_Example, {}) == _Example()
    with pytest.raises(ValueError, match="steps must be >= 1"):
        params_from(_Example, {"steps": 0})


@pytest.mark.parametrize("study", STUDIES)
def test_a_study_imports_no_private_name_of_another_study(study: str) -> None:
    """Shared pieces live in ``studies._contract``, ``studies._models`` or a lower layer."""
    tree = ast.parse(Path(importlib.import_module(f"clipbias.studies.{study}").__file__)
                     .read_text())
    private = [f"{node.module}.{alias.name}" for node in ast.walk(tree)
               if isinstance(node, ast.ImportFrom) and node.module
               and node.module.startswith("clipbias.studies.")
               and not node.module.split(".")[-1].startswith("_")
               for alias in node.names if alias.name.startswith("_")]
    assert not private, f"{study} imports private names of another study: {private}"
