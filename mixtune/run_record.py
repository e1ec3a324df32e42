"""The run record of a trained model directory (`<model>/mixtune_run.json`): its file name and
reading it.

It lives in the ground package so that every stage (evals, the playground, the demo report) can
read a model's lineage without importing the training package that writes it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mixtune.errors import DataError

RUN_RECORD = "mixtune_run.json"


def run_record_path(model_dir: str | Path) -> Path:
    return Path(model_dir) / RUN_RECORD


def read_run_record(model_dir: str | Path) -> Any:
    """The parsed run record of a model directory, or None for a model mixtune did not train
    (no record); a record that cannot be read is an error naming the file."""
    path = run_record_path(model_dir)
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: unreadable run record ({exc})") from None
