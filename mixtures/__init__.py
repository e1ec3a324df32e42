"""Mixture recipes -> built mixtures: reproducible chat / code-instruction / preference datasets.

Library API (what the other stages code against):
- `build_mixture(recipe_path, out=None, num_proc=None) -> Path`: build, or find already
  built (same content hash), the mixture a recipe describes;
- `load_mixture(dir) -> DatasetDict`: the `train` / `test` splits of a built mixture;
- `read_manifest(dir) -> dict`: its manifest (name, kind, hash, sources, splits, recipe, ...).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mixtune.errors import DataError

__all__ = ["build_mixture", "load_mixture", "read_manifest"]


def build_mixture(
    recipe_path: str | Path, out: str | Path | None = None, num_proc: int | None = None
) -> Path:
    """Build the mixture of a recipe file (cached by content hash); returns the output directory."""
    from mixtures.build import build_mixture as _build

    return _build(recipe_path, out=out, num_proc=num_proc)


def read_manifest(directory: str | Path) -> dict[str, Any]:
    """The manifest of a built mixture directory."""
    path = Path(directory) / "manifest.json"
    if not path.is_file():
        raise DataError(f"{directory}: not a built mixture (no manifest.json)")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}:{exc.lineno}: malformed manifest: {exc.msg}") from None


def load_mixture(directory: str | Path) -> Any:
    """The `train` and `test` splits of a built mixture, as a `datasets.DatasetDict`."""
    from datasets import load_from_disk

    read_manifest(directory)
    return load_from_disk(str(directory))
