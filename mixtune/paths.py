"""Where mixtune keeps caches and finds the files it ships."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def cache_dir(*parts: str) -> Path:
    """$MIXTUNE_CACHE (default ~/.cache/mixtune), joined with parts and created."""
    base = Path(os.environ.get("MIXTUNE_CACHE", Path.home() / ".cache" / "mixtune"))
    path = base.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
