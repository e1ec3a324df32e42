"""Recipe loading: YAML 1.2 booleans, key-naming errors with suggestions."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict

from mixtune.errors import RecipeError
from mixtune.recipe_io import load_recipe, yaml_load


class _Inner(BaseModel):
    model_config = ConfigDict(extra="forbid")
    weight: float = 1.0


class _Recipe(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    sources: list[_Inner] = []


def test_only_true_and_false_are_booleans() -> None:
    assert yaml_load("a: no\nb: true\nc: off\nd: False\ne: 1.0e-5") == {
        "a": "no",
        "b": True,
        "c": "off",
        "d": False,
        "e": 1e-5,
    }


def test_unknown_nested_key_names_file_key_and_suggestion(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("name: x\nsources:\n  - wieght: 2\n")
    with pytest.raises(
        RecipeError, match=r"r\.yaml: sources\.0\.wieght: unknown key \(did you mean 'weight'\?\)"
    ):
        load_recipe(_Recipe, path)


def test_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\nsources: [\n")
    with pytest.raises(RecipeError, match=r"bad\.yaml:\d+: invalid YAML"):
        load_recipe(_Recipe, path)
    with pytest.raises(RecipeError, match="recipe file not found"):
        load_recipe(_Recipe, tmp_path / "missing.yaml")
