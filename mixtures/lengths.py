"""Length statistics of a built split, per source: rows, turns, characters and (with a tokenizer)
tokens. Computed over Arrow record batches with pyarrow compute, so it streams through
splits of any size."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

BATCH = 20_000


def _chars_and_turns(column: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    n = len(column)
    turns = pc.list_value_length(column).to_numpy(zero_copy_only=False)
    flat = pc.list_flatten(column)
    if len(flat) == 0:
        return np.zeros(n, dtype=np.int64), np.asarray(turns, dtype=np.int64)
    lengths = pc.utf8_length(pc.struct_field(flat, "content")).to_numpy(zero_copy_only=False)
    parents = pc.list_parent_indices(column).to_numpy(zero_copy_only=False)
    chars = np.bincount(parents, weights=lengths, minlength=n).astype(np.int64)
    return chars, np.asarray(turns, dtype=np.int64)


def _texts(column: pa.Array) -> list[str]:
    return ["\n".join(m["content"] for m in conv) for conv in column.to_pylist()]


def _summary(values: np.ndarray) -> dict[str, float | int]:
    if values.size == 0:
        return {"total": 0, "mean": 0.0, "p50": 0, "p95": 0, "max": 0}
    return {
        "total": int(values.sum()),
        "mean": round(float(values.mean()), 2),
        "p50": int(np.percentile(values, 50, method="nearest")),
        "p95": int(np.percentile(values, 95, method="nearest")),
        "max": int(values.max()),
    }


def split_lengths(ds: Any, kind: str, order: list[str], tokenizer: Any = None) -> dict[str, Any]:
    """{"all": {...}, "by_source": {name: {...}}} for one split, sources in `order`. For SFT rows the text is the
    whole conversation; for preference rows the prompt, chosen and rejected are measured apart."""
    fields = ("messages",) if kind == "sft" else ("prompt", "chosen", "rejected")
    metrics: dict[str, list[np.ndarray]] = {}
    sources: list[np.ndarray] = []
    known = pa.array(order, type=pa.string())
    for batch in ds.with_format("arrow").iter(batch_size=BATCH):
        # sources as small integer codes (index in `order`), not one Python string per row
        codes = pc.index_in(batch.column("source"), value_set=known).fill_null(-1)
        sources.append(codes.to_numpy(zero_copy_only=False).astype(np.int32))
        for f in fields:
            column = batch.column(f)
            if isinstance(column, pa.ChunkedArray):
                column = column.combine_chunks()
            chars, turns = _chars_and_turns(column)
            metrics.setdefault(f"{f}_chars", []).append(chars)
            metrics.setdefault(f"{f}_turns", []).append(turns)
            if tokenizer is not None:
                ids = tokenizer(_texts(column), add_special_tokens=False)["input_ids"]
                metrics.setdefault(f"{f}_tokens", []).append(
                    np.fromiter((len(x) for x in ids), dtype=np.int64)
                )
    names = np.concatenate(sources) if sources else np.zeros(0, dtype=np.int32)
    values = {k: np.concatenate(v) for k, v in metrics.items()}

    def measure(mask: np.ndarray | None) -> dict[str, Any]:
        out: dict[str, Any] = {"rows": int(names.size if mask is None else mask.sum())}
        for key, arr in values.items():
            out[key] = _summary(arr if mask is None else arr[mask])
        return out

    return {
        "all": measure(None),
        "by_source": {s: measure(names == i) for i, s in enumerate(order) if (names == i).any()},
    }


def load_tokenizer(name_or_path: str | None) -> Any:
    if not name_or_path:
        return None
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(name_or_path)
