"""Load YAML recipes and validate them with pydantic, turning every failure into an error that
names the file and the key (and the closest valid key for a typo), before any heavy work starts."""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from mixtune.errors import RecipeError

M = TypeVar("M", bound=BaseModel)


class RecipeLoader(yaml.SafeLoader):
    """YAML 1.2 booleans: only true/false are booleans, so `eval_strategy: no` stays the string 'no'
    (YAML 1.1 would turn yes/no/on/off into booleans, which TRL's enum fields then reject)."""


RecipeLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
RecipeLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def yaml_load(text: str) -> Any:
    """Parse YAML text with the recipe rules (YAML 1.2 booleans)."""
    return yaml.load(text, Loader=RecipeLoader)  # noqa: S506 - RecipeLoader is a SafeLoader


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping, with errors that name the file (and the line for syntax errors)."""
    path = Path(path)
    if not path.is_file():
        raise RecipeError(f"{path}: recipe file not found")
    try:
        data = yaml_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise RecipeError(f"{path}{where}: invalid YAML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise RecipeError(f"{path}: not valid UTF-8 ({exc})") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise RecipeError(f"{path}: a recipe must be a YAML mapping, got {type(data).__name__}")
    return data


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """Walk a pydantic model class along an error location to the model that owns the last key."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        fields = getattr(current, "model_fields", None)
        if not fields or part not in fields:
            return current if isinstance(current, type) and issubclass(current, BaseModel) else None
        annotation = fields[part].annotation
        current = _first_model(annotation)
        if current is None:
            return None
    return current


def _first_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _first_model(arg)
        if found is not None:
            return found
    return None


def suggest(name: str, choices: list[str] | set[str]) -> str:
    """' (did you mean 'x'?)' for the closest choice, or ''."""
    close = difflib.get_close_matches(str(name), sorted(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def format_validation_error(exc: ValidationError, model: type[BaseModel], source: str) -> str:
    """Render pydantic errors as 'file: key.path: message' lines, with typo suggestions."""
    lines = []
    for err in exc.errors():
        loc = tuple(err.get("loc", ()))
        key = ".".join(str(p) for p in loc) or "<root>"
        msg = err.get("msg", "invalid")
        if err.get("type") == "extra_forbidden" and loc:
            owner = _model_at(model, loc[:-1])
            hint = suggest(str(loc[-1]), set(owner.model_fields)) if owner else ""
            msg = f"unknown key{hint}"
        lines.append(f"{source}: {key}: {msg}")
    return "\n".join(lines)


def validate(model: type[M], data: dict[str, Any], source: str | Path) -> M:
    """Validate a mapping against a recipe model; raise RecipeError naming file and keys."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise RecipeError(format_validation_error(exc, model, str(source))) from None


def load_recipe(model: type[M], path: str | Path) -> M:
    """Load and validate a YAML recipe in one step."""
    return validate(model, load_yaml(path), path)


def resolve_path(recipe_path: str | Path, value: str) -> Path:
    """A recipe's relative paths are relative to the recipe file; `~` and env vars expand."""
    import os

    p = Path(os.path.expandvars(os.path.expanduser(value)))
    return p if p.is_absolute() else (Path(recipe_path).resolve().parent / p)
