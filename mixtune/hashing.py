"""Stable content hashes: the names of mixtures, cached models and runs."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys and no whitespace variation, so equal content hashes equally."""
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def hash_obj(obj: Any, length: int = 16) -> str:
    return hashlib.sha256(canonical_json(obj).encode("utf-8")).hexdigest()[:length]


def hash_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def hash_tree(paths: list[Path], root: Path | None = None) -> str:
    """Hash a set of files by relative name and content (order independent)."""
    h = hashlib.sha256()
    for p in sorted(paths):
        name = str(p.relative_to(root)) if root else str(p)
        h.update(name.encode())
        h.update(hash_file(p).encode())
    return h.hexdigest()
