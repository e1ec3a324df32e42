"""Where a model came from, read from the run record that `mixtune sft` / `mixtune dpo` write.

The playground shows it next to the model picker, the arena reveals it after a vote, and
every logged vote carries it, so votes can be traced back to the mixtures that made each model.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mixtune.run_record import RUN_RECORD


def read_lineage(model: str | Path) -> dict[str, Any]:
    """Stage, parent/base model and mixtures (name + hash) of a model directory; {} when unknown."""
    path = Path(model) / RUN_RECORD
    if not path.is_file():
        return {}
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
    if not isinstance(record, dict):
        return {}
    mixtures = [
        {"stage": m.get("stage"), "name": m.get("name"), "hash": m.get("hash")}
        for m in record.get("mixtures") or []
        if isinstance(m, dict)
    ]
    return {
        "stage": record.get("stage"),
        "parent_model": record.get("parent_model"),
        "base_model": record.get("base_model"),
        "mixtures": mixtures,
    }


def describe(info: dict[str, Any]) -> str:
    """One markdown line about a model: its name, stage and the mixtures it was trained on."""
    parts = [f"**{info.get('name', '?')}**"]
    lineage = info.get("lineage") or {}
    if lineage.get("stage"):
        parent = lineage.get("parent_model") or lineage.get("base_model") or "?"
        parts.append(f"{lineage['stage']} of `{Path(str(parent)).name}`")
    for m in lineage.get("mixtures") or []:
        short = str(m.get("hash") or "")[:10]
        parts.append(f"{m.get('stage')} mixture `{m.get('name')}` ({short})")
    if info.get("context_limit"):
        parts.append(f"context {info['context_limit']} tokens")
    if info.get("url"):
        parts.append(f"served at {info['url']}")
    return " · ".join(parts)
