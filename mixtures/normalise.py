"""Normalise a source's raw rows into canonical rows with `Dataset.map` (batched, `num_proc`).

Every input row comes out: either canonical (`_ok`) or marked with a reject reason, the
detail, its original text and where it came from (file, line, row index). Nothing is
dropped here; the builder counts and writes the rejects, or raises on the first one.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import pyarrow as pa

from mixtune.code_files import FileRules
from mixtune.hashing import hash_obj
from mixtures.completion import COMPLETION_COLUMNS, completion_features, completion_row
from mixtures.formats import (
    RowError,
    detect_format,
    fill_placeholders,
    ignored_fields,
    normalise_row,
    remap_columns,
)

PROVENANCE = (
    "_ok",
    "_reason",
    "_detail",
    "_raw",
    "_file",
    "_line",
    "_index",
    "_format",
    "_placeholders",
    "_ignored",
    "_tooled",
)
NORMALISE_VERSION = "3"
REJECT_PREVIEW = 2000  # characters of a dropped file kept in rejects/
TOOL_FIELDS = ("tool_calls", "name", "tool_call_id")


def canonical_columns(kind: str, tools: bool = True) -> tuple[str, ...]:
    """The data columns of a kind; SFT rows carry `tools` while building (and in the written
    mixture when any row uses tool calling)."""
    if kind == "sft":
        return ("messages", "tools") if tools else ("messages",)
    if kind == "completion":
        return COMPLETION_COLUMNS
    return ("prompt", "chosen", "rejected")


def message_feature(tools: bool = False) -> Any:
    """A turn: role and content, plus (tool-calling mixtures) `tool_calls` with arguments as
    JSON text, `name` and `tool_call_id` — one Arrow schema for every tool's argument shape."""
    from datasets import List, Value

    fields: dict[str, Any] = {"role": Value("string"), "content": Value("string")}
    if tools:
        call = {
            "id": Value("string"),
            "type": Value("string"),
            "function": {"name": Value("string"), "arguments": Value("string")},
        }
        fields.update({"tool_calls": List(call), "name": Value("string"), "tool_call_id": Value("string")})
    return List(fields)


def canonical_features(kind: str, tools: bool = True) -> Any:
    from datasets import Features, Value

    if kind == "completion":
        return completion_features()
    sft = kind == "sft"
    cols: dict[str, Any] = {c: message_feature(tools and sft) for c in canonical_columns(kind, False)}
    if sft and tools:
        cols["tools"] = Value("string")
    cols.update({"source": Value("string"), "id": Value("string")})
    return Features(cols)


def normalised_features(kind: str) -> Any:
    from datasets import Features, Value

    cols = dict(canonical_features(kind))
    cols.update(
        {
            "_ok": Value("bool"),
            "_reason": Value("string"),
            "_detail": Value("string"),
            "_raw": Value("string"),
            "_file": Value("string"),
            "_line": Value("int64"),
            "_index": Value("int64"),
            "_format": Value("string"),
            "_placeholders": Value("string"),
            "_ignored": Value("string"),
            "_tooled": Value("bool"),
        }
    )
    return Features(cols)


@functools.lru_cache(maxsize=4)
def normalised_schema(kind: str) -> pa.Schema:
    return normalised_features(kind).arrow_schema


def _parse_raw(text: str, error: str) -> Any:
    if error:
        reason, _, detail = error.partition(": ")
        raise RowError(reason, detail)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise RowError("malformed_json", f"{exc.msg} (column {exc.colno})") from None


def _full_message(msg: dict[str, Any]) -> dict[str, Any]:
    return {"role": msg["role"], "content": msg["content"], **{k: msg.get(k) for k in TOOL_FIELDS}}


def uses_tools(result: dict[str, Any]) -> bool:
    """A canonical SFT row with tools, or a turn with a tool call, name or call id."""
    if result.get("tools"):
        return True
    return any(len(m) > 2 for m in result.get("messages") or ())


def plain_table(table: pa.Table, kind: str) -> pa.Table:
    """A normalised table without the tool-calling fields (all null in a mixture without tool
    rows): Arrow drops the struct fields and the column without copying the rows."""
    if kind != "sft" or "tools" not in table.column_names:
        return table
    table = table.drop_columns(["tools"])
    index = table.column_names.index("messages")
    plain = canonical_features(kind, tools=False).arrow_schema.field("messages")
    return table.set_column(index, plain, table.column("messages").cast(plain.type))


def _stored(result: dict[str, Any], kind: str) -> dict[str, Any]:
    """A canonical row as Arrow stores it: every turn with every field, tools as JSON text."""
    if kind != "sft":
        return result
    tools = result.get("tools")
    return {
        "messages": [_full_message(m) for m in result["messages"]],
        "tools": None if tools is None else json.dumps(tools, ensure_ascii=False),
    }


def _raw_text(row: Any) -> str:
    try:
        return json.dumps(row, ensure_ascii=False, default=str)
    except (RecursionError, ValueError):
        return repr(row)[:10_000]


def normalise_batch(
    batch: dict[str, list[Any]],
    indices: list[int],
    *,
    kind: str,
    fmt: str,
    columns: dict[str, str],
    system_prompt: str | None,
    system_prompt_mode: str,
    role_map: dict[str, str] | None = None,
    replace: dict[str, str] | None = None,
    allow_empty_assistant: bool = False,
    source: str,
    raw: bool,
    file: str,
    offset: int,
    file_rules: FileRules | None = None,
    default_repo: str = "",
) -> pa.Table:
    """Batched map function: raw or typed rows -> canonical columns + provenance, returned as an
    Arrow table (converted in C++, not example by example)."""
    canon = canonical_columns(kind)
    out: dict[str, list[Any]] = {c: [] for c in (*canon, "source", "id", *PROVENANCE)}
    keys = [k for k in batch if not (raw and k in ("_raw", "_file", "_line", "_error"))]
    for j, idx in enumerate(indices):
        index = offset + idx
        if raw:
            text, where, line = batch["_raw"][j], batch["_file"][j], batch["_line"][j]
        else:
            text, where, line = None, file, -1
        row: Any = None
        try:
            row = _parse_raw(text, batch["_error"][j]) if raw else {k: batch[k][j] for k in keys}
            mapped = remap_columns(row, columns)
            if file_rules is not None:
                result, used, left, ignored = completion_row(mapped, file_rules, default_repo), "file", [], []
            else:
                used = detect_format(mapped, kind) if fmt == "auto" else fmt
                result = normalise_row(
                    mapped,
                    kind,
                    used,
                    None,
                    system_prompt,
                    system_prompt_mode,
                    role_map=role_map,
                    allow_empty_assistant=allow_empty_assistant,
                )
                left = fill_placeholders(result, replace)
                ignored = ignored_fields(mapped, used)
            tooled = kind == "sft" and uses_tools(result)
            result = _stored(result, kind)
            ok, reason, detail, raw_text = True, "", "", ""
        except RowError as exc:
            result = {c: None if c == "tools" else ("" if kind == "completion" else []) for c in canon}
            ok, reason, detail, used, left, ignored, tooled = False, exc.reason, exc.detail, "", [], [], False
            raw_text = text if raw else _raw_text(row)
            if kind == "completion":  # a dropped file is shown by its start, not copied whole
                raw_text = (raw_text or "")[:REJECT_PREVIEW]
        except RecursionError:
            result = {c: None if c == "tools" else ("" if kind == "completion" else []) for c in canon}
            ok, reason, used, left, ignored, tooled = False, "too_deeply_nested", "", [], [], False
            detail = "the row is nested deeper than Python can handle"
            raw_text = text[:10_000] if raw and text else ""
        for c in canon:
            out[c].append(result[c])
        out["source"].append(source)
        out["id"].append(f"{source}/{index}")
        out["_ok"].append(ok)
        out["_reason"].append(reason)
        out["_detail"].append(detail)
        out["_raw"].append(raw_text)
        out["_file"].append(where)
        out["_line"].append(line)
        out["_index"].append(index)
        out["_format"].append(used)
        out["_placeholders"].append(" ".join(sorted(set(left))))
        out["_ignored"].append(" ".join(ignored))
        out["_tooled"].append(tooled)
    return pa.Table.from_pydict(out, schema=normalised_schema(kind))


def normalise_part(
    part: Any,
    *,
    kind: str,
    spec: dict[str, Any],
    source: str,
    work: Path,
    tag: str,
    num_proc: int | None,
    allow_empty_assistant: bool = False,
    file_rules: FileRules | None = None,
    default_repo: str = "",
) -> Any:
    """Run `normalise_batch` over one raw part; the result is cached in `work` by content.
    With `file_rules` (completion mixtures) each row is one file, checked by those rules."""
    ds = part.dataset
    kwargs = {
        "kind": kind,
        "fmt": spec["format"],
        "columns": spec["columns"],
        "system_prompt": spec["system_prompt"],
        "system_prompt_mode": spec["system_prompt_mode"],
        "role_map": spec.get("role_map") or None,
        "replace": spec.get("replace") or None,
        "allow_empty_assistant": allow_empty_assistant,
        "source": source,
        "raw": part.raw,
        "file": part.file,
        "offset": part.offset,
    }
    if file_rules is not None:
        kwargs.update(file_rules=file_rules, default_repo=default_repo)
    fingerprint = hash_obj([NORMALISE_VERSION, part.fingerprint, kwargs], length=32)
    procs = num_proc if num_proc and num_proc > 1 and len(ds) >= 2000 else None
    return ds.map(
        normalise_batch,
        batched=True,
        with_indices=True,
        fn_kwargs=kwargs,
        remove_columns=ds.column_names,
        features=normalised_features(kind),
        num_proc=procs,
        cache_file_name=str(work / f"norm-{tag}-{fingerprint}.arrow"),
        new_fingerprint=fingerprint,
        desc=f"normalising {source}",
    )
