"""`--key value` overrides on the command line, applied on top of a YAML recipe.

Values are parsed as YAML scalars/flow collections, so `--learning_rate 1e-4`, `--bf16 false`,
`--lora_target_modules [q_proj,v_proj]` and `--dataset_mixture.test_split_size 0.1` mean what
they would mean in the recipe file. Dashes in key names are accepted as underscores.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from mixtune.errors import RecipeError
from mixtune.recipe_io import yaml_load

_FLOAT_RE = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)$")


def parse_value(text: str) -> Any:
    """Parse one override value the way YAML would, plus exponent floats YAML 1.1 leaves as text."""
    if _FLOAT_RE.match(text.strip()):
        return float(text)
    try:
        return yaml_load(text) if text != "" else ""
    except yaml.YAMLError:
        return text


def parse_overrides(tokens: list[str]) -> dict[str, Any]:
    """Turn ['--lr', '1e-4', '--bf16=false', '--packing'] into {'lr': 1e-4, 'bf16': False, 'packing': True}.

    A key with no value (followed by another --key or the end) means True.
    Raises RecipeError for a stray value that does not follow a key.
    """
    out: dict[str, Any] = {}
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if not tok.startswith("--") or tok == "--":
            raise RecipeError(f"override '{tok}' must be written as --key value (or --key=value)")
        body = tok[2:]
        if "=" in body:
            key, raw = body.split("=", 1)
            value = parse_value(raw)
            i += 1
        elif i + 1 < len(tokens) and not (tokens[i + 1].startswith("--") and len(tokens[i + 1]) > 2):
            key, value = body, parse_value(tokens[i + 1])
            i += 2
        else:
            key, value = body, True
            i += 1
        out[key.replace("-", "_")] = value
    return out


def apply_overrides(data: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of a recipe mapping with overrides set; dotted keys reach into nested mappings."""
    result = _deep_copy(data)
    for key, value in overrides.items():
        parts = key.split(".")
        node = result
        for part in parts[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise RecipeError(f"override --{key}: '{part}' is not a mapping in the recipe")
            node = child
        node[parts[-1]] = value
    return result


def _deep_copy(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _deep_copy(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_deep_copy(v) for v in obj]
    return obj
