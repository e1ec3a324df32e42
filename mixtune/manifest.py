"""The manifest of a built mixture (`<mixture>/manifest.json`): its file name, the builder's
schema version, and reading and writing it.

It lives in the ground package so that every stage (training data loading, evals, the demo)
can read a mixture's manifest without importing the mixtures stage.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mixtune.errors import DataError

MANIFEST = "manifest.json"
# bumped whenever what a build writes changes, so a cached mixture of an older builder is rebuilt
BUILD_VERSION = "3"


def manifest_path(directory: str | Path) -> Path:
    return Path(directory) / MANIFEST


def is_built_mixture(directory: str | Path) -> bool:
    """`directory` is a folder holding a mixture manifest."""
    return Path(directory).is_dir() and manifest_path(directory).is_file()


def may_replace(directory: str | Path) -> bool:
    """A build may write its mixture to `directory`: absent, an empty folder, or a built mixture
    (never someone's other files)."""
    path = Path(directory)
    if not path.exists():
        return True
    return path.is_dir() and (manifest_path(path).is_file() or not any(path.iterdir()))


def read_manifest(directory: str | Path) -> dict[str, Any]:
    """The manifest of a built mixture directory."""
    path = manifest_path(directory)
    if not path.is_file():
        raise DataError(f"{directory}: not a built mixture (no {MANIFEST})")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}:{exc.lineno}: malformed manifest: {exc.msg}") from None


def write_manifest(directory: str | Path, manifest: dict[str, Any]) -> Path:
    """Write `manifest` (indented, UTF-8, key order kept, so a rebuild is byte-identical)."""
    path = manifest_path(directory)
    path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path
