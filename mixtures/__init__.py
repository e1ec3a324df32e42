"""Mixture recipes -> built mixtures: reproducible chat / code-instruction / preference datasets,
and completion datasets of code files (`kind: completion`, one file per row).

Library API (what the other stages code against):
- `build_mixture(recipe_path, out=None, num_proc=None) -> Path`: build, or find already
  built (same content hash), the mixture a recipe describes;
- `load_mixture(dir) -> DatasetDict`: the `train` / `test` splits of a built mixture;
- `read_manifest(dir) -> dict`: its manifest (name, kind, hash, sources, splits, recipe, ...);
- `chat_row(row) -> {"messages", "tools"}`: a stored SFT row decoded into what
  `tokenizer.apply_chat_template(messages, tools=tools)` takes (tool-calling mixtures store
  `tools` and tool-call arguments as JSON text so one Arrow schema holds every tool).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mixtune.built_mixture import load_mixture
from mixtune.manifest import read_manifest

__all__ = ["build_mixture", "chat_row", "load_mixture", "read_manifest"]


def build_mixture(
    recipe_path: str | Path, out: str | Path | None = None, num_proc: int | None = None
) -> Path:
    """Build the mixture of a recipe file (cached by content hash); returns the output directory."""
    from mixtures.build import build_mixture as _build

    return _build(recipe_path, out=out, num_proc=num_proc)


def _decoded_message(msg: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in msg.items() if v is not None}
    calls = out.get("tool_calls")
    if calls:
        decoded = []
        for call in calls:
            fn = dict(call["function"])
            if isinstance(fn.get("arguments"), str):
                fn["arguments"] = json.loads(fn["arguments"]) if fn["arguments"] else {}
            entry = {k: v for k, v in call.items() if v is not None and k != "function"}
            decoded.append({**entry, "function": fn})
        out["tool_calls"] = decoded
    elif "tool_calls" in out:
        del out["tool_calls"]
    return out


def chat_row(row: dict[str, Any]) -> dict[str, Any]:
    """A stored SFT row as `{"messages": [...], "tools": list | None}`: null fields dropped,
    tool-call arguments as dicts, `tools` parsed from its JSON text. Rows of plain mixtures
    (no tool fields) pass through unchanged."""
    tools = row.get("tools")
    if isinstance(tools, str):
        tools = json.loads(tools) if tools.strip() else None
    return {"messages": [_decoded_message(m) for m in row["messages"]], "tools": tools or None}
