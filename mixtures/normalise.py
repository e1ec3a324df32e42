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

from mixtune.hashing import hash_obj
from mixtures.formats import RowError, detect_format, normalise_row, remap_columns

PROVENANCE = ("_ok", "_reason", "_detail", "_raw", "_file", "_line", "_index", "_format")
NORMALISE_VERSION = "1"


def canonical_columns(kind: str) -> tuple[str, ...]:
    return ("messages",) if kind == "sft" else ("prompt", "chosen", "rejected")


def message_feature() -> Any:
    from datasets import List, Value

    return List({"role": Value("string"), "content": Value("string")})


def canonical_features(kind: str) -> Any:
    from datasets import Features, Value

    cols: dict[str, Any] = {c: message_feature() for c in canonical_columns(kind)}
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


def normalise_batch(
    batch: dict[str, list[Any]],
    indices: list[int],
    *,
    kind: str,
    fmt: str,
    columns: dict[str, str],
    system_prompt: str | None,
    system_prompt_mode: str,
    source: str,
    raw: bool,
    file: str,
    offset: int,
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
            used = detect_format(mapped, kind) if fmt == "auto" else fmt
            result = normalise_row(mapped, kind, used, None, system_prompt, system_prompt_mode)
            ok, reason, detail, raw_text = True, "", "", ""
        except RowError as exc:
            result = {c: [] for c in canon}
            ok, reason, detail, used = False, exc.reason, exc.detail, ""
            raw_text = text if raw else json.dumps(row, ensure_ascii=False, default=str)
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
    return pa.Table.from_pydict(out, schema=normalised_schema(kind))


def normalise_part(
    part: Any, *, kind: str, spec: dict[str, Any], source: str, work: Path, tag: str, num_proc: int | None
) -> Any:
    """Run `normalise_batch` over one raw part; the result is cached in `work` by content."""
    ds = part.dataset
    kwargs = {
        "kind": kind,
        "fmt": spec["format"],
        "columns": spec["columns"],
        "system_prompt": spec["system_prompt"],
        "system_prompt_mode": spec["system_prompt_mode"],
        "source": source,
        "raw": part.raw,
        "file": part.file,
        "offset": part.offset,
    }
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
