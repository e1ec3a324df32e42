"""Reading JSON Lines files whose every line is an object, with errors that name the file and line."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from mixtune.errors import DataError


def read_json_objects(path: str | Path) -> list[tuple[int, dict]]:
    """(line number, object) for every non-blank line of a .jsonl (or .jsonl.gz) file."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    rows = []
    try:
        with opener(path, "rt", encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise DataError(f"{path}:{lineno}: invalid JSON ({exc.msg})") from None
                if not isinstance(row, dict):
                    raise DataError(f"{path}:{lineno}: expected a JSON object, got {type(row).__name__}")
                rows.append((lineno, row))
    except (OSError, UnicodeDecodeError, EOFError) as exc:
        raise DataError(f"{path}: cannot read ({exc})") from None
    return rows
